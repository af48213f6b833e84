//! Encodes the first push bodies of a Loki push NDJSON file (as `bench/logs_bench.sh`
//! caches them) into 1 MB chunks per stream and prints the compression ratio, the bytes
//! per chunk column and encode/decode speed: a quick loop for tuning the line codec on
//! the same streams and timestamps as the server bench.
//!
//! `cargo run --release -p pitot-logstore --example chunk_columns -- bench/results/cache/logs-1G.ndjson [MB]`

use std::collections::HashMap;
use std::io::BufRead;
use std::time::Instant;

use pitot_logstore::chunk::{self, Columns};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("push file");
    let limit_mb: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(200);
    let level: i32 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(1);
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open"));
    let mut streams: HashMap<String, Columns> = HashMap::new();
    let mut raw = 0usize;
    for line in file.lines() {
        let body: serde_json::Value = serde_json::from_str(&line.expect("read")).expect("json");
        for s in body["streams"].as_array().expect("streams") {
            let key = s["stream"].to_string();
            let cols = streams.entry(key).or_default();
            for v in s["values"].as_array().expect("values") {
                let ts: i64 = v[0].as_str().and_then(|t| t.parse().ok()).expect("ts");
                let l = v[1].as_str().expect("line");
                raw += l.len();
                cols.push(ts, l.as_bytes(), Vec::new());
            }
        }
        if raw >= limit_mb << 20 {
            break;
        }
    }
    let mut chunks = Vec::new();
    for cols in streams.values() {
        let mut cur = Columns::default();
        for i in 0..cols.len() {
            cur.push(cols.ts[i], cols.line(i), Vec::new());
            if cur.lines.len() >= 1 << 20 {
                chunks.push(std::mem::take(&mut cur).sorted());
            }
        }
        if !cur.is_empty() {
            chunks.push(cur.sorted());
        }
    }
    let t = Instant::now();
    let mut fbytes = 0;
    for c in &chunks {
        let mut f = pitot_logstore::filter::FilterBuilder::new();
        for i in 0..c.len() {
            f.add_line(c.line(i));
        }
        fbytes += f.finish().len();
    }
    println!(
        "filter alone: {:.0} MB/s ({fbytes} bytes)",
        raw as f64 / 1e6 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let sealed: Vec<_> = chunks.iter().map(|c| chunk::encode(c, level)).collect();
    let enc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (s, c) in sealed.iter().zip(&chunks) {
        let d = chunk::decode(&s.bytes).expect("decodes");
        assert!(d.lines == c.lines);
    }
    let dec = t.elapsed().as_secs_f64();
    let repeat: usize = std::env::var("DECODE_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let t = Instant::now();
    for _ in 0..repeat {
        for s in &sealed {
            std::hint::black_box(chunk::decode(&s.bytes).expect("decodes"));
        }
    }
    if repeat > 0 {
        let secs = t.elapsed().as_secs_f64() / repeat as f64;
        println!("decode only: {:.0} MB/s", raw as f64 / 1e6 / secs);
    }
    let total: usize = sealed.iter().map(|s| s.bytes.len()).sum();
    let filters: usize = sealed.iter().map(|s| s.filter.len()).sum();
    let names = ["ts", "dict", "ids", "nums", "meta"];
    let mut cols = [0usize; 6];
    let mut raws = [0usize; 6];
    for s in &sealed {
        let b = &s.bytes;
        let u = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        for (k, c) in cols.iter_mut().enumerate().take(5) {
            *c += u(32 + 8 * k);
            raws[k] += u(36 + 8 * k);
        }
        cols[5] += u(72);
    }
    println!(
        "{} streams, {} chunks, raw {:.1} MB, chunks {:.2} MB = {:.2}x, filters {:.2} MB",
        streams.len(),
        sealed.len(),
        raw as f64 / 1e6,
        total as f64 / 1e6,
        raw as f64 / total as f64,
        filters as f64 / 1e6
    );
    for (k, c) in cols.iter().enumerate() {
        let name = names.get(k).unwrap_or(&"hex");
        println!(
            "  {name:5} {:8.3} MB (raw {:8.3} MB)",
            *c as f64 / 1e6,
            raws[k] as f64 / 1e6
        );
    }
    println!(
        "encode {:.0} MB/s (with filter), decode {:.0} MB/s",
        raw as f64 / 1e6 / enc,
        raw as f64 / 1e6 / dec
    );
}
