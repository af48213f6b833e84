#!/usr/bin/env bash
# Logs benchmark: pushes the shared log workload (../shared/bench/loggen.py, a mix of
# nginx, text and JSON lines over 60 streams) into a fresh release build of Pitot through
# the Loki push API, then reports
#   - ingest: MB of raw lines per server CPU-second (utime+stime of the server process),
#   - compression: raw line bytes / bytes of log blocks after a flush,
#   - peak RSS during ingest,
#   - query latency (median of 5) of a rare-needle line filter and of
#     `sum by (level) (count_over_time({...} | json [5m]))` over the whole data set.
#
#   bash bench/logs_bench.sh [--bytes 1G]
#
# The push bodies are generated once (Python, ~8 MB/s) and cached under
# bench/results/cache/ with fixed timestamps, so reruns measure only the server; old
# timestamps are accepted by running with --logs-reject-old-samples-max-age 0s.
# Results land in bench/results/<date>/logs.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PITOT_SHARED:-$root/../shared}
bytes=1G
while [ $# -gt 0 ]; do
  case "$1" in
    --bytes) bytes=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
cache=$root/bench/results/cache
mkdir -p "$out" "$cache"
# A fixed end time keeps the cached workload byte-identical between runs.
end_ns=1795000000000000000
push=$cache/logs-$bytes.ndjson
if [ ! -s "$push" ]; then
  echo "generating $bytes of log push bodies into $push (once; about 2 minutes per GB)" >&2
  python3 "$shared/bench/loggen.py" --bytes "$bytes" --end-ns "$end_ns" --batch-lines 2000 \
    --out-push "$push.tmp" >&2
  mv "$push.tmp" "$push"
fi
bin=${PITOT_BIN:-$root/target/release/pitot}
[ -n "${PITOT_BIN:-}" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"

data=$(mktemp -d /tmp/pitot-logs-bench-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --logs-reject-old-samples-max-age 0s \
  --config "$root/bench/unlimited.yaml" \
  --logs-max-query-length 0s >"$out/pitot.stdout" 2>"$out/pitot.stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q listening "$out/pitot.stdout" 2>/dev/null && break; sleep 0.1; done

python3 - "$shared/bench/loggen.py" "$push" "$port" "$pid" "$data" "$end_ns" "$out" <<'PY'
import json, os, statistics, subprocess, sys, threading, time, urllib.error, urllib.parse, urllib.request
loggen, push, port, pid, data, end_ns, out = sys.argv[1:8]
pid, end_ns = int(pid), int(end_ns)
base = f"http://127.0.0.1:{port}"
token = open(os.path.join(data, "initial-token")).read().strip()
platform = open(os.path.join(data, "platform-token")).read().strip()
hz = os.sysconf("SC_CLK_TCK")

def cpu_s():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

peak = [rss()]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.25)
threading.Thread(target=sample, daemon=True).start()

cpu0, t0 = cpu_s(), time.time()
r = subprocess.run([sys.executable, loggen, "--replay", push, "--loki-url", f"{base}/loki/api/v1/push",
                    "-H", f"Authorization: Bearer {token}", "--concurrency", "2"],
                   check=True, capture_output=True, text=True)
stop.set()
ingest = json.loads(r.stdout.strip().splitlines()[-1])
cpu, wall = cpu_s() - cpu0, time.time() - t0
assert ingest["errors"] == 0, r.stderr
raw = ingest["raw_line_bytes"] - ingest["lines"]  # loggen counts a newline per line

print(json.dumps({"ingest_wall_s": round(wall, 2), "server_cpu_s": round(cpu, 2), "raw_bytes": raw,
                  "MB_per_cpu_s": round(raw / cpu / 1e6, 1), "peak_rss_MB": round(peak[0] / 1e6, 1)}), flush=True)
req = urllib.request.Request(f"{base}/api/pitot/v1/admin/flush", method="POST",
                             headers={"Authorization": f"Bearer {platform}"})
urllib.request.urlopen(req).read()
stored = 0
for dirpath, _, files in os.walk(os.path.join(data, "blocks", "logs")):
    stored += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)

def query(path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t = time.time()
    try:
        body = json.loads(urllib.request.urlopen(req, timeout=600).read())
    except urllib.error.HTTPError as e:
        sys.exit(f"query {params['query']!r} failed: {e.code} {e.read().decode()}")
    return time.time() - t, body

start = end_ns - 3600 * 10**9 - 10**9
end = end_ns + 10**9
# A needle that occurs exactly once: a request id from the middle of the workload.
needle = None
with open(push) as f:
    for i, line in enumerate(f):
        if i == 250:
            for s in json.loads(line)["streams"]:
                if s["stream"]["app"] == "ingress-nginx":
                    needle = s["values"][0][1].rsplit("req_id=", 1)[1]
                    break
            if needle:
                break
queries = {
    "rare_needle": ("/loki/api/v1/query_range", {"query": f'{{app="ingress-nginx"}} |= "{needle}"',
                    "start": start, "end": end, "limit": 100}),
    "absent_needle_all_streams": ("/loki/api/v1/query_range", {"query": '{cluster=~".+"} |= "c0ffee12c0ffee12"',
                    "start": start, "end": end, "limit": 100}),
    # The JSON-only app, as the query is usually written...
    "json_count_by_level_json_app": ("/loki/api/v1/query_range", {"query": 'sum by (level) (count_over_time({app="ledger"} | json [5m]))',
                    "start": start, "end": end, "step": "5m"}),
    # ...and over every stream (the whole data set), where text lines fail the json
    # parser and are dropped with __error__="" as Loki requires.
    "json_count_by_level_all": ("/loki/api/v1/query_range", {"query": 'sum by (level) (count_over_time({cluster=~".+"} | json | __error__="" [5m]))',
                    "start": start, "end": end, "step": "5m"}),
}
results = {}
for name, (path, params) in queries.items():
    times, answer = [], None
    for _ in range(5):
        t, answer = query(path, params)
        times.append(t)
    n = sum(len(s.get("values", [])) for s in answer["data"]["result"])
    results[name] = {"query": params["query"], "median_ms": round(statistics.median(times) * 1000, 1),
                     "runs_ms": [round(t * 1000, 1) for t in times], "result_points_or_lines": n,
                     "bytes_processed": answer["data"]["stats"]["summary"]["totalBytesProcessed"]}

report = {
    "workload": {"lines": ingest["lines"], "raw_line_bytes": raw, "push_requests": ingest["requests"]},
    "ingest": {"wall_s": round(wall, 2), "server_cpu_s": round(cpu, 2),
               "MB_raw_per_server_cpu_s": round(raw / cpu / 1e6, 1),
               "MB_raw_per_s_wall": round(raw / wall / 1e6, 1),
               "peak_rss_MB": round(peak[0] / 1e6, 1)},
    "storage": {"log_block_bytes": stored, "compression_ratio": round(raw / stored, 2) if stored else None},
    "queries": results,
}
json.dump(report, open(os.path.join(out, "logs.json"), "w"), indent=2)
print(json.dumps(report, indent=2))
PY
