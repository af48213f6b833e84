#!/usr/bin/env bash
# Runs the shared metrics workload (../shared/bench/bench_metrics.py: rwgen remote write,
# then six dashboard query_range queries) against a fresh release build of Pitot, cuts the
# head into blocks to measure the final on-disk form, and prints Pitot's figures next to
# Prometheus' and VictoriaMetrics'.
#
#   bash bench/metrics_bench.sh [--series N] [--baselines]
#
# --baselines also runs Prometheus and VictoriaMetrics (Debian packages: apt-get install
# prometheus victoria-metrics) on the same workload one after another, as the issue asks;
# without it, Pitot is compared with ../shared/bench/results/*.json (same machine type).
# Needs python3 with numpy, cramjam, requests (pip install numpy cramjam requests).
# Results land in bench/results/<date>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PITOT_SHARED:-$root/../shared}
series=100000
baselines=0
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --baselines) baselines=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
end_ms=$(( ($(date +%s) / 15) * 15 * 1000 ))
bin=${PITOT_BIN:-$root/target/release/pitot}
[ -n "${PITOT_BIN:-}" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"

if [ "$baselines" = 1 ]; then
  for kind in victoriametrics prometheus; do
    python3 "$shared/bench/bench_metrics.py" "$kind" --series "$series" --end-ms "$end_ms" --out "$out/$kind.json"
  done
fi

data=$(mktemp -d /tmp/pitot-bench-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --config "$root/bench/unlimited.yaml" >"$out/pitot.stdout" 2>"$out/pitot.stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q listening "$out/pitot.stdout" 2>/dev/null && break; sleep 0.1; done
token=$(cat "$data/initial-token")
python3 "$shared/bench/bench_metrics.py" external --base "http://127.0.0.1:$port" --pid "$pid" \
  --data-dir "$data" -H "Authorization: Bearer $token" --series "$series" --end-ms "$end_ms" --out "$out/pitot.json"
curl -sf -XPOST -H "Authorization: Bearer $(cat "$data/platform-token")" "http://127.0.0.1:$port/api/pitot/v1/admin/flush" >/dev/null
curl -sf "http://127.0.0.1:$port/metrics" > "$out/pitot.metrics"
du -sb "$data/blocks" | cut -f1 > "$out/pitot.blocks_bytes"

python3 - "$out" "$shared/bench/results" <<'PY'
import json, os, sys
out, shared = sys.argv[1], sys.argv[2]
def load(name):
    for d in (out, shared):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return json.load(open(p)), d == out
    return None, False
pitot = json.load(open(os.path.join(out, "pitot.json")))
n = pitot["ingest"]["samples_accepted"]
blocks = int(open(os.path.join(out, "pitot.blocks_bytes")).read())
pitot["final_bytes_per_sample"] = blocks / n
rows = [("pitot", pitot, True)]
for kind, name in (("prometheus", "prometheus.json"), ("victoriametrics", "victoriametrics.json")):
    r, same_run = load(name)
    if r:
        d = r["disk"]
        r["final_bytes_per_sample"] = d.get("bytes_per_sample_compacted_block") or d.get("bytes_per_sample_after_merge")
        rows.append((kind, r, same_run))
print(f"\nworkload: {n} samples ({pitot['workload']['series']} series)")
print(f"{'figure':44} " + " ".join(f"{k + ('' if s else '*'):>16}" for k, _, s in rows))
def line(label, f):
    print(f"{label:44} " + " ".join(f"{f(r):>16}" for _, r, _ in rows))
line("samples per server CPU-second", lambda r: f"{r['ingest']['samples_per_server_cpu_s']:,}")
line("final bytes per sample", lambda r: f"{r['final_bytes_per_sample']:.3f}")
line("peak RSS during ingest (MB)", lambda r: f"{r['ingest']['rss_peak_during_ingest_bytes']/1e6:.1f}")
for q in pitot["queries"]:
    line(f"query_range median ms: {q}", lambda r, q=q: f"{r['queries'][q]['median_ms']:.1f}" if q in r.get('queries', {}) else "-")
if any(not s for _, _, s in rows):
    print("* from ../shared/bench/results (an earlier run on this machine type, not this run)")
PY
echo "results: $out"
