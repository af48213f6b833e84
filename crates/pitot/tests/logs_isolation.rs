//! Tenants see only their own logs on every Loki endpoint, live tail included, and a
//! tail delivers matching lines as they are pushed.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{now_ns, TestServer};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn open_tail(server: &TestServer, token: &str, query: &str) -> Socket {
    let host = server.base_url().trim_start_matches("http://");
    let url = format!(
        "ws://{host}/loki/api/v1/tail?query={}&start={}",
        url_encode(query),
        now_ns() - 600_000_000_000
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, response) = tungstenite::connect(request).expect("tail websocket");
    assert_eq!(response.status().as_u16(), 101);
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    socket
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every line received on `socket` within `wait`.
fn read_lines(socket: &mut Socket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                for stream in frame["streams"].as_array().into_iter().flatten() {
                    for v in stream["values"].as_array().unwrap() {
                        lines.push(v[1].as_str().unwrap().to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("tail socket failed: {e}"),
        }
    }
    lines
}

fn push(server: &TestServer, token: &str, app: &str, line: &str) {
    let (status, body) = server.loki_push_json(
        token,
        &json!({"streams": [{"stream": {"app": app}, "values": [[now_ns().to_string(), line]]}]}),
    );
    assert_eq!(status, 204, "{body}");
}

#[test]
fn tenants_see_only_their_own_logs_everywhere() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token_a = server.initial_token.clone();
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "b", "scopes": ["logs:read", "logs:write"], "name": "b-logs"}),
    );
    assert_eq!(status, 201, "{body}");
    let token_b = body["token"].as_str().unwrap().to_string();

    let mut tail_a = open_tail(&server, &token_a, "{app=\"shared\"} |= \"secret\"");
    let mut tail_b = open_tail(&server, &token_b, "{app=\"shared\"}");
    // Give the tails a moment to subscribe before pushing.
    read_lines(&mut tail_a, Duration::from_millis(300));
    read_lines(&mut tail_b, Duration::from_millis(300));

    push(&server, &token_a, "shared", "a secret line");
    push(&server, &token_a, "shared", "a public line");
    push(&server, &token_a, "only-a", "a only");
    push(&server, &token_b, "shared", "b line");

    let got_a = read_lines(&mut tail_a, Duration::from_secs(2));
    let got_b = read_lines(&mut tail_b, Duration::from_secs(2));
    assert_eq!(got_a, vec!["a secret line"], "tail of a (with a filter)");
    assert_eq!(got_b, vec!["b line"], "tail of b");

    let start = (now_ns() - 600_000_000_000).to_string();
    for (who, token, apps, lines) in [
        (
            "a",
            &token_a,
            vec!["only-a", "shared"],
            vec!["a only", "a public line", "a secret line"],
        ),
        ("b", &token_b, vec!["shared"], vec!["b line"]),
    ] {
        let mut got: Vec<String> = server
            .loki_lines(token, "{app=~\".+\"}", now_ns() - 600_000_000_000, 100)
            .into_iter()
            .map(|(_, _, l)| l)
            .collect();
        got.sort();
        assert_eq!(got, lines, "{who}: query_range");
        let (status, text) =
            server.loki_get(token, "/loki/api/v1/label/app/values", &[("start", &start)]);
        assert_eq!(status, 200, "{text}");
        let values: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(values["data"], json!(apps), "{who}: label values");
        let (status, text) = server.loki_get(
            token,
            "/loki/api/v1/series",
            &[("match[]", "{app=~\".+\"}"), ("start", &start)],
        );
        assert_eq!(status, 200, "{text}");
        let series: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            series["data"].as_array().unwrap().len(),
            apps.len(),
            "{who}: series"
        );
        let (status, text) = server.loki_get(
            token,
            "/loki/api/v1/index/stats",
            &[("query", "{app=\"shared\"}"), ("start", &start)],
        );
        assert_eq!(status, 200, "{text}");
        let stats: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            stats["entries"],
            if who == "a" { 2 } else { 1 },
            "{who}: stats {stats}"
        );
        let (status, text) = server.loki_get(
            token,
            "/loki/api/v1/query",
            &[("query", "sum(count_over_time({app=~\".+\"}[10m]))")],
        );
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["data"]["result"][0]["value"][1],
            lines.len().to_string(),
            "{who}: metric query"
        );
    }

    // The platform token reads a tenant's logs only when it names it.
    let response = server
        .get("/loki/api/v1/query_range")
        .bearer_auth(&platform)
        .header("X-Scope-OrgID", "b")
        .query(&[("query", "{app=~\".+\"}"), ("start", start.as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(
        body["data"]["result"].as_array().unwrap().len(),
        1,
        "{body}"
    );
}
