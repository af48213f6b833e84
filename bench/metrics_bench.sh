#!/usr/bin/env bash
# Runs the shared metrics workload (../shared/bench/bench_metrics.py: rwgen remote write,
# then six dashboard query_range queries) against a fresh release build of Pitot, cuts the
# head into blocks to measure the final on-disk form, and prints Pitot's figures next to
# Prometheus' and VictoriaMetrics'. After the flush, bench/readback.py reads the whole
# workload back from Pitot's /api/v1/export and checks it bit for bit (the run fails, after
# printing the table, if a sample differs).
#
#   bash bench/metrics_bench.sh [--series N] [--baselines]
#   (also: [--baseline victoriametrics|prometheus] [--span SECONDS] [--end-ms MS]
#    [--query-runs N] [--out DIR]; bench/guard.sh uses them)
#
# --baselines also runs Prometheus and VictoriaMetrics (Debian packages; installed with
# apt-get when /usr/bin/prometheus or /usr/bin/victoria-metrics is missing) on the same
# workload one after another, as the issue asks; without it, Pitot is compared with
# ../shared/bench/results/*.json (same machine type, marked *). Ratio columns
# (Pitot/VictoriaMetrics, Pitot/Prometheus) are printed only for systems of the same run.
# Needs python3 with numpy, cramjam, requests (pip install numpy cramjam requests).
# Results land in bench/results/<date>/, the table also as markdown in table.md there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PITOT_SHARED:-$root/../shared}
cmdline="$(printf '%q ' bash "bench/$(basename "$0")" "$@")"
cmdline=${cmdline% }
[ -z "${PITOT_BIN:-}" ] || cmdline="PITOT_BIN=$(printf '%q' "$PITOT_BIN") $cmdline"
series=100000
span=7200
kinds=
end_ms=
query_runs=5
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --baselines) kinds="victoriametrics prometheus"; shift ;;
    --baseline)
      case "$2" in victoriametrics|prometheus) ;; *) echo "--baseline takes victoriametrics or prometheus" >&2; exit 2 ;; esac
      case " $kinds " in *" $2 "*) ;; *) kinds="${kinds:+$kinds }$2" ;; esac
      shift 2 ;;
    --span) span=$2; shift 2 ;;
    --end-ms) end_ms=$2; shift 2 ;;
    --query-runs) query_runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
baselines=0
[ -z "$kinds" ] || baselines=1
out=${out:-$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The last timestamp of the workload: now, rounded down to the 15 s step, unless given.
end_ms=${end_ms:-$(( ($(date +%s) / 15) * 15 * 1000 ))}
workload=(--series "$series" --span "$span" --step 15 --end-ms "$end_ms")
bin=${PITOT_BIN:-$root/target/release/pitot}
[ -n "${PITOT_BIN:-}" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"

# The baselines are Debian's packages (bookworm: prometheus 2.42, victoria-metrics 1.79).
install_baseline() { # <binary path> <package>
  [ -x "$1" ] && return 0
  echo "$1 is missing: installing Debian's $2 package with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$2" >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "$2" >&2; } ||
    true
  [ -x "$1" ] || { echo "error: could not install $2 with apt-get ($1 still missing); install it by hand (apt-get install $2) or run without --baselines" >&2; exit 1; }
}

for kind in $kinds; do
  case $kind in
    victoriametrics) install_baseline /usr/bin/victoria-metrics victoria-metrics ;;
    prometheus) install_baseline /usr/bin/prometheus prometheus ;;
  esac
done
for kind in $kinds; do
  python3 "$shared/bench/bench_metrics.py" "$kind" "${workload[@]}" --query-runs "$query_runs" --out "$out/$kind.json"
done

data=$(mktemp -d /tmp/pitot-bench-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --config "$root/bench/unlimited.yaml" >"$out/pitot.stdout" 2>"$out/pitot.stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q listening "$out/pitot.stdout" 2>/dev/null && break; sleep 0.1; done
token=$(cat "$data/initial-token")
python3 "$shared/bench/bench_metrics.py" external --base "http://127.0.0.1:$port" --pid "$pid" \
  --data-dir "$data" -H "Authorization: Bearer $token" "${workload[@]}" --query-runs "$query_runs" --out "$out/pitot.json"
curl -sf -XPOST -H "Authorization: Bearer $(cat "$data/platform-token")" "http://127.0.0.1:$port/api/pitot/v1/admin/flush" >/dev/null
curl -sf "http://127.0.0.1:$port/metrics" > "$out/pitot.metrics"
du -sb "$data/blocks" | cut -f1 > "$out/pitot.blocks_bytes"
# Every sample of the workload read back through /api/v1/export, bit for bit.
readback=0
python3 "$root/bench/readback.py" --base "http://127.0.0.1:$port" --token-file "$data/initial-token" \
  --shared "$shared" "${workload[@]}" 2>&1 | tee "$out/readback.txt" || readback=$?

{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "uname=$(uname -srm)"
  echo "nproc=$(nproc)"
  echo "mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "pitot=$bin, tree $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || echo ' with crates/ modified')"
  if [ "$baselines" = 1 ]; then
    echo "baselines=$(dpkg-query -W -f '${Package} ${Version}, ' ${kinds//victoriametrics/victoria-metrics} 2>/dev/null | sed 's/, $//')"
  fi
  echo "command=$cmdline"
  echo "readback=$(tail -n 1 "$out/readback.txt")"
} > "$out/env.txt"

python3 - "$out" "$shared/bench/results" <<'PY'
import json, os, sys
out, shared = sys.argv[1], sys.argv[2]
env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "env.txt")))

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
pitot["final_form"] = "blocks dir after admin/flush"
# systems: (key, title, result, same_run)
systems = [("pitot", "Pitot", pitot, True)]
for kind, title in (("victoriametrics", "VictoriaMetrics"), ("prometheus", "Prometheus")):
    r, same_run = load(kind + ".json")
    if r:
        d, rn = r["disk"], r["ingest"]["samples_accepted"]
        if "compacted_block_bytes" in d:      # Prometheus: 2 h block(s) from a snapshot
            r["final_bytes_per_sample"] = d["compacted_block_bytes"] / rn
        elif "vmdata_bytes_after_merge" in d:  # VictoriaMetrics: after force_flush + force_merge
            r["final_bytes_per_sample"] = d["vmdata_bytes_after_merge"] / rn
        else:
            r["final_bytes_per_sample"] = d.get("bytes_per_sample_compacted_block") or d.get("bytes_per_sample_after_merge")
    systems.append((kind, title, r, same_run))

def fig_rows():
    yield ("samples per server CPU-second", lambda r: r["ingest"]["samples_per_server_cpu_s"], lambda v: f"{v:,.0f}")
    yield ("final bytes per sample", lambda r: r["final_bytes_per_sample"], lambda v: f"{v:.3f}")
    yield ("peak RSS during ingest (MB)", lambda r: r["ingest"]["rss_peak_during_ingest_bytes"] / 1e6, lambda v: f"{v:.1f}")
    for q in pitot["queries"]:
        yield (f"query_range median ms: {q}", lambda r, q=q: r.get("queries", {}).get(q, {}).get("median_ms"), lambda v: f"{v:.1f}")

def value(r, get):
    if r is None:
        return None
    try:
        return get(r)
    except (KeyError, TypeError):
        return None

header = ["figure"]
for key, title, r, same in systems:
    header.append(title + ("" if same or r is None else "*"))
ratio_of = [(key, title) for key, title, r, same in systems[1:]]
header += [f"Pitot/{title}" for _, title in ratio_of]
rows, summary = [], {k: {"same_run": s, "present": r is not None} for k, _, r, s in systems}
for label, get, fmt in fig_rows():
    vals = {key: value(r, get) for key, _, r, _ in systems}
    row = [label] + [fmt(vals[k]) if vals[k] is not None else "-" for k, _, _, _ in systems]
    for key, title, r, same in systems[1:]:
        ok = same and vals["pitot"] is not None and vals[key]
        row.append(f"{vals['pitot'] / vals[key]:.2f}" if ok else "-")
    rows.append(row)
    for k in vals:
        summary[k][label] = vals[k]

notes = ["Ratios are Pitot's figure divided by the other system's (above 1 is better for samples per "
         "CPU-second, below 1 is better for the others); printed only for a system run in this same "
         "invocation."]
if any(r is not None and not s for _, _, r, s in systems):
    notes.append("* from ../shared/bench/results (an earlier run on this machine type, not this run); no ratio.")
if any(r is None for _, _, r, _ in systems):
    notes.append("- : not measured.")

w = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
print(f"\nworkload: {n:,} samples ({pitot['workload']['series']:,} series x {pitot['workload']['steps']} steps)")
for row in [header] + rows:
    print("  ".join(str(c).ljust(w[0]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(row)))
for note in notes:
    print(note)

md = [f"Run {env['date']} on `{env['uname']}`, {env['nproc']} CPUs, {env['mem']} RAM.",
      f"Pitot: {env['pitot']}." + (f" Baselines: {env['baselines']}." if "baselines" in env else ""),
      "", f"Command: `{env['command']}`", "",
      f"Workload: {n:,} samples ({pitot['workload']['series']:,} series x {pitot['workload']['steps']} steps, "
      f"one sample every {pitot['workload']['step_s']:g} s, last timestamp {pitot['workload']['last_ts_ms']} ms).", "",
      "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
md += ["| " + " | ".join(row) + " |" for row in rows]
md += [""] + notes + ["", f"Read-back of the whole workload from Pitot (`bench/readback.py`): {env['readback']}"]
open(os.path.join(out, "table.md"), "w").write("\n".join(md) + "\n")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
echo "results: $out (table: $out/table.md)"
[ "$readback" = 0 ] || { echo "read-back FAILED: $(tail -n 1 "$out/readback.txt")" >&2; exit 1; }
