#!/usr/bin/env bash
# The one test command (README, CI): installs what is missing, builds, and
# runs every suite, both on the release build and on the ASan+UBSan build.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --no-asan  skip the sanitizer build and its runs (local, quicker)
#   scripts/test.sh --no-e2e   skip the end-to-end suite
#
# Stages, in order; a failing stage does not stop the run (stages that need
# its output are skipped), so one run reports everything:
#   setup       scripts/setup.sh
#   build       scripts/build.sh                       -> build/portcullis
#   unit        meson test -C build --suite unit
#   build-asan  scripts/build.sh --asan                 -> build-asan/portcullis
#   unit-asan   meson test -C build-asan --suite unit   (leaks, UB are errors)
#   e2e         tests/e2e/run.sh  with PORTCULLIS_BIN=build/portcullis
#   e2e-asan    tests/e2e/run.sh  with PORTCULLIS_BIN=build-asan/portcullis
# Prints a summary table and a closing `stages: N passed, N failed` line;
# exits 1 if any stage failed.
#
# Environment: BUILD_DIR, ASAN_BUILD_DIR (as for build.sh); STAGE_TIMEOUT_*
# (seconds) bound each stage so a hung test cannot eat the CI budget, and
# TEST_BUDGET (default 5100 s) bounds the whole run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

run_asan=1
run_e2e=1
for arg in "$@"; do
  case "$arg" in
    --no-asan) run_asan=0 ;;
    --no-e2e) run_e2e=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "test: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

BUDGET=${TEST_BUDGET:-5100}  # seconds for the whole run (CI allows 5400)
export BUILD_DIR=${BUILD_DIR:-build}
export ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
export CI=${CI:-}
# Sanitizer settings for every sanitized process started below (unit tests,
# the gateway under e2e): a leak, an ASan report or any UB fails the run.
asan_env=(
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
  "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  "LSAN_OPTIONS=print_suppressions=0"
)

names=()
results=()
times=()
notes=()
failed=0
passed=0
skipped=0
declare -A status=()

banner() { printf '\n==== %s ====\n' "$*"; }

# record NAME RESULT SECONDS NOTE
record() {
  names+=("$1"); results+=("$2"); times+=("$3"); notes+=("$4")
  status[$1]=$2
  case "$2" in
    PASS) passed=$((passed + 1)) ;;
    FAIL) failed=$((failed + 1)) ;;
    *) skipped=$((skipped + 1)) ;;
  esac
}

# stage NAME TIMEOUT_SECONDS NOTE -- COMMAND...
# Runs COMMAND with no stdin under a timeout (the whole process group is
# killed when it expires), records PASS/FAIL and never aborts the script.
stage() {
  local name=$1 limit=$2 note=$3
  shift 4
  # Never run past the overall budget: the summary must still be printed
  # before CI's own limit ends the run.
  local left=$((BUDGET - SECONDS - 30))
  if (( left < 60 )); then
    banner "$name: not run (time budget of ${BUDGET}s used up)"
    record "$name" FAIL 0 "not run: time budget used up"
    return 0
  fi
  (( limit > left )) && limit=$left
  banner "$name: $*"
  local t0=$SECONDS rc=0
  set +e
  timeout --kill-after=20 "$limit" "$@" </dev/null
  rc=$?
  set -e
  local dt=$((SECONDS - t0))
  if [[ $rc == 0 ]]; then
    record "$name" PASS "$dt" "$note"
  else
    if [[ $rc == 124 || $rc == 137 ]]; then note="timed out after ${limit}s; $note"; else note="exit $rc; $note"; fi
    record "$name" FAIL "$dt" "$note"
  fi
}

skip() { banner "$1: skipped ($2)"; record "$1" SKIP 0 "$2"; }

ok() { [[ ${status[$1]:-} == PASS ]]; }

# --- setup -------------------------------------------------------------------
stage setup "${STAGE_TIMEOUT_SETUP:-900}" "scripts/setup.sh" -- scripts/setup.sh

# --- release build + unit tests ------------------------------------------------
if ok setup; then
  stage build "${STAGE_TIMEOUT_BUILD:-2400}" "$BUILD_DIR (release)" -- scripts/build.sh
else
  skip build "setup failed"
fi
if ok build; then
  stage unit "${STAGE_TIMEOUT_UNIT:-600}" "meson test --suite unit" -- \
    meson test -C "$BUILD_DIR" --suite unit --print-errorlogs
else
  skip unit "build failed"
fi

# --- sanitizer build + unit tests ----------------------------------------------
if [[ $run_asan == 0 ]]; then
  skip build-asan "--no-asan"
  skip unit-asan "--no-asan"
else
  if ok setup; then
    stage build-asan "${STAGE_TIMEOUT_BUILD:-2400}" "$ASAN_BUILD_DIR (asan+ubsan)" -- scripts/build.sh --asan
  else
    skip build-asan "setup failed"
  fi
  if ok build-asan; then
    stage unit-asan "${STAGE_TIMEOUT_UNIT:-600}" "meson test --suite unit, ASan+UBSan" -- \
      env "${asan_env[@]}" meson test -C "$ASAN_BUILD_DIR" --suite unit --print-errorlogs
  else
    skip unit-asan "build-asan failed"
  fi
fi

# --- end-to-end ----------------------------------------------------------------
e2e=tests/e2e/run.sh
e2e_stage() {  # NAME BUILD_STAGE BINARY [ENV...]
  local name=$1 build_stage=$2 bin=$3
  shift 3
  if [[ $run_e2e == 0 ]]; then
    skip "$name" "--no-e2e"
  elif [[ ! -f $e2e ]]; then
    skip "$name" "$e2e not present yet"
  elif ! ok "$build_stage"; then
    skip "$name" "$build_stage failed"
  elif [[ ! -x $bin ]]; then
    record "$name" FAIL 0 "$bin not built"
  else
    stage "$name" "${STAGE_TIMEOUT_E2E:-1200}" "PORTCULLIS_BIN=$bin" -- \
      env "PORTCULLIS_BIN=$root/$bin" "${e2e_env[@]}" bash "$e2e" "${e2e_files[@]}"
  fi
}
e2e_env=()
e2e_files=()
e2e_stage e2e build "$BUILD_DIR/portcullis"
if [[ $run_asan == 1 ]]; then
  # The sanitizer build runs the suites that drive the data path hardest
  # (streams, hostile input, policy, audit, credentials, 2026-07-28), not the slow
  # browser, crash-loop and conformance suites: CI has 30 minutes.
  e2e_env=("${asan_env[@]}")
  e2e_files=(proxy.test.mjs hostile.test.mjs lifecycle.test.mjs policy.test.mjs credentials.test.mjs ops.test.mjs mcp2026.test.mjs legacy-sse.test.mjs)
  e2e_stage e2e-asan build-asan "$ASAN_BUILD_DIR/portcullis"
else
  skip e2e-asan "--no-asan"
fi

# --- summary -------------------------------------------------------------------
banner summary
printf '%-11s %-5s %6s  %s\n' stage result time note
printf '%-11s %-5s %6s  %s\n' ----- ------ ---- ----
for i in "${!names[@]}"; do
  printf '%-11s %-5s %5ss  %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${notes[$i]}"
done
printf '%-11s %-5s %5ss\n' total "" "$SECONDS"
echo
if (( skipped > 0 )); then
  echo "stages: $passed passed, $failed failed, $skipped skipped"
else
  echo "stages: $passed passed, $failed failed"
fi
(( failed == 0 ))
