#!/usr/bin/env bash
# Runs the quickstart: the demo CRM MCP server, Portcullis in front of it with
# a policy, the audit log and the admin API, and an MCP client (the agent)
# calling through it. Shows an allowed call, denied calls, the audit trail
# (verified, and an edited copy caught) and the kill switch. Expects build/portcullis and the npm packages of tests/e2e
# (scripts/demo.sh prepares both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="${PORTCULLIS_BIN:-$repo/build/portcullis}"
export DEMO_RUN="${DEMO_RUN:-$here/.run}"  # emptied first: give it a directory of its own
rm -rf "$DEMO_RUN" && mkdir -p "$DEMO_RUN"
# The demo's scripts use the SDK installed for the end-to-end tests.
ln -sfn "$repo/tests/e2e/node_modules" "$here/node_modules"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export CRM_PORT=${CRM_PORT:-$(free_port)}
export PORTCULLIS_PORT=${PORTCULLIS_PORT:-$(free_port)}
export ADMIN_PORT=${ADMIN_PORT:-$(free_port)}
ADMIN_TOKEN=$(openssl rand -hex 24)
export ADMIN_TOKEN_SHA256=$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
admin() { curl -sS -H "Authorization: Bearer $ADMIN_TOKEN" "$@"; echo; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step "The embedded vault holds the audit log's Ed25519 signing key (the public half goes to the auditor)"
"$bin" vault init --config "$here/portcullis.yaml"
openssl genpkey -algorithm ed25519 -out "$DEMO_RUN/audit-signing.pem" 2>/dev/null
openssl pkey -in "$DEMO_RUN/audit-signing.pem" -pubout -out "$DEMO_RUN/audit-signing.pub.pem"
"$bin" vault put audit-signing-key --config "$here/portcullis.yaml" <"$DEMO_RUN/audit-signing.pem"
rm -f "$DEMO_RUN/audit-signing.pem"  # only the vault keeps the private key
"$bin" vault list --config "$here/portcullis.yaml"

step "portcullis check: the config and the policy's own tests"
"$bin" check --config "$here/portcullis.yaml"

node "$here/crm-server.mjs" "$CRM_PORT" &
pids+=($!)
"$bin" run --config "$here/portcullis.yaml" 2>"$DEMO_RUN/portcullis.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORTCULLIS_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
step "Portcullis on 127.0.0.1:$PORTCULLIS_PORT routes /mcp/crm to the CRM (port $CRM_PORT); admin API on $ADMIN_PORT"
sleep 0.3

step "An agent calls through Portcullis (allowed, then denied by policy)"
node "$here/demo-client.mjs" "http://127.0.0.1:$PORTCULLIS_PORT/mcp/crm"

step "The audit trail: one durable, hash-chained decision record per call (portcullis audit tail)"
"$bin" audit tail "$DEMO_RUN/audit" --limit 8 | python3 "$here/show-audit.py"
step "portcullis audit verify: the chain and its signed checkpoints are intact (key pinned by the auditor)"
sleep 1.5  # checkpoint_every.interval: a signed checkpoint follows the calls
"$bin" audit verify "$DEMO_RUN/audit" --pubkey "$DEMO_RUN/audit-signing.pub.pem" || true

step "Tampering is caught: an edited copy of the log fails verification at the edited record"
rm -rf "$DEMO_RUN/audit-tampered" && cp -r "$DEMO_RUN/audit" "$DEMO_RUN/audit-tampered"
seg=$(ls "$DEMO_RUN/audit-tampered"/audit-*.log | head -n1)
sed -i '0,/"decision":"deny"/s//"decision":"allow"/' "$seg"  # turn the first deny into an allow
"$bin" audit verify "$DEMO_RUN/audit-tampered" --pubkey "$DEMO_RUN/audit-signing.pub.pem" || true

step "Kill switch: an operator stops every call to the CRM"
admin -X POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/kill" -d '{"upstream":"crm","reason":"demo: suspicious activity"}'
node "$here/demo-client.mjs" "http://127.0.0.1:$PORTCULLIS_PORT/mcp/crm" --short || true

step "Lifting the kill switch restores service"
id=$(admin "http://127.0.0.1:$ADMIN_PORT/admin/v1/kill" | python3 -c 'import sys, json; d=json.load(sys.stdin); print((d.get("kill_switches") or d if isinstance(d, list) else d.get("kill_switches", []))[0]["id"])')
admin -X DELETE "http://127.0.0.1:$ADMIN_PORT/admin/v1/kill/$id"
node "$here/demo-client.mjs" "http://127.0.0.1:$PORTCULLIS_PORT/mcp/crm" --short

step "What the upstream never saw: the agent's Authorization header (see '[crm] ... authorization header seen: false' above)"
