#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# quickstart demo on its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
(cd tests/e2e && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; })
exec examples/quickstart/run.sh
