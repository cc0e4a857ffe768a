#!/usr/bin/env bash
# Runs the quickstart: the demo CRM MCP server, Portcullis in front of it, and
# an MCP client (the agent) calling through it. Expects build/portcullis and
# the npm packages of tests/e2e (scripts/demo.sh prepares both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
run="$here/.run"
mkdir -p "$run"
# The demo's scripts use the SDK installed for the end-to-end tests.
ln -sfn "$repo/tests/e2e/node_modules" "$here/node_modules"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export CRM_PORT=${CRM_PORT:-$(free_port)}
export PORTCULLIS_PORT=${PORTCULLIS_PORT:-$(free_port)}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

node "$here/crm-server.mjs" "$CRM_PORT" &
pids+=($!)
"$repo/build/portcullis" run --config "$here/portcullis.yaml" 2>"$run/portcullis.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORTCULLIS_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "== Portcullis listening on 127.0.0.1:$PORTCULLIS_PORT, routing /mcp/crm to the CRM on port $CRM_PORT"
sleep 0.3
node "$here/demo-client.mjs" "http://127.0.0.1:$PORTCULLIS_PORT/mcp/crm"
sleep 0.2
echo
echo "== What Portcullis logged (request lines from $run/portcullis.log):"
grep '"msg":"request"' "$run/portcullis.log" | head -20 || true
