#!/usr/bin/env bash
# The official MCP conformance suite (server mode) through the Portcullis
# gateway, against this project's own fixture upstream (fixture-server.mjs).
#
# Installs the pinned packages of this folder when needed (`npm ci`, when
# node_modules is missing or package-lock.json changed since the last install;
# the `node` package brings the Node 22 the suite needs), then runs run.mjs
# with that Node: fixture, gateway on 127.0.0.1 (route /mcp/conformance,
# auth: none), `conformance server --url http://localhost:<port>/mcp/conformance`.
# Prints the suite's output and SUMMARY; exits non-zero when a check failed.
#
#   tests/e2e/conformance/run.sh                                   # the active suite
#   tests/e2e/conformance/run.sh --scenario tools-call-sampling    # args go to `conformance server`
#   tests/e2e/conformance/run.sh --suite pending
#   CONFORMANCE_DIRECT=1 tests/e2e/conformance/run.sh              # no gateway (fixture check)
#   PORTCULLIS_BIN=/path/portcullis tests/e2e/conformance/run.sh
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.conformance-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "conformance: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error </dev/null >&2
  echo "$want" >"$stamp"
fi

# Temp configs, logs and the suite's results go to tests/e2e/.tmp/run-<pid>/
# (tests/e2e/run.sh passes its own E2E_TMP_DIR down; it removes the dirs of
# finished runs).
if [ -z "${E2E_TMP_DIR:-}" ]; then
  export E2E_TMP_DIR=".tmp/run-$$"
fi

exec node_modules/.bin/node run.mjs "$@" </dev/null
