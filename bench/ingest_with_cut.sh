#!/usr/bin/env bash
# Pitot alone: pushes the shared rwgen workload, then waits for the head's block cut and
# the WAL checkpoint after it, and prints samples per server CPU-second and peak RSS with
# that work counted. The end time defaults to one whose 2 h block boundary makes the cut
# due at minute 71 of the 120-minute span (the case where metrics_bench.sh's figures
# depend on whether the 60 s maintenance tick falls inside the ingest).
#
#   bash bench/ingest_with_cut.sh [--series N] [--end-ms MS]
# Needs python3 with numpy, cramjam, requests; builds target/release/pitot unless
# PITOT_BIN is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
series=100000
end_ms=1796413725000
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --end-ms) end_ms=$2; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ -n "${PITOT_BIN:-}" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"
bin=${PITOT_BIN:-$root/target/release/pitot}
dir=$(mktemp -d); port=$((18000 + RANDOM % 1000))
"$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --config "$root/bench/unlimited.yaml" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -f "$dir/initial-token" ] && curl -sf "127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done
token=$(cat "$dir/initial-token")
rss_peak() { awk '/VmHWM/{print $2}' "/proc/$pid/status"; }
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
echo "pushing $series series (rwgen.py, end $end_ms) ..."
python3 "$shared/rwgen.py" --url "http://127.0.0.1:$port/api/v1/write" \
  -H "Authorization: Bearer $token" --series "$series" --end-ms "$end_ms" | grep -E '"errors"|send_wall'
echo "waiting for the block cut and the WAL checkpoint (up to 120 s) ..."
for _ in $(seq 120); do grep -q "wrote wal checkpoint" "$dir/log" && break; sleep 1; done
grep -q "head cut into block" "$dir/log" || echo "no block cut happened (the span does not reach an hour past a 2 h boundary)"
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
python3 - "$cpu0" "$cpu1" "$(getconf CLK_TCK)" "$series" "$(rss_peak)" <<'PY'
import sys
c0, c1, tck, series, hwm = (float(x) for x in sys.argv[1:])
cpu = (c1 - c0) / tck
samples = series * 481
print(f"server CPU {cpu:.1f} s, {samples / cpu:,.0f} samples per CPU-second, peak RSS (VmHWM) {hwm / 1024:.1f} MB")
PY
