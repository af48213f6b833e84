#!/usr/bin/env bash
# Interop test: a real Prometheus (Debian 12's `prometheus` package, 2.42) scrapes
# itself and an edge-case target (target.py: NaN, +-Inf, -0, subnormals, random bit
# patterns, awkward label values, series that vanish and so get staleness markers)
# every second and remote-writes to Pitot with a bearer token. After about a minute,
# every series and sample Prometheus stored in a closed window that ended at least
# 15 s ago must be in Pitot, bit-exact, with nothing extra, and Pitot's remote read must
# answer as Prometheus' does (see compare.py). Then a second Prometheus with only
# `remote_read` pointed at Pitot must answer a query of the window as Pitot does
# (remote_read_prometheus.py).
#
# Run from anywhere (it changes to the repository root):
#     tests/interop/prometheus_remote_write.sh
# Environment:
#     PITOT_BIN            use this pitot binary instead of building target/release/pitot
#     INTEROP_RUN_SECONDS  how long Prometheus runs before the window is chosen [70]
#     INTEROP_KEEP_TMP=1   keep the temporary directory (data, configs, logs)
# Needs: bash, python3 (stdlib), apt-get (if prometheus is missing), cargo (unless
# PITOT_BIN is set or target/release/pitot exists). Takes about 1.5 minutes once
# Prometheus is installed and Pitot is built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
RUN_SECONDS=${INTEROP_RUN_SECONDS:-70}
SETTLE_SECONDS=15      # the window ends this long before it is read
SKIP_START_SECONDS=5   # the window starts this long after Prometheus was started

log() { printf '[interop %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 1; }

# --- 1. Prometheus -------------------------------------------------------------------
PROMETHEUS=/usr/bin/prometheus
if [[ ! -x $PROMETHEUS ]]; then
    log "installing Debian's prometheus package"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends prometheus; then
        apt-get update
        apt-get install -y --no-install-recommends prometheus
    fi
fi
[[ -x $PROMETHEUS ]] || die "$PROMETHEUS is missing after installing the prometheus package"
log "$("$PROMETHEUS" --version 2>&1 | head -n1)"
command -v python3 >/dev/null || die "python3 is needed"

TMP=$(mktemp -d -t pitot-interop.XXXXXX)
PITOT_PID= PROM_PID= TARGET_PID= READER_PID=

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
    [[ -n $READER_PID ]] && stop "$READER_PID"
    [[ -n $PITOT_PID ]] && stop "$PITOT_PID"
    [[ -n $TARGET_PID ]] && stop "$TARGET_PID"
    if [[ $rc -ne 0 ]]; then
        for f in pitot.stdout pitot.stderr prometheus.log reader.log target.log; do
            [[ -f $TMP/$f ]] || continue
            echo "----- last 40 lines of $f -----"
            tail -n 40 "$TMP/$f"
        done
        echo "----- end of logs -----"
    fi
    if [[ ${INTEROP_KEEP_TMP:-0} == 1 ]]; then
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

# --- 2. Pitot ------------------------------------------------------------------------
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

# A second scrape target with NaN, +-Inf, -0, subnormals, random bit patterns, awkward
# label values, and series that disappear and come back (staleness markers).
python3 "$ROOT/tests/interop/target.py" >"$TMP/target.log" 2>&1 &
TARGET_PID=$!
TARGET_PORT=
for _ in $(seq 100); do
    kill -0 "$TARGET_PID" 2>/dev/null || die "target.py exited during start-up"
    TARGET_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$TMP/target.log")
    [[ -n $TARGET_PORT ]] && break
    sleep 0.1
done
[[ -n $TARGET_PORT ]] || die "target.py did not start"
log "edge-case target on http://127.0.0.1:$TARGET_PORT/metrics"

# --- 3. Prometheus configuration and start -----------------------------------------
PROM_PORT=$(free_port)
PROM_URL=http://127.0.0.1:$PROM_PORT
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$PROM_PORT']
  - job_name: edge
    static_configs:
      - targets: ['127.0.0.1:$TARGET_PORT']
remote_write:
  - url: $PITOT_URL/api/v1/write
    name: pitot
    authorization:
      type: Bearer
      credentials: '$TOKEN'
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
EOF

log "starting prometheus on $PROM_URL"
START_MS=$(date +%s%3N)
"$PROMETHEUS" \
    --config.file "$TMP/prometheus.yml" \
    --storage.tsdb.path "$TMP/prometheus-data" \
    --web.listen-address "127.0.0.1:$PROM_PORT" \
    --web.enable-admin-api \
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
log "prometheus ready; letting it scrape and remote-write for ${RUN_SECONDS}s"

# --- 4. wait, then pick the window ------------------------------------------------------
deadline=$((START_MS / 1000 + RUN_SECONDS))
while (( $(date +%s) < deadline )); do
    kill -0 "$PROM_PID" 2>/dev/null || die "prometheus died"
    kill -0 "$PITOT_PID" 2>/dev/null || die "pitot died"
    sleep 1
done
WINDOW_END=$(( $(date +%s%3N) - SETTLE_SECONDS * 1000 ))
WINDOW_START=$(( START_MS + SKIP_START_SECONDS * 1000 ))
(( WINDOW_END - WINDOW_START >= 20000 )) || die "window too short; raise INTEROP_RUN_SECONDS"

# --- 5. compare --------------------------------------------------------------------------
log "comparing"
python3 "$ROOT/tests/interop/compare.py" \
    --prometheus "$PROM_URL" --pitot "$PITOT_URL" --token "$TOKEN" \
    --start "$WINDOW_START" --end "$WINDOW_END" \
    --min-series 50 --min-samples 1000 --flush-timeout 60 --require-edge-cases

# --- 6. a second Prometheus reads Pitot through remote_read ------------------------------
# Empty local storage and no scrape targets: every sample it answers came from Pitot's
# /api/v1/read. Its answer must equal Pitot's own for the same window.
READER_PORT=$(free_port)
cat >"$TMP/reader.yml" <<EOF
global:
  evaluation_interval: 1m
remote_read:
  - url: $PITOT_URL/api/v1/read
    name: pitot
    read_recent: true
    authorization:
      type: Bearer
      credentials: '$TOKEN'
EOF
log "starting a second prometheus on 127.0.0.1:$READER_PORT with remote_read pointed at pitot"
"$PROMETHEUS" \
    --config.file "$TMP/reader.yml" \
    --storage.tsdb.path "$TMP/reader-data" \
    --web.listen-address "127.0.0.1:$READER_PORT" \
    --log.level info \
    >"$TMP/reader.log" 2>&1 &
READER_PID=$!
ready=
for _ in $(seq 300); do
    kill -0 "$READER_PID" 2>/dev/null || die "the remote-read prometheus exited during start-up"
    if curl -sf "http://127.0.0.1:$READER_PORT/-/ready" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || die "the remote-read prometheus was not ready within 30 s"
python3 "$ROOT/tests/interop/remote_read_prometheus.py" \
    --reader "http://127.0.0.1:$READER_PORT" --pitot "$PITOT_URL" --token "$TOKEN" \
    --start "$WINDOW_START" --end "$WINDOW_END" --min-series 50
stop "$READER_PID"
READER_PID=

# --- 7. Pitot's own /metrics passes promtool's lint --------------------------------------
# Scraped as the operator (the platform token adds the per-tenant series) after a minute
# of real traffic, so every family that traffic creates is in it.
PROMTOOL=/usr/bin/promtool
[[ -x $PROMTOOL ]] || die "$PROMTOOL is missing (it comes with the prometheus package)"
PLATFORM_TOKEN=$(tr -d '[:space:]' <"$TMP/pitot-data/platform-token")
curl -sf -H "Authorization: Bearer $PLATFORM_TOKEN" "$PITOT_URL/metrics" >"$TMP/pitot-metrics.txt" \
    || die "GET /metrics failed"
if ! "$PROMTOOL" check metrics <"$TMP/pitot-metrics.txt"; then
    die "promtool check metrics found problems in Pitot's /metrics (above)"
fi
log "promtool check metrics: clean ($(grep -c '^[a-z]' "$TMP/pitot-metrics.txt") series lines)"
