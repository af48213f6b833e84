#!/usr/bin/env bash
# The README's quick start, walked end to end as a new user would: a fresh directory,
# `pitot serve` started there as step 1 says (data under ./data), then every ```sh block
# of the "## Quick start" section run in order, as written, with bash. Each `curl` must
# answer 2xx (the script adds --fail-with-body) and each `pitot` command must succeed,
# so the README cannot drift from the binary. What the script changes before running the
# blocks, and why, is listed in `substitute` below; the files the README's commands name
# (tests.yml, rules/*.yml) are written first, and a webhook listens on 127.0.0.1:9000.
#
# Run from anywhere:  bash tests/quickstart/run.sh
# Environment: PITOT_BIN (default target/release/pitot, built when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
BIN=${PITOT_BIN:-$ROOT/target/release/pitot}
log() { printf '[quickstart %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; exit 1; }

if [[ ! -x $BIN ]]; then
    log "building the release binary"
    cargo build --release -p pitot
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n ${QUICKSTART_KEEP_TMP:-} ]] && log "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

# A free port for the server (the README's 7486 may be taken on a shared machine).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# --- the blocks ----------------------------------------------------------------------
python3 - "$ROOT/README.md" >"$WORK/blocks.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
start = text.index("## Quick start")
end = text.index("\n## ", start + 1)
section = text[start:end]
blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
for i, block in enumerate(blocks, 1):
    lines = [l[3:] if l.startswith("   ") else l for l in block.splitlines()]
    print(f'echo "--- block {i}"')
    print("\n".join(lines))
PY
[[ $(grep -c '^echo "--- block' "$WORK/blocks.sh") -ge 6 ]] || die "found fewer than 6 sh blocks in the README's quick start"

# What the blocks cannot run as written, and what runs instead:
# - the README's address, on this run's port;
# - `<id>`: the id of the newest active token named `prometheus`;
# - `[--tenant team-b]`: an optional argument, given;
# - `pitot tenant create team-b` and the CLI's token for it: the CLI block is the
#   alternative to the curl block before it, which already created team-b, so the CLI
#   block works on team-c.
substitute() {
    sed -e "s/127\.0\.0\.1:7486/127.0.0.1:$PORT/g" \
        -e 's/<id>/$(newest_prometheus_token)/g' \
        -e 's/\[--tenant team-b\]/--tenant team-b/g' \
        -e 's/^pitot tenant create team-b$/pitot tenant create team-c/' \
        -e 's/^pitot token create --tenant team-b /pitot token create --tenant team-c /'
}
substitute <"$WORK/blocks.sh" >"$WORK/steps.sh"

# --- the files and the webhook the commands name --------------------------------------
cd "$WORK"
mkdir -p bin rules
ln -s "$BIN" bin/pitot
cat >rules/queue.yml <<'YAML'
groups:
  - name: queue
    interval: 30s
    rules:
      - alert: QueueTooDeep
        expr: queue_depth > 100
        for: 1m
YAML
cat >tests.yml <<'YAML'
rule_files: [rules/queue.yml]
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
      - series: 'queue_depth{instance="a"}'
        values: '200x10'
    alert_rule_test:
      - eval_time: 2m
        alertname: QueueTooDeep
        exp_alerts:
          - exp_labels: {instance: a}
YAML
python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", 9000), H).serve_forever()
' &
PIDS+=($!)

# --- step 1: start Pitot in the fresh directory ---------------------------------------
log "starting pitot serve in $WORK on port $PORT"
"$BIN" serve --listen "127.0.0.1:$PORT" --egress-allow 127.0.0.1/32 >"$WORK/pitot.stdout" 2>"$WORK/pitot.stderr" &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q "pitot listening on" "$WORK/pitot.stdout" 2>/dev/null && break
    sleep 0.1
done
grep -q "pitot listening on" "$WORK/pitot.stdout" || { cat "$WORK/pitot.stderr"; die "pitot did not start"; }

# --- the steps ----------------------------------------------------------------------
cat >"$WORK/prelude.sh" <<PRELUDE
set -euo pipefail
export PATH="$WORK/bin:\$PATH"
export PITOT_ADDRESS="http://127.0.0.1:$PORT"
curl() { command curl --fail-with-body --show-error "\$@"; echo; }
newest_prometheus_token() {
    command curl -s -H "Authorization: Bearer \$PLATFORM" "http://127.0.0.1:$PORT/api/pitot/v1/tokens" |
        python3 -c 'import json, sys
tokens = [t for t in json.load(sys.stdin) if t.get("name") == "prometheus" and not t.get("revoked_at")]
print(tokens[-1]["id"])'
}
PRELUDE
log "running $(grep -c '^echo "--- block' "$WORK/steps.sh") blocks of the README's quick start"
if ! bash -c "source '$WORK/prelude.sh'; source '$WORK/steps.sh'" >"$WORK/steps.out" 2>&1; then
    tail -n 30 "$WORK/steps.out"
    die "a command of the README's quick start failed (its output is above; the last block shown is where)"
fi
grep '^--- block' "$WORK/steps.out" | tr '\n' ' '; echo
log "PASS: every command of the README's quick start succeeded"
