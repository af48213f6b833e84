#!/usr/bin/env bash
# Bytes per sample of Pitot's final on-disk form (blocks: chunks + index), for the
# shared remote-write workload (../shared/bench/rwgen.py).
#
#   bash bench/bytes_per_sample.sh [SERIES] [SPAN_SECONDS]     # defaults: 20000 7200
#
# Starts a release build of Pitot on a temp data dir, pushes the workload, cuts the whole
# head into blocks (POST /api/pitot/v1/admin/flush), and prints samples, block bytes and
# bytes/sample. Needs: python3 with numpy, cramjam, requests (pip install numpy cramjam requests).
set -euo pipefail
series=${1:-20000}
span=${2:-7200}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PITOT_SHARED:-$root/../shared}
bin=${PITOT_BIN:-$root/target/release/pitot}
[ -x "$bin" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"
data=$(mktemp -d /tmp/pitot-bps-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --config "$(cd "$(dirname "$0")" && pwd)/unlimited.yaml" >"$data/stdout" 2>"$data/stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening" "$data/stdout" 2>/dev/null && break; sleep 0.1; done
token=$(cat "$data/initial-token")
platform=$(cat "$data/platform-token")
echo "pushing $series series x ${span}s at 15s to pitot (pid $pid) ..." >&2
python3 "$shared/bench/rwgen.py" --url "http://127.0.0.1:$port/api/v1/write" \
  -H "Authorization: Bearer $token" --series "$series" --span "$span" --step 15 >&2
curl -sf -XPOST -H "Authorization: Bearer $platform" "http://127.0.0.1:$port/api/pitot/v1/admin/flush" >&2
echo >&2
samples=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^pitot_tsdb_block_samples\{/ {s+=$2} END {print s}')
bytes=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^pitot_tsdb_block_bytes\{/ {s+=$2} END {print s}')
disk=$(du -sb "$data/blocks" | cut -f1)
python3 - "$samples" "$bytes" "$disk" <<'PY'
import sys
samples, block_bytes, disk = (int(float(x)) for x in sys.argv[1:])
print(f"samples in blocks:          {samples}")
print(f"block bytes (chunks+index): {block_bytes}  ->  {block_bytes/samples:.3f} B/sample")
print(f"blocks dir on disk (du -b): {disk}  ->  {disk/samples:.3f} B/sample")
PY
