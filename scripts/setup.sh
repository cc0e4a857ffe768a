#!/usr/bin/env bash
# Installs what Portcullis needs to build, test and benchmark, from Debian 12
# (bookworm) packages only. Safe to run again: it asks dpkg what is already
# installed and calls apt-get (update + install) only when something is
# missing, so on a ready machine it is a quick no-op.
#
#   scripts/setup.sh                  build + test + bench tools
#   scripts/setup.sh --with-chromium  also the browser for the browser tests (the default;
#                                     SETUP_CHROMIUM=0 leaves it out)
#   scripts/setup.sh --check          only report what is missing (exit 1 if any)
#   scripts/setup.sh --verify         also compile a tiny ASan/UBSan program
#
# Environment: SETUP_CHROMIUM=1 is the same as --with-chromium.
# Runs as root, or through `sudo -n` when not root and sudo exists. Never
# reads stdin (DEBIAN_FRONTEND=noninteractive, apt-get -y).
set -euo pipefail

with_chromium=${SETUP_CHROMIUM:-1}  # the admin page is tested in headless Chromium
check_only=0
verify=0
for arg in "$@"; do
  case "$arg" in
    --with-chromium) with_chromium=1 ;;
    --check) check_only=1 ;;
    --verify) verify=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }

# Node.js: the end-to-end suite (tests/e2e, MCP TypeScript SDK + jose +
# oidc-provider) declares node >= 20. Debian 12 ships nodejs 18.x, so when
# node is missing or older we install Debian's nodejs + npm and then, if that
# is still < 20, Node 20 from the npm registry (the `node` package ships the
# official binary) into /usr/local.
NODE_MIN_MAJOR=20

# One entry per package; a comment says why it is needed.
packages=(
  g++                   # compiler (gcc 12; brings libasan8/libubsan1 for -fsanitize)
  cmake                 # meson finds doctest through its CMake config
  meson
  ninja-build
  pkg-config
  libboost1.81-dev      # Beast/Asio header-only (libboost-dev is 1.74: too old)
  libssl-dev
  nlohmann-json3-dev
  libyaml-cpp-dev
  doctest-dev
  libre2-dev
  libjemalloc-dev       # the gateway binary's allocator (README: about 10 % less CPU per request than glibc malloc)
  prometheus-cpp-dev
  clang                 # second compiler (CC=clang CXX=clang++ builds)
  libclang-rt-14-dev    # clang's sanitizer runtimes (g++ does not need it)
  nginx-light           # bench baseline proxy and null upstream; load balancer of the replica tests
  wrk                   # load generator (bench)
  redis-server          # state: redis (replicas share state); its unit and e2e tests start their own
  libhiredis-dev        # Redis client library (gateway/redis_client.cc)
  curl
  ca-certificates
  python3
  python3-jwt           # e2e token minting fallback (Debian python only)
  python3-cryptography
  procps                # ps, pgrep used by scripts
  util-linux            # taskset (bench)
  git
)
if [[ $with_chromium == 1 ]]; then
  packages+=(chromium)
fi

installed() {
  # db:Status-Status is "installed" only for fully installed packages.
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  local v
  v=$(node --version 2>/dev/null || echo v0)
  v=${v#v}
  echo "${v%%.*}"
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "error: dpkg/apt-get not found; this script supports Debian 12 only" >&2
  exit 1
fi
if [[ -r /etc/debian_version ]]; then
  case "$(cat /etc/debian_version)" in
    12*|bookworm*) ;;
    *) say "warning: Debian $(cat /etc/debian_version) is not Debian 12; package names may differ" ;;
  esac
fi

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

nmajor=$(node_major)
need_node20=0
if (( nmajor < NODE_MIN_MAJOR )); then
  if (( nmajor == 0 )); then
    say "node: missing"
  else
    say "node: v$nmajor is older than $NODE_MIN_MAJOR"
  fi
  # Debian's nodejs gives us npm, which then fetches Node 20 from npm.
  installed nodejs || missing+=(nodejs)
  installed npm || command -v npm >/dev/null 2>&1 || missing+=(npm)
  need_node20=1
else
  say "node: $(node --version) ok (>= $NODE_MIN_MAJOR)"
  if ! command -v npm >/dev/null 2>&1; then
    # A node without npm: add Debian's npm unless node came from elsewhere
    # (a NodeSource build bundles its own npm and conflicts with Debian's).
    if installed nodejs && [[ "$(dpkg-query -W -f='${Version}' nodejs)" != *nodesource* ]]; then
      missing+=(npm)
    else
      say "warning: npm not found next to node $(node --version); install it with that node's distribution"
    fi
  fi
fi

if (( ${#missing[@]} == 0 )); then
  say "packages: all ${#packages[@]} present"
else
  say "packages: missing ${#missing[@]}: ${missing[*]}"
fi

if [[ $check_only == 1 ]]; then
  (( ${#missing[@]} == 0 && need_node20 == 0 )) && exit 0 || exit 1
fi

# Privileges: root runs apt-get directly; otherwise sudo without a password
# prompt (there is no stdin to answer one).
as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    say "error: not root and sudo is not installed; run as root: $*" >&2
    return 1
  fi
}

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

if (( ${#missing[@]} > 0 )); then
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 update </dev/null >/tmp/portcullis-setup-apt.log 2>&1 \
    || { tail -n 20 /tmp/portcullis-setup-apt.log >&2; say "error: apt-get update failed" >&2; exit 1; }
  say "apt-get install ${missing[*]}"
  # --no-install-recommends keeps the install lean (clang would pull llvm-dev,
  # nginx the full module set, ...); everything we use is a hard dependency.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" \
    </dev/null >>/tmp/portcullis-setup-apt.log 2>&1 \
    || { tail -n 30 /tmp/portcullis-setup-apt.log >&2; say "error: apt-get install failed (log: /tmp/portcullis-setup-apt.log)" >&2; exit 1; }
  still=()
  for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
  if (( ${#still[@]} > 0 )); then
    say "error: still missing after install: ${still[*]}" >&2
    exit 1
  fi
  say "installed ${#missing[@]} package(s)"
  # Installing nginx-light / redis-server may start their system services
  # (nginx on :80, redis on :6379) where an init system runs; the tests and
  # the bench start their own instances on other ports and do not need them.
  verify=1
fi

if (( need_node20 == 1 )); then
  nmajor=$(node_major)
  if (( nmajor < NODE_MIN_MAJOR )); then
    say "node: installing Node $NODE_MIN_MAJOR from the npm registry into /usr/local (Debian has v$nmajor)"
    as_root npm install --global --no-fund --no-audit --loglevel=error "node@$NODE_MIN_MAJOR" </dev/null
    hash -r
    nmajor=$(node_major)
    if (( nmajor < NODE_MIN_MAJOR )); then
      say "error: node is still v$nmajor after installing node@$NODE_MIN_MAJOR (is /usr/local/bin before /usr/bin in PATH?)" >&2
      exit 1
    fi
  fi
  say "node: $(node --version), npm $(npm --version)"
fi

if [[ $verify == 1 ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  printf '#include <vector>\nint main(){ std::vector<int> v{1,2,3}; return v[1] - 2; }\n' >"$tmp/t.cc"
  if g++ -std=c++20 -fsanitize=address,undefined -o "$tmp/t" "$tmp/t.cc" && ASAN_OPTIONS=detect_leaks=1 "$tmp/t"; then
    say "verify: g++ $(g++ -dumpfullversion) builds and runs -fsanitize=address,undefined"
  else
    say "error: g++ cannot build/run an ASan/UBSan program" >&2
    exit 1
  fi
fi

say "done"
