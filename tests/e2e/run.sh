#!/usr/bin/env bash
# Runs the end-to-end suite: installs the pinned harness dependencies when
# needed (`npm ci`, when node_modules is missing or package-lock.json changed
# since the last install), then `node --test` over tests/e2e/*.test.mjs, one
# file at a time. The exit code is node's.
#
#   tests/e2e/run.sh                     # all files
#   tests/e2e/run.sh proxy.test.mjs      # some files (relative to tests/e2e)
#   DIRECT=1 tests/e2e/run.sh            # no gateway: against the upstream fixture only
#   PORTCULLIS_BIN=/path/to/portcullis tests/e2e/run.sh   # default <repo>/build/portcullis
#   E2E_VERBOSE=1 ...                    # echo the gateway's and fixtures' stderr
#   E2E_NODE_TEST_FLAGS="--test-name-pattern=slowloris" ...
#   E2E_REPORTER=tap ...                 # node --test reporter (default spec)
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.e2e-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "e2e: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error </dev/null >&2
  echo "$want" >"$stamp"
fi

# Temp configs and logs of this run go to .tmp/run-<pid>/ (kept for
# inspection); remove those of earlier runs whose process is gone, never
# those of a run still going on in this checkout.
mkdir -p .tmp
for d in .tmp/run-*; do
  [ -d "$d" ] || continue
  pid=${d##*/run-}
  if ! kill -0 "$pid" 2>/dev/null; then rm -rf "$d"; fi
done
export E2E_TMP_DIR=".tmp/run-$$"
mkdir -p "$E2E_TMP_DIR"
echo "e2e: temp files and gateway logs in tests/e2e/$E2E_TMP_DIR" >&2

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=(*.test.mjs)
fi

set +e
# shellcheck disable=SC2086
node --test --test-concurrency=1 --test-reporter="${E2E_REPORTER:-spec}" ${E2E_NODE_TEST_FLAGS:-} "${files[@]}" </dev/null
rc=$?
set -e
exit "$rc"
