#!/usr/bin/env bash
# PromQL differential test: Pitot against a real Prometheus (Debian 12's `prometheus`
# package, 2.42, with --web.enable-remote-write-receiver).
#
# gen.py writes about two hours of deterministic data (536 series: counters with
# resets, gauges, a classic histogram, NaN samples, staleness markers, series that stop
# or start) as remote-write request bodies; compare.py sends the same bytes to both
# servers, checks both hold every sample, then runs every query of queries.txt as
# instant queries (3 times) and as a range query (last hour, step 60s) against both and
# compares the results (see compare.py). Finally `promtool query instant` / `query range`
# must print the same against Pitot as against Prometheus for a few queries.
#
# Run from anywhere (it changes to the repository root):
#     tests/differential/promql_vs_prometheus.sh
# Environment:
#     PITOT_BIN          use this pitot binary instead of building target/release/pitot
#     DIFF_KEEP_TMP=1    keep the temporary directory (data, configs, logs)
#     DIFF_DETAILS=N     how many differing queries compare.py details [10]
# Needs: bash, python3 (stdlib), apt-get (if prometheus is missing), cargo (unless
# PITOT_BIN is set). Takes well under a minute once Prometheus is installed and Pitot
# is built (about 5 s here).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
HERE=$ROOT/tests/differential

log() { printf '[differential %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 1; }

# --- 1. Prometheus and promtool ---------------------------------------------------------
PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool
if [[ ! -x $PROMETHEUS || ! -x $PROMTOOL ]]; then
    log "installing Debian's prometheus package"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends prometheus; then
        apt-get update
        apt-get install -y --no-install-recommends prometheus
    fi
fi
[[ -x $PROMETHEUS ]] || die "$PROMETHEUS is missing after installing the prometheus package"
[[ -x $PROMTOOL ]] || die "$PROMTOOL is missing after installing the prometheus package"
log "$("$PROMETHEUS" --version 2>&1 | head -n1)"
command -v python3 >/dev/null || die "python3 is needed"

TMP=$(mktemp -d -t pitot-differential.XXXXXX)
PITOT_PID= PROM_PID=

stop() { # pid: SIGTERM, then SIGKILL after 10 s
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $PROM_PID ]] && stop "$PROM_PID"
    [[ -n $PITOT_PID ]] && stop "$PITOT_PID"
    if [[ $rc -ne 0 ]]; then
        for f in pitot.stdout pitot.stderr prometheus.log; do
            [[ -f $TMP/$f ]] || continue
            echo "----- last 40 lines of $f -----"
            tail -n 40 "$TMP/$f"
        done
        echo "----- end of logs -----"
    fi
    if [[ ${DIFF_KEEP_TMP:-0} == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    [[ $rc -eq 0 ]] && log "PASS" || log "FAIL (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 2. Pitot ----------------------------------------------------------------------------
if [[ -n ${PITOT_BIN:-} ]]; then
    PITOT=$PITOT_BIN
elif command -v cargo >/dev/null; then
    log "building pitot (cargo build --release -p pitot)"
    cargo build --release -p pitot
    PITOT=$ROOT/target/release/pitot
else
    PITOT=$ROOT/target/release/pitot
    log "cargo not found; using $PITOT as built"
fi
[[ -x $PITOT ]] || die "pitot binary $PITOT not found or not executable"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

log "starting pitot ($PITOT)"
PITOT_LOG=${PITOT_LOG:-info} "$PITOT" serve --data-dir "$TMP/pitot-data" --listen 127.0.0.1:0 \
    --config "$ROOT/bench/unlimited.yaml" \
    >"$TMP/pitot.stdout" 2>"$TMP/pitot.stderr" &
PITOT_PID=$!
PITOT_URL=
for _ in $(seq 300); do
    kill -0 "$PITOT_PID" 2>/dev/null || die "pitot exited during start-up"
    PITOT_URL=$(sed -n 's/^pitot listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$TMP/pitot.stdout" | head -n1)
    [[ -n $PITOT_URL ]] && break
    sleep 0.1
done
[[ -n $PITOT_URL ]] || die "pitot did not print 'pitot listening on' within 30 s"
[[ -s $TMP/pitot-data/initial-token ]] || die "no $TMP/pitot-data/initial-token"
TOKEN=$(tr -d '[:space:]' <"$TMP/pitot-data/initial-token")
log "pitot listening on $PITOT_URL"

# --- 3. Prometheus: no scrape jobs (its own series would be extra), remote-write receiver --
PROM_PORT=$(free_port)
PROM_URL=http://127.0.0.1:$PROM_PORT
cat >"$TMP/prometheus.yml" <<EOF
global:
  evaluation_interval: 1m   # the default subquery step, as in Pitot
EOF
log "starting prometheus on $PROM_URL"
"$PROMETHEUS" \
    --config.file "$TMP/prometheus.yml" \
    --storage.tsdb.path "$TMP/prometheus-data" \
    --web.listen-address "127.0.0.1:$PROM_PORT" \
    --web.enable-remote-write-receiver \
    --query.lookback-delta 5m \
    --log.level info \
    >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
ready=
for _ in $(seq 300); do
    kill -0 "$PROM_PID" 2>/dev/null || die "prometheus exited during start-up"
    if python3 - "$PROM_URL/-/ready" <<'EOF' 2>/dev/null; then
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
EOF
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || die "prometheus was not ready within 30 s"
log "prometheus ready"

# --- 4. data, queries, comparison ----------------------------------------------------------
python3 "$HERE/gen.py" --out "$TMP/data"
log "comparing queries"
compare_rc=0
python3 "$HERE/compare.py" --prometheus "$PROM_URL" --pitot "$PITOT_URL" --token "$TOKEN" \
    --data "$TMP/data" --details "${DIFF_DETAILS:-10}" || compare_rc=$?

# --- 5. promtool: same output against both ----------------------------------------------------
# promtool 2.42 has no --http.config.file; `query instant` has no --header either, so
# Pitot gets its token through basic auth in the URL (the token is the password: Go's
# HTTP client sends URL user info as an Authorization: Basic header), which Pitot
# accepts. `query range` has --header, so it sends the bearer token. Prometheus gets
# the same command without credentials.
END_S=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["end_ms"] // 1000)' "$TMP/data/meta.json")
PITOT_BASIC_URL=${PITOT_URL/http:\/\//http:\/\/promtool:$TOKEN@}
promtool_failures=0
promtool_compared=0
promtool_pair() { # kind(instant|range) ordered(0|1) expr
    local kind=$1 ordered=$2 expr=$3 p q prc=0 qrc=0
    if [[ $kind == instant ]]; then
        p=$("$PROMTOOL" query instant --time="$END_S" "$PROM_URL" "$expr" 2>&1) || prc=$?
        q=$("$PROMTOOL" query instant --time="$END_S" "$PITOT_BASIC_URL" "$expr" 2>&1) || qrc=$?
    else
        local start=$((END_S - 600))
        p=$("$PROMTOOL" query range --start="$start" --end="$END_S" --step=1m "$PROM_URL" "$expr" 2>&1) || prc=$?
        q=$("$PROMTOOL" query range --header="Authorization: Bearer $TOKEN" --start="$start" --end="$END_S" --step=1m \
            "$PITOT_URL" "$expr" 2>&1) || qrc=$?
    fi
    promtool_compared=$((promtool_compared + 1))
    if [[ $prc -ne 0 || -z $p ]]; then
        log "promtool $kind: Prometheus failed (exit $prc) for $expr: $p"
        promtool_failures=$((promtool_failures + 1))
    elif [[ $p == "$q" && $qrc -eq 0 ]]; then
        log "promtool $kind: identical output ($(wc -l <<<"$p") lines): $expr"
    elif [[ $ordered == 0 && $qrc -eq 0 && $(sort <<<"$p") == "$(sort <<<"$q")" ]]; then
        # An unsorted instant vector has no defined order in the API.
        log "promtool $kind: same lines, in another order (result order undefined): $expr"
    else
        log "promtool $kind: DIFFERENT output for $expr (Pitot exit $qrc)"
        diff <(echo "$p") <(echo "$q") | head -n 20 | sed 's/^/    /' || true
        promtool_failures=$((promtool_failures + 1))
    fi
}
log "promtool: comparing output against both servers"
promtool_pair instant 0 'count by (job) (up)'
promtool_pair instant 0 'up{job="node"}'
promtool_pair instant 1 'sort_desc(sum by (instance, handler) (http_requests_total{code="200"}))'
promtool_pair instant 0 'max by (instance) (temperature_celsius)'
promtool_pair instant 0 'scalar(sum(up))'
promtool_pair instant 0 'time() - batch_last_success_timestamp_seconds'
promtool_pair instant 0 'worker_jobs_active[1m]'
promtool_pair range 1 'count by (job) (up)'
promtool_pair range 1 'max by (instance) (queue_depth)'

if [[ $promtool_failures -ne 0 ]]; then
    log "promtool: $promtool_failures of $promtool_compared comparisons differ"
else
    log "promtool: all $promtool_compared comparisons agree"
fi
[[ $compare_rc -eq 0 ]] || die "compare.py failed (exit $compare_rc)"
[[ $promtool_failures -eq 0 ]] || die "promtool output differs"
