#!/usr/bin/env bash
# Performance guard (CI): the shared metrics workload at a small size (5,000 series, 2 h,
# 2.4 M samples) against VictoriaMetrics and then Pitot, one after another, through
# bench/metrics_bench.sh (which also reads the whole workload back from Pitot bit for bit).
# Compares Pitot/VictoriaMetrics ratios with the ones recorded in bench/guard_ratios.json:
#
#   samples per server CPU-second: fails if the ratio fell by more than its margin
#   final bytes per sample:        fails if the ratio rose by more than its margin
#
# Ratios to a baseline measured in the same run cancel most of the machine's speed; the
# margins (in guard_ratios.json) cover the run-to-run spread on a 2-core machine.
#
#   PITOT_BIN=target/release/pitot bash bench/guard.sh [--series N] [--span SECONDS]
#   PITOT_BIN=... bash bench/guard.sh --record 3   # rerun 3 times, rewrite guard_ratios.json
#   (also --cpu-margin F, --bytes-margin F when recording; --ratios FILE instead of
#   bench/guard_ratios.json)
#
# The workload's last timestamp is aligned to Pitot's 2 h block range, so that every run
# cuts the same blocks (a 2 h span holds 481 samples per series: 480 in one block, 1 in
# the next). Needs python3 with numpy, cramjam, requests, and victoria-metrics (installed
# with apt-get when missing). Results in bench/results/guard-<date>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ratios=$root/bench/guard_ratios.json
series=5000
span=7200
record=0
cpu_margin=0.30
bytes_margin=0.05
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series=$2; shift 2 ;;
    --span) span=$2; shift 2 ;;
    --record) record=$2; shift 2 ;;
    --ratios) ratios=$2; shift 2 ;;
    --cpu-margin) cpu_margin=$2; shift 2 ;;
    --bytes-margin) bytes_margin=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
runs=$(( record > 0 ? record : 1 ))
out=$root/bench/results/guard-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
started=$(date +%s)
for run in $(seq "$runs"); do
  block_ms=7200000
  end_ms=$(( $(date +%s) * 1000 / block_ms * block_ms ))
  echo "==> guard run $run/$runs: $series series, ${span}s, last timestamp $end_ms; VictoriaMetrics, then Pitot"
  if ! bash "$root/bench/metrics_bench.sh" --series "$series" --span "$span" --end-ms "$end_ms" \
      --baseline victoriametrics --query-runs 1 --out "$out/run$run" >"$out/run$run.log" 2>&1; then
    tail -n 30 "$out/run$run.log"
    echo "performance guard FAILED: the benchmark run failed (log: $out/run$run.log)" >&2
    exit 1
  fi
  grep '^readback' "$out/run$run.log"
done

python3 - "$ratios" "$out" "$runs" "$record" "$series" "$span" "$cpu_margin" "$bytes_margin" "$(($(date +%s) - started))" <<'PY'
import json, os, statistics, sys, time
path, out, runs, record, series, span = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(float(sys.argv[6]))
cpu_margin, bytes_margin, elapsed = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
# figure -> direction: +1 higher is better, -1 lower is better
FIGURES = {"samples per server CPU-second": +1, "final bytes per sample": -1}
# What --record keeps of the runs' ratios. CPU: the lowest (a shared 2-core VM swings it by
# a quarter between runs; the guard is there for large regressions, not for noise).
# Bytes: the highest ratio, i.e. the one against the smallest VictoriaMetrics: Pitot's
# blocks are the same bytes every run, VictoriaMetrics' indexdb is merged in the
# background (force_merge only merges the data partition), so its total only varies
# upwards, by up to 4 % here.
RECORD = {"samples per server CPU-second": ("min", min), "final bytes per sample": ("max", max)}

measured = {f: [] for f in FIGURES}
for run in range(1, runs + 1):
    d = os.path.join(out, f"run{run}")
    for kind in ("pitot", "victoriametrics"):
        r = json.load(open(os.path.join(d, kind + ".json")))
        ing, wl = r["ingest"], r["workload"]
        if ing["requests_err"] or ing["samples_accepted"] != wl["samples"]:
            sys.exit(f"performance guard FAILED: {kind} accepted {ing['samples_accepted']} of {wl['samples']} samples "
                     f"({ing['requests_err']} requests failed: {ing['errors']})")
    s = json.load(open(os.path.join(d, "summary.json")))
    for f in FIGURES:
        p, v = s["pitot"][f], s["victoriametrics"][f]
        measured[f].append({"pitot": p, "victoriametrics": v, "ratio": p / v})
        fmt = (lambda x: f"{x:,.0f}") if FIGURES[f] > 0 else (lambda x: f"{x:.3f}")
        print(f"run {run}: {f}: Pitot {fmt(p)}, VictoriaMetrics {fmt(v)}, Pitot/VictoriaMetrics {p / v:.3f}")

if record:
    margins = {"samples per server CPU-second": cpu_margin, "final bytes per sample": bytes_margin}
    doc = {
        "comment": (
            f"Recorded by `bench/guard.sh --record {runs}` on {time.strftime('%Y-%m-%d', time.gmtime())} "
            f"({os.uname().sysname} {os.uname().release} {os.uname().machine}, {os.cpu_count()} CPUs): "
            f"{runs} runs of the shared workload ({series} series, {span} s, last timestamp aligned to 2 h) "
            "against VictoriaMetrics and then Pitot. `ratio` is the lowest (CPU: run-to-run swings of a quarter on a shared 2-core VM) or the highest (bytes: "
            "VictoriaMetrics' indexdb merges in the background, so its size only varies upwards) of the runs' "
            "Pitot/VictoriaMetrics ratios; `runs` lists them. The guard fails when samples per server CPU-second falls below "
            "ratio x (1 - margin), or final bytes per sample rises above ratio x (1 + margin)."),
        "workload": {"series": series, "span_s": span, "step_s": 15, "end": "aligned to 2 h"},
        "figures": {},
    }
    for f, direction in FIGURES.items():
        rs = [m["ratio"] for m in measured[f]]
        how, pick = RECORD[f]
        med = statistics.median(rs)
        doc["figures"][f] = {
            "ratio": round(pick(rs), 4), "ratio_is": f"{how} of the runs", "margin": margins[f],
            "better": "higher" if direction > 0 else "lower",
            "runs": [round(x, 4) for x in rs],
            "pitot_runs": [round(m["pitot"], 4) for m in measured[f]],
            "victoriametrics_runs": [round(m["victoriametrics"], 4) for m in measured[f]],
            "spread_vs_median": f"{(min(rs) / med - 1) * 100:+.1f} % .. {(max(rs) / med - 1) * 100:+.1f} %",
        }
    json.dump(doc, open(path, "w"), indent=1)
    open(path, "a").write("\n")
    print(f"recorded {path} ({elapsed} s for {runs} runs)")
    sys.exit(0)

doc = json.load(open(path))
wl = doc["workload"]
if (wl["series"], wl["span_s"]) != (series, span):
    sys.exit(f"performance guard: {path} was recorded for {wl['series']} series x {wl['span_s']} s; rerun with --record")
failed = []
for f, direction in FIGURES.items():
    rec = doc["figures"][f]
    ratio, margin = rec["ratio"], rec["margin"]
    got = measured[f][0]["ratio"]
    change = (got / ratio - 1) * direction     # > 0: better, < 0: worse
    if direction > 0:
        limit, bad = ratio * (1 - margin), got < ratio * (1 - margin)
    else:
        limit, bad = ratio * (1 + margin), got > ratio * (1 + margin)
    verdict = "FAILED" if bad else "ok"
    print(f"{verdict:6} {f}, Pitot/VictoriaMetrics: recorded {ratio:.3f}, measured {got:.3f} "
          f"({abs(change) * 100:.1f} % {'better' if change >= 0 else 'worse'}; "
          f"margin {margin * 100:.0f} %, limit {limit:.3f}, {rec['better']} is better)")
    if bad:
        failed.append(f)
    elif change > margin:
        print(f"       (better than recorded by more than the margin: consider `bench/guard.sh --record 3`)")
print(f"guard run time {elapsed} s; results in {out}")
if failed:
    sys.exit("performance guard FAILED: " + ", ".join(failed) + " got worse than bench/guard_ratios.json allows")
print("performance guard passed")
PY
