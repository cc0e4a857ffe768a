#!/usr/bin/env bash
# Configures (once) and builds Portcullis with Meson + Ninja.
#
#   scripts/build.sh                 release build in build/       -> build/portcullis
#   scripts/build.sh --asan          ASan+UBSan build in build-asan/ -> build-asan/portcullis
#   scripts/build.sh --reconfigure   re-run `meson setup --reconfigure` first
#   scripts/build.sh --wipe          start the build dir from scratch
#
# Environment:
#   BUILD_DIR        build dir of the release build (default: build)
#   ASAN_BUILD_DIR   build dir of the sanitizer build (default: build-asan)
#   MESON_ARGS       extra arguments for `meson setup` (e.g. -Dtests=false)
#   NINJA_ARGS       extra arguments for ninja (e.g. -j1, or target names)
#   ASAN_FULL=1      build every target in the sanitizer build (default: only
#                    the portcullis binary and the unit-test executables)
#
# A configured build dir is not set up again: ninja re-runs meson by itself
# when a meson.build changes. Ninja's default parallelism (cores + 2) is right
# for the 2-core CI machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

asan=0
reconfigure=0
wipe=0
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    --reconfigure) reconfigure=1 ;;
    --wipe) wipe=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if [[ $asan == 1 ]]; then
  dir=${ASAN_BUILD_DIR:-build-asan}
  # -O1 -g1 (line tables): fast enough to run the e2e suite, and stack traces
  # with file:line. UBSan's vptr check is left out: with Beast's coroutine
  # code it tripled the compile time and memory of a gateway translation unit
  # (proxy.cc: 376 s -> 1,094 s, 3.4 -> 5.2 GB on a loaded 2-core machine),
  # and it guards against a bug class (a call through the wrong dynamic type)
  # this code base has little of; alignment is left out as it means nothing
  # on x86-64. Every other UBSan check stays on, as does ASan (with LSan).
  # b_lundef=false is required by meson with sanitizers.
  setup_args=(-Dbuildtype=plain -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false
              "-Dcpp_args=['-g1', '-fno-sanitize=vptr,alignment']")
else
  dir=${BUILD_DIR:-build}
  setup_args=(-Dbuildtype=release)
fi
# shellcheck disable=SC2206
extra_setup=(${MESON_ARGS:-})
# shellcheck disable=SC2206
extra_ninja=(${NINJA_ARGS:-})

say() { printf 'build: %s\n' "$*"; }

configured() { [[ -f "$dir/meson-private/coredata.dat" && -f "$dir/build.ninja" ]]; }

start=$SECONDS
if [[ $wipe == 1 && -d "$dir" ]]; then
  say "wiping $dir"
  rm -rf "$dir"
fi
if ! configured; then
  if [[ -e "$dir" && -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
    # A half-made build dir (interrupted setup): meson refuses it; --wipe
    # regenerates it from the options it can still read, else start over.
    say "$dir exists but is not a configured build dir; recreating it"
    rm -rf "$dir"
  fi
  say "meson setup $dir ${setup_args[*]} ${extra_setup[*]}"
  meson setup "$dir" "${setup_args[@]}" "${extra_setup[@]}" </dev/null
elif [[ $reconfigure == 1 || ${#extra_setup[@]} -gt 0 ]]; then
  say "meson setup --reconfigure $dir"
  meson setup --reconfigure "$dir" "${setup_args[@]}" "${extra_setup[@]}" </dev/null
else
  say "$dir already configured"
fi

# The sanitizer build is lean: only the gateway binary and the unit-test
# executables (and what they link), not benchmarks or tools that other
# directories may add. NINJA_ARGS, when set, chooses the targets instead.
if [[ $asan == 1 && ${#extra_ninja[@]} -eq 0 && ${ASAN_FULL:-0} != 1 ]]; then
  # regenerate first when a meson.build changed, so the introspection is current
  ninja -C "$dir" build.ninja </dev/null >/dev/null
  mapfile -t lean < <(/usr/bin/python3 - "$dir" <<'PY' 2>/dev/null || true
import json, os, subprocess, sys
d = os.path.abspath(sys.argv[1])
def intro(what):
    return json.loads(subprocess.run(["meson", "introspect", d, what], check=True,
                                     capture_output=True, text=True).stdout)
want = set()
for t in intro("--targets"):
    for f in t.get("filename", []):
        if t.get("type") == "executable" and os.path.basename(f) == "portcullis":
            want.add(f)
for t in intro("--tests"):
    if any(s.split(":")[-1] == "unit" for s in t.get("suite", [])) and t["cmd"][0].startswith(d + "/"):
        want.add(t["cmd"][0])
for f in sorted(want):
    print(os.path.relpath(f, d))
PY
  )
  if (( ${#lean[@]} > 0 )); then
    extra_ninja=("${lean[@]}")
  fi
fi

say "ninja -C $dir ${extra_ninja[*]}"
ninja -C "$dir" "${extra_ninja[@]}" </dev/null
say "ok: $dir in $((SECONDS - start)) s"
