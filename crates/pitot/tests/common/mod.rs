//! Shared harness of the end-to-end tests: runs the real `pitot` binary on a temporary
//! data directory and talks to it over HTTP, as a client would.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pitot_proto::remote_write::{decode_write_request, Label, Sample, TimeSeries, WriteRequest};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful shutdown may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The staleness marker Prometheus writes when a series disappears.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// A `pitot serve` process on its own temporary data directory.
pub struct TestServer {
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    base: String,
    /// The all-scopes token of tenant `default` (`<data-dir>/initial-token`).
    pub initial_token: String,
    /// The operator's token (`<data-dir>/platform-token`).
    pub platform_token: String,
    client: Client,
}

impl TestServer {
    /// Starts a server with `extra` flags after `serve --data-dir DIR --listen 127.0.0.1:0`.
    pub fn start(extra: &[&str]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("pitot-e2e-")
            .tempdir()
            .expect("create temp dir");
        let mut server = TestServer {
            dir,
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            stderr: Arc::new(Mutex::new(String::new())),
            base: String::new(),
            initial_token: String::new(),
            platform_token: String::new(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
        };
        server.spawn();
        server.initial_token = read_secret(&server.data_dir().join("initial-token"));
        server.platform_token = read_secret(&server.data_dir().join("platform-token"));
        server
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pitot"))
            .arg("serve")
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.args)
            .env("PITOT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the pitot binary");

        // Drain stderr for the whole life of the process, so a chatty server never blocks
        // on a full pipe, and keep it to show when something fails.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        self.stderr = stderr;

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("pitot listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => self.base = url,
            Err(_) => {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                self.kill9();
                // Let the stderr reader catch the last lines of the dead process.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "pitot did not print its listening line within {START_TIMEOUT:?} (exit status: {status:?}); stderr:\n{}",
                    self.stderr()
                );
            }
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `http://127.0.0.1:PORT` of the running process.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Everything the current process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process ID of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Stops the server with SIGTERM, waits for a clean exit, and starts it again on the
    /// same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends SIGTERM and waits for a successful exit.
    pub fn stop(&mut self) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let child = self.child.as_mut().expect("server running");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait for pitot") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "pitot did not stop within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        assert!(
            exit.success(),
            "pitot exited with {exit} after SIGTERM; stderr:\n{}",
            self.stderr()
        );
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`TestServer::kill9`] or [`TestServer::stop`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// The shared HTTP client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A request to `path` (which starts with `/`).
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    /// A DELETE request to `path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(format!("{}{path}", self.base))
    }

    /// A POST request to `path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// A PUT request to `path`.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(format!("{}{path}", self.base))
    }

    /// Pushes `request` with `token`; returns the status code and body.
    ///
    /// The body is encoded by [`encode_exact`], which writes every sample value, so
    /// that `-0.0` reaches the server.
    pub fn push(&self, token: &str, request: &WriteRequest) -> (u16, String) {
        self.push_raw(Some(token), encode_exact(request))
    }

    /// Pushes a raw body, with a bearer token if given.
    pub fn push_raw(&self, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
        let mut req = self
            .post("/api/v1/push")
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        status_and_text(req.send().expect("push request"))
    }

    /// Exports every series matching `selector` over all time.
    pub fn export(&self, token: &str, selector: &str) -> Vec<Exported> {
        let response = self
            .get("/api/v1/export")
            .bearer_auth(token)
            .query(&[("match[]", selector)])
            .send()
            .expect("export request");
        let (status, text) = status_and_text(response);
        assert_eq!(status, 200, "export {selector}: {text}");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(Exported::parse)
            .collect()
    }

    /// Exports and indexes the result by label set.
    pub fn export_map(
        &self,
        token: &str,
        selector: &str,
    ) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
        let mut out = BTreeMap::new();
        for e in self.export(token, selector) {
            let samples = e.samples();
            assert!(
                out.insert(e.metric.clone(), samples).is_none(),
                "series {:?} exported twice",
                e.metric
            );
        }
        out
    }

    /// GETs a Prometheus-JSON endpoint with `params`; returns status and parsed body.
    pub fn get_json(&self, token: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .get(path)
            .bearer_auth(token)
            .query(params)
            .send()
            .expect("GET request");
        let (status, text) = status_and_text(response);
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path}: {e}: body {text:?}"));
        (status, value)
    }

    /// The `data` of a successful Prometheus-JSON answer.
    pub fn get_data(&self, token: &str, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.get_json(token, path, params);
        assert_eq!(status, 200, "GET {path} {params:?}: {body}");
        assert_eq!(body["status"], "success", "GET {path}: {body}");
        body["data"].clone()
    }

    /// The whole of `/metrics`, scraped as the operator.
    pub fn metrics_text(&self) -> String {
        self.get("/metrics")
            .bearer_auth(&self.platform_token)
            .send()
            .expect("GET /metrics")
            .text()
            .expect("metrics body")
    }

    /// A gauge or counter value from `/metrics` (the first line starting with `name `),
    /// scraped as the operator (with the platform token, which per-tenant series need).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics_text()
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .map(|v| v.trim().parse().expect("metric value"))
    }

    /// POSTs JSON with `token` (and `X-Scope-OrgID` if given).
    pub fn post_json(
        &self,
        token: &str,
        path: &str,
        org: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut req = self.post(path).bearer_auth(token).json(body);
        if let Some(org) = org {
            req = req.header("X-Scope-OrgID", org);
        }
        let (status, text) = status_and_text(req.send().expect("POST request"));
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("POST {path}: {e}: body {text:?}"))
        };
        (status, value)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_secret(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Status code and body text of a response.
pub fn status_and_text(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().expect("response body"))
}

/// One line of `/api/v1/export`.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The series' labels, `__name__` included.
    pub metric: BTreeMap<String, String>,
    /// Values, parsed from their exact decimal text (so no bits are lost to a lossy
    /// JSON float parser); `"NaN"`, `"+Inf"` and `"-Inf"` become the matching floats.
    pub values: Vec<f64>,
    /// Timestamps in milliseconds.
    pub timestamps: Vec<i64>,
}

impl Exported {
    /// Parses one export line.
    pub fn parse(line: &str) -> Exported {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
        let metric = v["metric"]
            .as_object()
            .unwrap_or_else(|| panic!("no metric object: {line}"))
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().expect("label value is a string").to_string(),
                )
            })
            .collect();
        let timestamps: Vec<i64> = v["timestamps"]
            .as_array()
            .unwrap_or_else(|| panic!("no timestamps: {line}"))
            .iter()
            .map(|t| t.as_i64().expect("integer timestamp"))
            .collect();
        let count = v["values"]
            .as_array()
            .unwrap_or_else(|| panic!("no values: {line}"))
            .len();
        // The key text `"values":[` cannot occur inside a JSON string (its quotes would
        // be escaped there), so its one occurrence is the key.
        let start = line
            .find("\"values\":[")
            .unwrap_or_else(|| panic!("no values key: {line}"))
            + "\"values\":[".len();
        let end = start + line[start..].find(']').expect("values array ends");
        let raw = &line[start..end];
        let values: Vec<f64> = if raw.trim().is_empty() {
            Vec::new()
        } else {
            raw.split(',').map(parse_value).collect()
        };
        assert_eq!(
            values.len(),
            count,
            "values parsed from text differ from JSON: {line}"
        );
        Exported {
            metric,
            values,
            timestamps,
        }
    }

    /// `(timestamp, value)` pairs.
    pub fn samples(&self) -> Vec<(i64, f64)> {
        assert_eq!(
            self.values.len(),
            self.timestamps.len(),
            "values and timestamps differ in length for {:?}",
            self.metric
        );
        self.timestamps
            .iter()
            .copied()
            .zip(self.values.iter().copied())
            .collect()
    }
}

fn parse_value(raw: &str) -> f64 {
    match raw.trim() {
        "\"NaN\"" => f64::NAN,
        "\"+Inf\"" => f64::INFINITY,
        "\"-Inf\"" => f64::NEG_INFINITY,
        number => number
            .parse()
            .unwrap_or_else(|e| panic!("bad exported value {number:?}: {e}")),
    }
}

/// Whether an exported value is the value that was sent: identical bits, except that
/// every NaN (the staleness marker included) is exported as `"NaN"` and so can only be
/// compared as a NaN.
pub fn same_value(sent: f64, got: f64) -> bool {
    if sent.is_nan() {
        got.is_nan()
    } else {
        sent.to_bits() == got.to_bits()
    }
}

/// Whether two sample lists are equal by [`same_value`].
pub fn same_samples(sent: &[(i64, f64)], got: &[(i64, f64)]) -> bool {
    sent.len() == got.len()
        && sent
            .iter()
            .zip(got)
            .all(|(a, b)| a.0 == b.0 && same_value(a.1, b.1))
}

/// Asserts that `got` holds exactly `sent`, naming the first difference.
pub fn assert_same_samples(what: &str, sent: &[(i64, f64)], got: &[(i64, f64)]) {
    for (i, (a, b)) in sent.iter().zip(got).enumerate() {
        assert!(
            a.0 == b.0 && same_value(a.1, b.1),
            "{what}: sample {i} differs: sent ({}, {:?} bits {:#x}), got ({}, {:?} bits {:#x})",
            a.0,
            a.1,
            a.1.to_bits(),
            b.0,
            b.1,
            b.1.to_bits()
        );
    }
    assert_eq!(
        sent.len(),
        got.len(),
        "{what}: sent {} samples, got {}",
        sent.len(),
        got.len()
    );
}

/// A label set as sorted pairs (the form export answers with).
pub fn label_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Encodes a remote-write request as snappy-compressed protobuf, writing every field
/// even when it holds its default value.
///
/// `pitot_proto::remote_write::encode_write_request` (prost, as Prometheus' gogo code)
/// leaves out a sample value that compares equal to `0.0`, so `-0.0` would arrive as
/// `+0.0`; both encodings are valid protobuf, and this one carries every bit.
pub fn encode_exact(request: &WriteRequest) -> Vec<u8> {
    assert!(
        request.timeseries.iter().all(|ts| ts.exemplars.is_empty()),
        "encode_exact does not encode exemplars"
    );
    assert!(
        request.metadata.is_empty(),
        "encode_exact does not encode metadata"
    );
    let message = pitot_proto::remote_write::encode_series_exact(request);
    let body = pitot_proto::encode_snappy(&message);
    // The hand-written encoding must decode to exactly the request, bit for bit.
    let decoded = decode_write_request(&body, usize::MAX).expect("encode_exact output decodes");
    assert_eq!(decoded.timeseries.len(), request.timeseries.len());
    for (a, b) in request.timeseries.iter().zip(&decoded.timeseries) {
        assert_eq!(a.labels, b.labels);
        let bits = |s: &[Sample]| {
            s.iter()
                .map(|s| (s.timestamp, s.value.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a.samples), bits(&b.samples));
    }
    body
}

/// A remote-write series.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
    }
}

/// A remote-write request of `series`.
pub fn write_request(series: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries: series,
        metadata: Vec::new(),
    }
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Now, in Unix nanoseconds.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

impl TestServer {
    /// Pushes a Loki JSON body; returns status and body text.
    pub fn loki_push_json(&self, token: &str, body: &Value) -> (u16, String) {
        let response = self
            .post("/loki/api/v1/push")
            .bearer_auth(token)
            .json(body)
            .send()
            .expect("loki push");
        status_and_text(response)
    }

    /// Pushes a raw Loki body with a content type; returns status and body text.
    pub fn loki_push_raw(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut req = self
            .post("/loki/api/v1/push")
            .header("Content-Type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        status_and_text(req.send().expect("loki push"))
    }

    /// GETs a Loki endpoint; returns status and body text.
    pub fn loki_get(&self, token: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .get(path)
            .bearer_auth(token)
            .query(params)
            .send()
            .expect("loki GET");
        status_and_text(response)
    }

    /// Every `(timestamp, line)` a log query returns over `[start, now]`, forward, as
    /// `(stream labels, ts, line)`.
    pub fn loki_lines(
        &self,
        token: &str,
        query: &str,
        start_ns: i64,
        limit: usize,
    ) -> Vec<(BTreeMap<String, String>, i64, String)> {
        let (status, text) = self.loki_get(
            token,
            "/loki/api/v1/query_range",
            &[
                ("query", query),
                ("start", &start_ns.to_string()),
                ("end", &(now_ns() + 60_000_000_000).to_string()),
                ("limit", &limit.to_string()),
                ("direction", "forward"),
            ],
        );
        assert_eq!(status, 200, "query_range {query}: {text}");
        let body: Value = serde_json::from_str(&text).expect("JSON answer");
        assert_eq!(body["data"]["resultType"], "streams", "{body}");
        let mut out = Vec::new();
        for stream in body["data"]["result"].as_array().expect("result array") {
            let labels: BTreeMap<String, String> = stream["stream"]
                .as_object()
                .expect("stream labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            for v in stream["values"].as_array().expect("values") {
                out.push((
                    labels.clone(),
                    v[0].as_str().unwrap().parse().unwrap(),
                    v[1].as_str().unwrap().to_string(),
                ));
            }
        }
        out
    }
}

/// What a [`webhook_sink`] received: each JSON body with when it arrived.
pub type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

/// A webhook receiver on a free port of 127.0.0.1 (Alertmanager's webhook format):
/// returns its URL and each JSON body it received with when it arrived. It answers
/// every request 200.
pub fn webhook_sink() -> (String, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind webhook");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            if let Ok(v) = serde_json::from_slice(&body) {
                sink.lock().expect("sink").push((Instant::now(), v));
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// An HTTP endpoint on a free port of 127.0.0.1 that accepts connections, reads
/// them, and never answers: what a hostile tenant points its webhooks at. Returns
/// its URL and how many connections it has accepted.
pub fn hanging_endpoint() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hang", listener.local_addr().expect("address"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

impl TestServer {
    /// Creates tenant `name` with the platform token and returns a new token of it with
    /// `scopes`.
    pub fn create_tenant(&self, name: &str, scopes: &[&str]) -> String {
        let platform = &self.platform_token;
        let (status, body) = self.post_json(
            platform,
            "/api/pitot/v1/tenants",
            None,
            &json!({"name": name}),
        );
        assert_eq!(status, 201, "create tenant {name}: {body}");
        let (status, body) = self.post_json(
            platform,
            "/api/pitot/v1/tokens",
            None,
            &json!({"tenant": name, "scopes": scopes}),
        );
        assert_eq!(status, 201, "token for {name}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Sets some of `tenant`'s limits through the platform limits API (a `PUT` names
    /// only what it changes).
    pub fn put_limits(&self, tenant: &str, limits: &Value) {
        let response = self
            .client
            .put(format!(
                "{}/api/pitot/v1/tenants/{tenant}/limits",
                self.base
            ))
            .bearer_auth(&self.platform_token)
            .json(limits)
            .send()
            .expect("PUT limits");
        let (status, text) = status_and_text(response);
        assert_eq!(status, 200, "PUT limits of {tenant}: {text}");
    }
}
