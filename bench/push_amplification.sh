#!/usr/bin/env bash
# Peak memory and CPU one push costs the server, for the body shapes of issue 16's
# finding 6: small compressed bodies of many tiny series, labels, streams or entries
# (about SIZE_MB megabytes once decompressed, ~470 KB compressed for the repetitive ones).
#
#   cargo build --release && bench/push_amplification.sh [path/to/pitot]
#
# Starts its own server on a temporary data directory, sends each shape once as the
# initial tenant, and prints per shape: compressed and decompressed size, the answer's
# status (413/429/503 name the limit that refused it), the growth of the server's peak
# resident memory (VmHWM, reset before each shape through /proc/<pid>/clear_refs) and
# the CPU seconds the server spent. Compare builds on the same profile only: a debug
# build's numbers are not a release build's. Needs Linux, curl and python3.
set -euo pipefail

PITOT=${1:-target/release/pitot}
SIZE_MB=${SIZE_MB:-10}
SHAPES=${SHAPES:-"rw-tiny-series rw-empty-labels rw-empty-samples loki-empty-entries loki-json-tiny-entries loki-tiny-streams"}
EXTRA_FLAGS=${EXTRA_FLAGS:-}

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$PITOT" serve --data-dir "$work/data" --listen 127.0.0.1:0 $EXTRA_FLAGS >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "pitot listening on" "$work/out" 2>/dev/null && break
    sleep 0.1
done
url=$(sed -n 's/^pitot listening on //p' "$work/out" | head -1)
[ -n "$url" ] || { echo "server did not start:"; cat "$work/err"; exit 1; }
token=$(cat "$work/data/initial-token")

python3 - "$work" "$SIZE_MB" <<'PY'
import struct, sys, time

work, size = sys.argv[1], int(float(sys.argv[2]) * 1024 * 1024)
now_ms = int(time.time() * 1000)

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def field(tag, payload):
    return bytes([tag]) + varint(len(payload)) + payload

def snappy(data):
    """Snappy block format: greedy matches of at least 4 bytes (copies of up to 64
    bytes, offsets below 64 KiB) and literals, as real encoders find in repetitive
    input. Slow but dependency-free."""
    out = bytearray(varint(len(data)))
    table = {}
    lit_start = i = 0
    n = len(data)

    def literal(a, b):
        while a < b:
            chunk = min(b - a, 65536)
            if chunk <= 60:
                out.append((chunk - 1) << 2)
            else:
                out.append(61 << 2)
                out.extend((chunk - 1).to_bytes(2, "little"))
            out.extend(data[a:a + chunk])
            a += chunk

    while i + 4 <= n:
        key = data[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand < 65536:
            length = 4
            while i + length < n and length < 64 and data[cand + length] == data[i + length]:
                length += 1
            literal(lit_start, i)
            out.append(((length - 1) << 2) | 2)
            out.extend((i - cand).to_bytes(2, "little"))
            i += length
            lit_start = i
        else:
            i += 1
    literal(lit_start, n)
    return bytes(out)

def sample(t):
    return b"\x09" + struct.pack("<d", 1.0) + b"\x10" + varint(t)

def fill(make):
    parts, total, i = [], 0, 0
    while total < size:
        p = make(i)
        parts.append(p)
        total += len(p)
        i += 1
    return b"".join(parts)

shapes = {}
shapes["rw-tiny-series"] = fill(lambda i: field(0x0A,
    field(0x0A, field(0x0A, b"__name__") + field(0x12, b"m"))
    + field(0x0A, field(0x0A, b"i") + field(0x12, str(i).encode()))
    + field(0x12, sample(now_ms))))
shapes["rw-empty-labels"] = fill(lambda i: field(0x0A, b"\x0a\x00" * 200))
shapes["rw-empty-samples"] = fill(lambda i: field(0x0A,
    field(0x0A, field(0x0A, b"__name__") + field(0x12, b"m")) + b"\x12\x00" * 20000))
ts = field(0x0A, b"\x08" + varint(now_ms // 1000))
shapes["loki-empty-entries"] = fill(lambda i: field(0x0A,
    field(0x0A, b'{app="bench"}') + field(0x12, ts) * 10000))
shapes["loki-tiny-streams"] = fill(lambda i: field(0x0A,
    field(0x0A, b'{app="bench", i="%d"}' % i) + field(0x12, ts + field(0x12, b"x"))))
line = '["%d","x"],' % (now_ms * 1000000)
values = (line * (size // len(line)))[:-1]
shapes["loki-json-tiny-entries"] = ('{"streams":[{"stream":{"app":"json"},"values":[%s]}]}' % values).encode()

for name, raw in shapes.items():
    body = raw if name.startswith("loki-json") else snappy(raw)
    with open(f"{work}/{name}.body", "wb") as f:
        f.write(body)
    with open(f"{work}/{name}.size", "w") as f:
        f.write(str(len(raw)))
PY

status_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

printf '%-24s %10s %12s %6s %14s %8s\n' shape compressed decompressed status "peak RSS +MB" "CPU s"
for shape in $SHAPES; do
    body="$work/$shape.body"
    case $shape in
        rw-*) path=/api/v1/push; headers=(-H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy') ;;
        loki-json-*) path=/loki/api/v1/push; headers=(-H 'Content-Type: application/json') ;;
        loki-*) path=/loki/api/v1/push; headers=(-H 'Content-Type: application/x-protobuf') ;;
    esac
    sleep 1
    echo 5 >"/proc/$pid/clear_refs"
    base=$(status_kb VmRSS)
    cpu0=$(cpu_ticks)
    status=$(curl -s -o "$work/answer" -w '%{http_code}' -H "Authorization: Bearer $token" \
        "${headers[@]}" --data-binary @"$body" "$url$path")
    cpu1=$(cpu_ticks)
    peak=$(status_kb VmHWM)
    printf '%-24s %10d %12d %6s %14.1f %8.2f\n' "$shape" "$(stat -c %s "$body")" "$(cat "$work/$shape.size")" \
        "$status" "$(echo "($peak - $base) / 1024" | bc -l)" "$(echo "($cpu1 - $cpu0) / $hz" | bc -l)"
    if [ "${VERBOSE:-}" = 1 ]; then head -c 300 "$work/answer"; echo; fi
done
kill -0 "$pid" || { echo "the server died:"; tail -20 "$work/err"; exit 1; }
