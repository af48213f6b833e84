#!/usr/bin/env bash
# Interop test with a real Prometheus Alertmanager (Debian 12's `prometheus-alertmanager`
# package, 0.25) and its `amtool`:
#   1. Pitot's ruler sends alerts to the real Alertmanager over its API v2, which
#      notifies a local webhook;
#   2. amtool lists the same alert in Pitot's own Alertmanager, and adds, lists and
#      expires a silence there.
#
#     tests/interop/alertmanager.sh
#
# Needs: bash, python3 (stdlib), curl, apt-get (if the package is missing), cargo
# (unless PITOT_BIN points at a built binary).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '[alertmanager-interop] %s\n' "$*"; }
fail() { log "FAIL: $*"; exit 1; }

if ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then
    log "installing Debian's prometheus-alertmanager package"
    if ! apt-get install -y --no-install-recommends prometheus-alertmanager >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends prometheus-alertmanager >/dev/null
    fi
fi
bin=${PITOT_BIN:-$root/target/release/pitot}
[ -x "$bin" ] || cargo build --release -p pitot --manifest-path "$root/Cargo.toml"

work=$(mktemp -d /tmp/pitot-am-interop-XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
am_port=$(port); pitot_port=$(port); hook_port=$(port)

# A webhook that appends every notification body to hook.jsonl.
python3 - "$hook_port" "$work/hook.jsonl" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)

cat > "$work/am.yml" <<YAML
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$hook_port/
YAML
prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$work/am.log" 2>&1 &
pids+=($!)

"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$pitot_port" \
    --rules-alertmanager-url "http://127.0.0.1:$am_port" >"$work/pitot.out" 2>"$work/pitot.err" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/pitot.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$work/pitot.out" || fail "pitot did not start: $(cat "$work/pitot.err")"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$am_port/-/ready" >/dev/null && break; sleep 0.1; done
token=$(cat "$work/data/initial-token")
pitot="http://127.0.0.1:$pitot_port"

log "uploading a rule group that always fires"
curl -sf -XPOST -H "Authorization: Bearer $token" "$pitot/prometheus/config/v1/rules/interop" --data-binary @- <<'YAML' >/dev/null
name: interop
interval: 1s
rules:
  - alert: InteropAlert
    expr: vector(1)
    labels:
      severity: info
    annotations:
      summary: "sent by Pitot's ruler"
YAML

log "waiting for the real Alertmanager to notify the webhook"
for _ in $(seq 150); do grep -q InteropAlert "$work/hook.jsonl" 2>/dev/null && break; sleep 0.2; done
grep -q InteropAlert "$work/hook.jsonl" 2>/dev/null || fail "no notification from the real Alertmanager; its log: $(tail -5 "$work/am.log")"
curl -sf "http://127.0.0.1:$am_port/api/v2/alerts" | grep -q '"summary":"sent by Pitot'"'"'s ruler"' \
    || fail "the real Alertmanager does not list the alert with its annotation"
log "real Alertmanager received and notified the alert"

printf 'authorization:\n  credentials: %s\n' "$token" > "$work/http.yml"
am=(amtool --alertmanager.url="$pitot/alertmanager" --http.config.file="$work/http.yml")
for _ in $(seq 50); do "${am[@]}" alert query 2>/dev/null | grep -q InteropAlert && break; sleep 0.2; done
"${am[@]}" alert query | grep -q InteropAlert || fail "amtool does not list the alert in Pitot's Alertmanager"
id=$("${am[@]}" silence add alertname=InteropAlert --comment="interop test" --duration=1h)
[ -n "$id" ] || fail "amtool silence add returned no id"
"${am[@]}" silence query | grep -q "$id" || fail "amtool silence query does not show $id"
"${am[@]}" silence expire "$id"
if "${am[@]}" silence query | grep -q "$id"; then fail "silence $id still active after expire"; fi
log "amtool listed the alert and added, listed and expired silence $id in Pitot's Alertmanager"
log "PASS"
