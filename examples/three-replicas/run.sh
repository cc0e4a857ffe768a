#!/usr/bin/env bash
# Three Portcullis replicas behind nginx (round robin, no sticky sessions),
# sharing state through Redis (append-only file on). Shows: one agent session
# served by all three replicas, a kill switch pulled on replica 1 refusing the
# agent through every replica, a rate limit that holds across the replicas,
# and one `audit verify` over the three replicas' audit directories.
# Expects build/portcullis, nginx, redis-server and the npm packages of
# tests/e2e (scripts/setup.sh and scripts/build.sh prepare them).
#
# Ports: nginx 18100, replicas 18101-18103 (admin 18111-18113), Redis 16390,
# demo CRM 19101 (nginx.conf, redis.conf and portcullis.yaml name them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/build/portcullis"
quick="$repo/examples/quickstart"
export DEMO_RUN="$here/.run"
rm -rf "$DEMO_RUN" && mkdir -p "$DEMO_RUN/redis" "$DEMO_RUN/nginx/tmp"
ln -sfn "$repo/tests/e2e/node_modules" "$quick/node_modules"
command -v nginx >/dev/null || PATH="$PATH:/usr/sbin"

# One session key for all replicas (32 random bytes, hex); one admin token.
export PORTCULLIS_SESSION_KEY=$(openssl rand -hex 32)
ADMIN_TOKEN=$(openssl rand -hex 24)
export ADMIN_TOKEN_SHA256=$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
admin() { curl -sS -H "Authorization: Bearer $ADMIN_TOKEN" "$@"; echo; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() { for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step "Redis (redis.conf: loopback, append-only file) and the demo CRM"
redis-server "$here/redis.conf" --dir "$DEMO_RUN/redis" --logfile "$DEMO_RUN/redis/redis.log" &
pids+=($!)
node "$quick/crm-server.mjs" 19101 >"$DEMO_RUN/crm.log" &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p 16390 ping >/dev/null 2>&1 && break; sleep 0.1; done

step "Three replicas, one config (portcullis.yaml), each with its own PORTCULLIS_INSTANCE"
for i in 1 2 3; do
  mkdir -p "$DEMO_RUN/replica-$i"
  PORTCULLIS_INSTANCE=replica-$i REPLICA_PORT=1810$i ADMIN_PORT=1811$i \
    "$bin" run --config "$here/portcullis.yaml" 2>"$DEMO_RUN/replica-$i/portcullis.log" &
  pids+=($!)
done
for i in 1 2 3; do wait_http "http://127.0.0.1:1810$i/readyz" || { echo "replica $i not ready"; tail "$DEMO_RUN/replica-$i/portcullis.log"; exit 1; }; done
curl -sS "http://127.0.0.1:18101/readyz"; echo

step "nginx on 127.0.0.1:18100, round robin over the three (nginx.conf)"
nginx -p "$DEMO_RUN/nginx" -c "$here/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:18100/readyz"

requests() { grep -c '"msg":"request"' "$DEMO_RUN/replica-$1/portcullis.log" || true; }
step "One agent session through the balancer: consecutive requests land on different replicas"
node "$quick/demo-client.mjs" "http://127.0.0.1:18100/mcp/crm"
echo "requests served: replica-1 $(requests 1), replica-2 $(requests 2), replica-3 $(requests 3)"

step "The rate limit (5 reads a minute per agent) holds across the replicas: the session above read once, so 4 of these 8 reads pass"
for n in $(seq 1 4); do node "$quick/demo-client.mjs" "http://127.0.0.1:18100/mcp/crm" --short; done
for n in $(seq 1 4); do node "$quick/demo-client.mjs" "http://127.0.0.1:18100/mcp/crm" --short; done

step "A kill switch pulled on replica 1's admin API"
admin -X POST "http://127.0.0.1:18111/admin/v1/kill" -d '{"upstream":"crm","reason":"demo: suspicious activity"}'
step "... refuses the agent through the balancer, whichever replica answers"
for n in 1 2 3; do node "$quick/demo-client.mjs" "http://127.0.0.1:18100/mcp/crm" --short || true; done
step "... and replica 3 lists it"
admin "http://127.0.0.1:18113/admin/v1/kill"

step "Lifted on replica 2: lifted everywhere"
id=$(admin "http://127.0.0.1:18112/admin/v1/kill" | python3 -c 'import sys, json; print(json.load(sys.stdin)["kill_switches"][0]["id"])')
admin -X DELETE "http://127.0.0.1:18112/admin/v1/kill/$id"

step "Each replica wrote its own audit chain; one verify over all three"
for p in "${pids[@]:2:3}"; do kill -TERM "$p"; done
sleep 1
"$bin" audit verify "$DEMO_RUN"/replica-{1,2,3}/audit || true
