#!/usr/bin/env bash
# The noisy and hostile neighbour, measured on a release build: runs
# crates/pitot/tests/noisy_neighbour.rs (solo and noisy phases alternate on one server)
# N times with long jobs demoted (query.demote_after, default 5ms) and N times without
# (0s), interleaved, and prints the victim's latency ratios (noisy / solo) of each run
# and their median and range.
#
#   bash bench/noisy_neighbour.sh [--runs N] [--attacks bombs,flood,queries]
#
# Each run takes about 10 s after the release build. The load generator runs on the same
# machine as the server, as in `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
attacks=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --attacks) attacks="$2"; shift 2 ;;
        *) echo "unknown option $1 (use --runs N, --attacks bombs,flood,queries)" >&2; exit 2 ;;
    esac
done

echo "building the release test binary (a few minutes the first time)..." >&2
cargo test --release -p pitot --test noisy_neighbour --no-run >&2

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$runs"); do
    for mode in 5ms 0s; do
        echo "run $i/$runs, demote_after=$mode..." >&2
        PITOT_QUERY_DEMOTE_AFTER=$mode NOISY_ATTACKS=$attacks \
            cargo test -q --release -p pitot --test noisy_neighbour -- --nocapture \
            > "$out/$mode.$i.log" 2>&1 || { cat "$out/$mode.$i.log" >&2; echo "run failed (the assertions are cargo test's; figures above)" >&2; }
    done
done

python3 - "$out" "$runs" <<'EOF'
import re, sys, statistics
out, runs = sys.argv[1], int(sys.argv[2])
kinds = ["push", "query", "log query"]
rows = {}
for mode in ["5ms", "0s"]:
    for i in range(1, runs + 1):
        text = open(f"{out}/{mode}.{i}.log").read()
        for kind in kinds:
            m = re.search(rf"^{kind}: solo median (\S+) p90 (\S+) p99 (\S+); noisy median (\S+) p90 (\S+) p99 (\S+); median ratio (\S+), p99 ratio (\S+)", text, re.M)
            if m:
                rows.setdefault((mode, kind), []).append((m.group(3), m.group(6), float(m.group(7)), float(m.group(8))))
print(f"{'demote_after':<13}{'request':<10}{'median ratios':<26}{'p99 ratios':<26}p99 solo -> noisy")
for mode in ["5ms", "0s"]:
    for kind in kinds:
        r = rows.get((mode, kind), [])
        if not r:
            print(f"{mode:<13}{kind:<10}(no figures: see the log above)")
            continue
        med = [x[2] for x in r]; p99 = [x[3] for x in r]
        fmt = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
        print(f"{mode:<13}{kind:<10}{fmt(med):<26}{fmt(p99):<26}" + ", ".join(f"{a}->{b}" for a, b, _, _ in r))
print(f"ratios are noisy/solo of the victim tenant; median (min-max) over {runs} runs each, interleaved")
EOF
