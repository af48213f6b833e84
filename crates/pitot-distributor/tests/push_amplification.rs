//! Peak heap bytes of decoding and validating a push, per decompressed byte, for the
//! body shapes that cost the most per byte (many tiny series, labels, samples, streams
//! and entries). A counting allocator measures what one request allocates at its
//! peak; each shape must stay below a fixed multiple of its decompressed size, so a
//! small body can no longer make the server allocate gigabytes (issue 16, finding 6).
//! Measured as resident memory (no unsafe allocator hooks: the workspace forbids them).

use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{DataKind, Target, TenantId};
use pitot_distributor::logs::{LogValidationLimits, LogsDistributor};
use pitot_distributor::{Distributor, ValidationLimits};
use pitot_proto::remote_write_view::WriteRequestView;
use pitot_storage_api::{
    AppendOutcome, LogAppendOutcome, LogAppender, LogStreamBatch, MetricsAppender, StorageError,
    WriteBatch,
};

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field present");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kb * 1024
}

/// Resident bytes at the peak of `f` above the resident bytes when it started. The
/// peak is reset by writing 5 to `clear_refs` (Linux 4.0 and later); the system
/// allocator returns large blocks to the kernel on free, so what one request held
/// shows up here and is gone before the next.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    let base = status_bytes("VmRSS:");
    let out = f();
    (out, status_bytes("VmHWM:").saturating_sub(base))
}

struct Discard;

#[async_trait]
impl MetricsAppender for Discard {
    async fn append_batch(
        &self,
        _: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<AppendOutcome, StorageError> {
        Ok(AppendOutcome {
            accepted: batch.sample_count(),
            ..Default::default()
        })
    }
}

#[async_trait]
impl LogAppender for Discard {
    async fn append_logs(
        &self,
        _: &TenantId,
        batch: Vec<LogStreamBatch>,
    ) -> Result<LogAppendOutcome, StorageError> {
        Ok(LogAppendOutcome {
            accepted: batch.iter().map(|b| b.entries.len()).sum(),
            ..Default::default()
        })
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Repeats `part` until the body is about `size` bytes.
fn repeat(part: &[u8], size: usize) -> Vec<u8> {
    part.repeat(size / part.len())
}

const SIZE: usize = 4 << 20;
const NOW_MS: i64 = 1_800_000_000_000;

fn remote_write_shapes() -> Vec<(&'static str, Vec<u8>)> {
    let mut tiny_series = Vec::new();
    let mut series = Vec::new();
    field(0x0a, b"\x0a\x08__name__\x12\x01a", &mut series);
    let mut sample = vec![0x09];
    sample.extend_from_slice(&1.0f64.to_le_bytes());
    sample.push(0x10);
    varint(NOW_MS as u64, &mut sample);
    field(0x12, &sample, &mut series);
    field(0x0a, &series, &mut tiny_series);
    let mut empty_labels = Vec::new();
    field(0x0a, &repeat(b"\x0a\x00", 200), &mut empty_labels);
    let mut empty_samples = Vec::new();
    let mut s = Vec::new();
    field(0x0a, b"\x0a\x08__name__\x12\x01a", &mut s);
    s.extend(repeat(b"\x12\x00", 20_000));
    field(0x0a, &s, &mut empty_samples);
    vec![
        ("rw tiny valid series", repeat(&tiny_series, SIZE)),
        ("rw empty series", repeat(b"\x0a\x00", SIZE)),
        (
            "rw 200 empty labels per series",
            repeat(&empty_labels, SIZE),
        ),
        ("rw empty samples", repeat(&empty_samples, SIZE)),
    ]
}

fn loki_shapes() -> Vec<(&'static str, Vec<u8>, bool)> {
    let mut stream = Vec::new();
    field(0x0a, b"{a=\"b\"}", &mut stream);
    stream.extend(repeat(b"\x12\x00", 10_000));
    let mut one_stream = Vec::new();
    field(0x0a, &stream, &mut one_stream);
    let mut tiny_stream = Vec::new();
    let mut s = Vec::new();
    field(0x0a, b"{a=\"b\"}", &mut s);
    field(0x12, b"", &mut s);
    field(0x0a, &s, &mut tiny_stream);
    vec![
        ("loki empty streams", repeat(b"\x0a\x00", SIZE), false),
        ("loki empty entries", repeat(&one_stream, SIZE), false),
        ("loki tiny streams", repeat(&tiny_stream, SIZE), false),
        (
            "loki json empty entries",
            json_body(r#"["1","x"],"#, 10_000),
            true,
        ),
        ("loki json empty streams", json_streams("{},"), true),
        (
            "loki json tiny streams",
            json_streams(r#"{"stream":{"a":"b"},"values":[["1","x"]]},"#),
            true,
        ),
    ]
}

fn json_body(value: &str, per_stream: usize) -> Vec<u8> {
    let values = value.repeat(per_stream);
    let stream = format!(
        r#"{{"stream":{{"a":"b"}},"values":[{}]}},"#,
        values.trim_end_matches(',')
    );
    json_streams(&stream)
}

fn json_streams(stream: &str) -> Vec<u8> {
    let streams = stream.repeat(SIZE / stream.len());
    format!(r#"{{"streams":[{}]}}"#, streams.trim_end_matches(',')).into_bytes()
}

/// What the push handlers charge to the in-flight budget for a remote-write message
/// of `raw` (compressed body left out: the test has none), as
/// `crates/pitot-http/src/remote_write.rs` computes it.
fn remote_write_charge(raw: &[u8]) -> usize {
    let counts = pitot_proto::remote_write_view::count(raw).expect("counts");
    raw.len() + 2 * counts.view_bytes()
}

/// The same for a Loki message (`crates/pitot-http/src/loki/push.rs`).
fn loki_charge(raw: &[u8], json: bool) -> usize {
    if json {
        return raw.len() + pitot_proto::loki_push::json_decoded_bytes_bound(raw);
    }
    let counts = pitot_proto::loki_push::count_push(raw).expect("counts");
    raw.len() + 2 * counts.decoded_bytes(raw.len())
}

/// Decodes and pushes one shape, in a process of its own (the system allocator keeps
/// small freed blocks resident, so shapes measured one after another in one process
/// would hide each other's peaks); prints its size, charge and peak.
#[test]
fn measure_one_shape() {
    let Ok(shape) = std::env::var("PUSH_SHAPE") else {
        return;
    };
    let tenant = TenantId::new("t").unwrap();
    let (size, charge, peak) =
        if let Some((_, raw)) = remote_write_shapes().into_iter().find(|(n, _)| *n == shape) {
            let metrics = Distributor::new(Arc::new(Discard), ValidationLimits::default());
            let target = Target::default_for(&tenant, DataKind::Metrics);
            let (_, peak) = peak_of(|| {
                let view = WriteRequestView::decode(&raw).expect("decodes");
                block_on(metrics.push(&target, &view, NOW_MS)).expect("pushed")
            });
            (raw.len(), remote_write_charge(&raw), peak)
        } else {
            let (_, raw, json) = loki_shapes()
                .into_iter()
                .find(|(n, _, _)| *n == shape)
                .expect("a known shape");
            let logs = LogsDistributor::new(Arc::new(Discard), LogValidationLimits::default());
            let target = Target::default_for(&tenant, DataKind::Logs);
            let (_, peak) = peak_of(|| {
                let streams = if json {
                    pitot_proto::loki_push::decode_push_json(&raw).expect("decodes")
                } else {
                    pitot_proto::loki_push::decode_push_message(&raw).expect("decodes")
                };
                block_on(logs.push(&target, streams, NOW_MS * 1_000_000)).expect("pushed")
            });
            (raw.len(), loki_charge(&raw, json), peak)
        };
    println!("MEASURED {size} {charge} {peak}");
}

#[test]
fn pushes_allocate_no_more_than_they_are_charged() {
    let names: Vec<&str> = remote_write_shapes()
        .iter()
        .map(|(n, _)| *n)
        .chain(loki_shapes().iter().map(|(n, _, _)| *n))
        .collect();
    let exe = std::env::current_exe().expect("the test binary");
    for name in names {
        let out = std::process::Command::new(&exe)
            .args([
                "measure_one_shape",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PUSH_SHAPE", name)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("MEASURED ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("{name}: no measurement in {stdout}"));
        let n: Vec<usize> = line
            .split_whitespace()
            .take(3)
            .map(|x| x.parse().unwrap())
            .collect();
        let (size, charge, peak) = (n[0], n[1], n[2]);
        println!(
            "{name:32} {size:>9} B: peak {peak:>10} B ({:>4.1}x), charged {charge:>10} B ({:>4.1}x)",
            peak as f64 / size as f64,
            charge as f64 / size as f64
        );
        // Resident memory moves in pages and allocator chunks: 1 MiB of slack.
        assert!(
            peak <= charge + (1 << 20),
            "{name}: peak {peak} B above the {charge} B charged for it"
        );
    }
}

/// Runs a future to completion on the current thread (the appenders never wait).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
