#!/usr/bin/env bash
# Portcullis benchmark: one command, not part of the tests. See bench/README.md.
#
#   bench/run.sh
#
# Phases
#   1 throughput   wrk closed loop against (a) the null upstream directly,
#                  (b) nginx proxying to it, (c) Portcullis proxying to it;
#                  BENCH_RUNS x BENCH_DURATION s each, medians reported.
#   2 latency      the same three at half of Portcullis's max rate (paced wrk),
#                  p99 added by each proxy over direct.
#   3 variants     Portcullis with extra config (JWT, audit, policy, ...):
#                  phases 1 and 2 for each; see `variants` near the end.
#   4 memory       RSS of Portcullis (and nginx for reference) idle, with 1,000
#                  idle keep-alive connections, with 1,000 open SSE streams.
#   5 ratios       each feature's cost (audit, policy) as a ratio of two
#                  configs run side by side and measured in alternation,
#                  BENCH_PAIR_ROUNDS rounds; the targets' verdicts use these.
# Prints tables and writes bench/results/<date>.md (gitignored).
#
# Environment (defaults in brackets)
#   BENCH_DURATION [10]     seconds per measured run
#   BENCH_RUNS [3]          measured runs per target (median reported)
#   BENCH_WARMUP [2]        seconds of unmeasured warm-up per target
#   BENCH_CONNECTIONS [32]  wrk connections in phase 1
#   BENCH_SATURATE_CONNECTIONS [256] connections for the @sat rows of phase 3
#   BENCH_PACE_MS [4]       mean per-connection think time in phase 2
#   BENCH_MEM_CONNS [1000]  connections / streams in phase 4
#   BENCH_PHASES [throughput latency variants memory ratios]
#   BENCH_PAIR_ROUNDS [5]   rounds of phase 5
#   BENCH_PAIR_DURATION [5] seconds per run in phase 5
#   BENCH_SSE [0]           1: also phase 1 with SSE-framed answers
#   BENCH_CPU_LOAD [0]      CPU for wrk and the memory-phase clients
#   BENCH_CPU_SUT [1]       CPU for the proxy under test (nginx, Portcullis)
#   BENCH_CPU_UPSTREAM      CPU for the upstreams [2 if >= 3 CPUs, else 0]
#   BENCH_PORT_BASE [18400] ports BASE+1..BASE+13 are used
#   BENCH_JWT_TOKENS [20000] distinct tokens for the jwt-uncached variant
#   PORTCULLIS_BIN          binary to test [build/portcullis, built by scripts/build.sh]
#   BENCH_NO_BUILD [0]      1: do not run scripts/build.sh
#   BENCH_STRICT [0]        1: exit 1 when a target is not met
#   BENCH_VARIANTS_FILE     bash file with `variant ...` lines for phase 3
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bench=$root/bench

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-32}
SAT_CONNS=${BENCH_SATURATE_CONNECTIONS:-256}
SAT_VARIANTS=
PACE_MS=${BENCH_PACE_MS:-4}
MEM_CONNS=${BENCH_MEM_CONNS:-1000}
PHASES=${BENCH_PHASES:-throughput latency variants memory ratios}
PAIR_ROUNDS=${BENCH_PAIR_ROUNDS:-5}
PAIR_DURATION=${BENCH_PAIR_DURATION:-5}
SSE=${BENCH_SSE:-0}
ncpu=$(nproc)
CPU_LOAD=${BENCH_CPU_LOAD:-0}
CPU_SUT=${BENCH_CPU_SUT:-1}
if [[ -z ${BENCH_CPU_UPSTREAM:-} ]]; then
  if (( ncpu >= 3 )); then CPU_UPSTREAM=2; else CPU_UPSTREAM=0; fi
else
  CPU_UPSTREAM=$BENCH_CPU_UPSTREAM
fi
PORT_BASE=${BENCH_PORT_BASE:-18400}
NULL_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 2))
PC_PORT=$((PORT_BASE + 3))
SSE_PORT=$((PORT_BASE + 4))
PCMEM_PORT=$((PORT_BASE + 5))
PCVAR_PORT=$((PORT_BASE + 6))
JWKS_PORT=$((PORT_BASE + 7))
PAIR_PORTS=($((PORT_BASE + 8)) $((PORT_BASE + 9)) $((PORT_BASE + 10)) $((PORT_BASE + 11)) $((PORT_BASE + 12)) $((PORT_BASE + 13)))
JWT_TOKENS=${BENCH_JWT_TOKENS:-20000}  # distinct tokens of the jwt-uncached variant (> the 10,000-entry cache)

# Targets (README): throughput >= 0.9 x nginx; p99 added <= 1 ms at half load;
# RSS <= 30 MiB in the memory test.
TARGET_RATIO=0.9
TARGET_P99_ADDED_US=1000
TARGET_RSS_KB=$((30 * 1024))

has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in wrk nginx taskset curl node; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run scripts/setup.sh"
done
(( ncpu >= 2 )) || die "needs at least 2 CPUs (wrk and the server under test on different cores)"

# Many sockets in the memory phase (1,000 downstream + 1,000 upstream each).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) >= 4 * MEM_CONNS + 256 )) || say "warning: ulimit -n is $(ulimit -n); the memory phase may run out of descriptors"

work=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
mkdir -p "$work/tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP_WORKDIR:-0} == 1 ]]; then say "work dir kept: $work"; else rm -rf "$work"; fi
  [[ -n ${mem_audit_dir:-} ]] && rm -rf "$mem_audit_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {  # PID: stop one process we started (and forget it: no pid reuse accidents)
  local p=$1 i keep=() q
  for q in "${pids[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
  pids=("${keep[@]}")
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$NULL_PORT" "$NGINX_PORT" "$PC_PORT" "$SSE_PORT" "$PCMEM_PORT" "$PCVAR_PORT"; do
  port_busy "$p" && die "port $p is in use (set BENCH_PORT_BASE)"
done

wait_http() {  # URL [SECONDS]: until GET answers 200
  local url=$1 limit=${2:-15} i
  for ((i = 0; i < limit * 10; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null) == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------
# Servers
render() {  # TEMPLATE OUT: substitutes @NAME@ from the environment of this call
  /usr/bin/python3 - "$1" "$2" <<'PY'
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
def nginx_quote(s):  # body of a single-quoted nginx string
    return s.replace('\\', '\\\\').replace("'", "\\'")
canned = open(os.environ['CANNED_FILE']).read().strip()
values = dict(os.environ)
values['CANNED_JSON'] = nginx_quote(canned)
values['CANNED_SSE'] = nginx_quote('event: message\ndata: ' + canned + '\n\n')
out = re.sub(r'@([A-Z_]+)@', lambda m: values[m.group(1)], text)
open(dst, 'w').write(out)
PY
}

start_nginx() {  # NAME TEMPLATE PORT: renders and starts one nginx pinned to its CPU
  local name=$1 template=$2 port=$3 cpu=$4
  WORKDIR=$work PORT=$port NULL_PORT=$NULL_PORT SSE_PORT=$SSE_PORT CANNED_FILE=$bench/nginx/tools-call-result.json \
    render "$template" "$work/$name.conf"
  nginx -t -q -p "$work" -c "$work/$name.conf" 2>"$work/$name.test.log" || { cat "$work/$name.test.log" >&2; die "nginx $name config invalid"; }
  taskset -c "$cpu" nginx -p "$work" -c "$work/$name.conf" </dev/null >"$work/$name.out" 2>&1 &
  pids+=($!)
  eval "${name//-/_}_pid=$!"
  wait_http "http://127.0.0.1:$port/healthz" || die "nginx $name did not start (see $work/$name.out)"
}

# Portcullis config: one route per upstream. $1 = extra top-level YAML,
# $2 = extra YAML for each route (default `auth: none`: no identity configured).
portcullis_config() {  # FILE PORT TOP_YAML ROUTE_YAML
  local file=$1 port=$2 top=${3:-} route=${4-auth: none}
  {
    echo "server:"
    echo "  listen: 127.0.0.1:$port"
    echo "  threads: 1"
    echo "upstreams:"
    local name url
    for spec in "bench http://127.0.0.1:$NULL_PORT/mcp" "bench-sse http://127.0.0.1:$NULL_PORT/mcp-sse" \
                "sse http://127.0.0.1:$SSE_PORT/mcp"; do
      name=${spec%% *}; url=${spec#* }
      echo "  - name: $name"
      echo "    url: $url"
      if [[ -n $route ]]; then printf '%s\n' "$route" | sed 's/^/    /'; fi
    done
    if [[ -n $top ]]; then printf '%s\n' "$top"; fi
  } >"$file"
}

pc_pid=
start_portcullis() {  # LABEL PORT TOP_YAML ROUTE_YAML: sets pc_pid
  local label=$1 port=$2
  local cfg=$work/portcullis-$label.yaml
  portcullis_config "$cfg" "$port" "${3:-}" "${4-auth: none}"
  taskset -c "$CPU_SUT" "$PORTCULLIS_BIN" run --config "$cfg" </dev/null >"$work/portcullis-$label.log" 2>&1 &
  pc_pid=$!
  pids+=("$pc_pid")
  if ! wait_http "http://127.0.0.1:$port/healthz" 20; then
    tail -n 30 "$work/portcullis-$label.log" >&2 || true
    die "portcullis ($label) did not become healthy; config: $cfg"
  fi
}

# ---------------------------------------------------------------------------
# Measurement helpers
cpu_snapshot() { grep -E '^cpu[0-9]+ ' /proc/stat; }
cpu_busy() {  # BEFORE AFTER CPU -> busy percent of that CPU between snapshots
  awk -v c="cpu$3" '
    FNR == NR && $1 == c { for (i = 2; i <= NF; i++) t0 += $i; i0 = $5 + $6; next }
    FNR != NR && $1 == c { for (i = 2; i <= NF; i++) t1 += $i; i1 = $5 + $6 }
    END { dt = t1 - t0; if (dt <= 0) print 0; else printf "%.0f", 100 * (dt - (i1 - i0)) / dt }' "$1" "$2"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p"; }  # KEY < BENCH_RESULT line

# probe LABEL URL: one real request; the answer must be 200 and the canned
# result (a proxy that answers an error at full speed would win otherwise).
probe() {
  local label=$1 url=$2 code hdr=()
  [[ -n ${MCP_SESSION_ID:-} ]] && hdr+=(-H "Mcp-Session-Id: $MCP_SESSION_ID")
  if [[ -n ${BENCH_HEADERS:-} ]]; then
    local h; IFS='|' read -ra hs <<<"$BENCH_HEADERS"; for h in "${hs[@]}"; do hdr+=(-H "$h"); done
  fi
  code=$(curl -s -o "$work/probe.body" -w '%{http_code}' --max-time 5 -X POST \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2025-06-18' "${hdr[@]}" \
    --data-binary "@$bench/wrk/tools-call-request.json" "$url" || true)
  if [[ $code != 200 ]] || ! grep -q 'bench-null-upstream' "$work/probe.body"; then
    say "probe $label: HTTP $code, body: $(head -c 300 "$work/probe.body" 2>/dev/null)"
    return 1
  fi
}

# Results: R_<metric>[label]
declare -A R_rps R_p50 R_p90 R_p99 R_p999 R_err R_cpu_sut R_cpu_load R_note
labels=()

# measure LABEL URL CONNECTIONS DELAY_MS: warm-up + RUNS runs of wrk, medians.
measure() {
  local label=$1 url=$2 conns=$3 delay=$4 i out before after
  local -a rps=() p50=() p90=() p99=() p999=() err=() cs=() cl=()
  if ! probe "$label" "$url"; then
    R_note[$label]="probe failed"; labels+=("$label"); return 1
  fi
  local lua=$bench/wrk/tools-call.lua
  local -a wrkcmd=(taskset -c "$CPU_LOAD" wrk -t1 -c"$conns" --timeout 5s -s "$lua")
  export BENCH_BODY=$bench/wrk/tools-call-request.json BENCH_DELAY_MS=$delay
  if (( WARMUP > 0 )); then "${wrkcmd[@]}" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true; fi
  for ((i = 1; i <= RUNS; i++)); do
    before=$work/cpu.before; after=$work/cpu.after
    cpu_snapshot >"$before"
    out=$("${wrkcmd[@]}" -d"${DURATION}s" "$url" 2>&1) || { say "wrk failed: $out"; return 1; }
    cpu_snapshot >"$after"
    local line; line=$(grep '^BENCH_RESULT' <<<"$out") || { say "no result from wrk: $out"; return 1; }
    rps+=("$(field rps <<<"$line")"); p50+=("$(field p50_us <<<"$line")"); p90+=("$(field p90_us <<<"$line")")
    p99+=("$(field p99_us <<<"$line")"); p999+=("$(field p999_us <<<"$line")")
    err+=($(( $(field connect_err <<<"$line") + $(field read_err <<<"$line") + $(field write_err <<<"$line") + $(field timeout_err <<<"$line") + $(field status_err <<<"$line") )))
    cs+=("$(cpu_busy "$before" "$after" "$CPU_SUT")"); cl+=("$(cpu_busy "$before" "$after" "$CPU_LOAD")")
    say "  $label run $i/$RUNS: $(field rps <<<"$line") req/s, p50 $(field p50_us <<<"$line") us, p99 $(field p99_us <<<"$line") us, errors ${err[-1]}, cpu$CPU_SUT ${cs[-1]}%, cpu$CPU_LOAD ${cl[-1]}%"
  done
  labels+=("$label")
  R_rps[$label]=$(printf '%s\n' "${rps[@]}" | median)
  R_p50[$label]=$(printf '%s\n' "${p50[@]}" | median)
  R_p90[$label]=$(printf '%s\n' "${p90[@]}" | median)
  R_p99[$label]=$(printf '%s\n' "${p99[@]}" | median)
  R_p999[$label]=$(printf '%s\n' "${p999[@]}" | median)
  R_err[$label]=$(printf '%s\n' "${err[@]}" | awk '{ s += $1 } END { print s + 0 }')
  R_cpu_sut[$label]=$(printf '%s\n' "${cs[@]}" | median)
  R_cpu_load[$label]=$(printf '%s\n' "${cl[@]}" | median)
}

rss_kb() {  # PID...: summed VmRSS in kB
  local p s=0 v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
nginx_pids() { echo "$1" $(pgrep -P "$1" || true); }  # master + workers
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------------------
# Report
report=()   # markdown lines; printed and written at the end
md() { report+=("$*"); }

minus() { awk -v a="$1" -v b="$2" 'BEGIN { print a - b }'; }
fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
table_header() {
  md "| target | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | cpu$CPU_SUT (SUT) | cpu$CPU_LOAD (wrk$( (( CPU_UPSTREAM == CPU_LOAD )) && echo '+upstream')) |"
  md "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
}
table_row() {
  local l=$1
  if [[ -n ${R_note[$l]:-} ]]; then md "| $l | – | – | – | – | – | – | – | ${R_note[$l]} |"; return; fi
  local flag=""
  # closed-loop row with the load generator's core saturated: the proxy was
  # not the bottleneck, the req/s is a floor
  if [[ $l != *@half ]] && (( ${R_cpu_load[$l]%.*} >= 95 )); then flag=" (saturated: load-generator bound)"; fi
  md "| $l | $(printf '%.0f' "${R_rps[$l]}") | $(fmt_ms "${R_p50[$l]}") | $(fmt_ms "${R_p90[$l]}") | $(fmt_ms "${R_p99[$l]}") | $(fmt_ms "${R_p999[$l]}") | ${R_err[$l]} | ${R_cpu_sut[$l]}% | ${R_cpu_load[$l]}%$flag |"
}
have() { [[ -n ${R_rps[$1]:-} ]]; }
verdicts=()
verdict() {  # NAME MET(0/1) DETAIL
  local v; if [[ $2 == 1 ]]; then v=met; else v="NOT MET"; fi
  verdicts+=("| $1 | $3 | **$v** |")
  [[ $2 == 1 ]] || missed=1
}
missed=0

# ---------------------------------------------------------------------------
# Portcullis binary
PORTCULLIS_BIN=${PORTCULLIS_BIN:-}
if [[ -z $PORTCULLIS_BIN ]]; then
  PORTCULLIS_BIN=$root/build/portcullis
  if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    say "building (scripts/build.sh, release)"
    scripts/build.sh >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; die "build failed"; }
    bt=$(meson introspect build --buildoptions 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo unknown)
    [[ $bt == release ]] || say "warning: build/ is a '$bt' build, not release"
  fi
fi
have_pc=0
if [[ -x $PORTCULLIS_BIN ]]; then have_pc=1; else say "no Portcullis binary at $PORTCULLIS_BIN: Portcullis phases skipped"; fi

# ---------------------------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
busy_check() {  # warns when other processes use the CPUs (the numbers would mean little)
  local l1; l1=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$l1" 'BEGIN { exit !(l > 1.5) }'; then
    say "warning: load average $l1 before the runs: other processes are using the CPUs; results will be noisy"
    return 1
  fi
}
busy_check || load_warning=1
say "work dir $work; CPUs: wrk $CPU_LOAD, proxy under test $CPU_SUT, upstreams $CPU_UPSTREAM; ${RUNS}x${DURATION}s runs"
start_nginx null-upstream "$bench/nginx/null-upstream.conf.in" "$NULL_PORT" "$CPU_UPSTREAM"
start_nginx proxy "$bench/nginx/proxy.conf.in" "$NGINX_PORT" "$CPU_SUT"

DIRECT=http://127.0.0.1:$NULL_PORT/mcp
NGINX=http://127.0.0.1:$NGINX_PORT/mcp/bench
PC=http://127.0.0.1:$PC_PORT/mcp/bench

pc_main_pid=
if (( have_pc )); then
  start_portcullis base "$PC_PORT"
  pc_main_pid=$pc_pid
fi

# --- phase 1: throughput -------------------------------------------------------
if has_phase throughput || has_phase latency; then
  say "phase 1: throughput (closed loop, $CONNS connections)"
  measure direct "$DIRECT" "$CONNS" 0 || true
  measure nginx "$NGINX" "$CONNS" 0 || true
  if (( have_pc )); then measure portcullis "$PC" "$CONNS" 0 || true; fi
  if [[ $SSE == 1 ]]; then
    measure direct-sse "http://127.0.0.1:$NULL_PORT/mcp-sse" "$CONNS" 0 || true
    measure nginx-sse "http://127.0.0.1:$NGINX_PORT/mcp/bench-sse" "$CONNS" 0 || true
    if (( have_pc )); then measure portcullis-sse "http://127.0.0.1:$PC_PORT/mcp/bench-sse" "$CONNS" 0 || true; fi
  fi
fi

# --- phase 2: latency at half load --------------------------------------------
# wrk has no rate limit (wrk2 is not packaged): each connection waits a random
# think time (mean PACE_MS) before each request, so the offered rate is about
# conns / (PACE_MS + latency). conns is chosen for half of Portcullis's max.
half_rate=0
paced_conns=0
if has_phase latency; then
  base=portcullis; have portcullis || base=nginx
  if have "$base"; then
    half_rate=$(awk -v r="${R_rps[$base]}" 'BEGIN { printf "%.0f", r / 2 }')
    # Calibrate: a connection's cycle is think time + wrk's timer slack (~1 ms)
    # + latency, so measure one connection's rate against direct and divide.
    cal=$(BENCH_DELAY_MS=$PACE_MS BENCH_BODY=$bench/wrk/tools-call-request.json \
      taskset -c "$CPU_LOAD" wrk -t1 -c8 -d3s --timeout 5s -s "$bench/wrk/tools-call.lua" "$DIRECT" 2>&1 | grep '^BENCH_RESULT' | field rps)
    per_conn=$(awk -v r="${cal:-0}" -v d="$PACE_MS" 'BEGIN { p = r / 8; if (p <= 0) p = 1000 / (d + 1); print p }')
    paced_conns=$(awk -v r="$half_rate" -v p="$per_conn" 'BEGIN { c = int(r / p + 0.5); if (c < 1) c = 1; print c }')
    say "phase 2: one paced connection sends ~$(printf '%.0f' "$per_conn") req/s"
    say "phase 2: latency at half of $base's max: ~$half_rate req/s offered ($paced_conns paced connections, mean think time ${PACE_MS} ms)"
    measure direct@half "$DIRECT" "$paced_conns" "$PACE_MS" || true
    measure nginx@half "$NGINX" "$paced_conns" "$PACE_MS" || true
    if (( have_pc )); then measure portcullis@half "$PC" "$paced_conns" "$PACE_MS" || true; fi
  fi
fi

# --- phase 3: Portcullis variants -------------------------------------------------
# variant LABEL TOP_YAML [ROUTE_YAML] [HEADERS]: starts a Portcullis with the
# base config plus TOP_YAML (top-level sections) and ROUTE_YAML (lines added to
# each upstream route; default `auth: none`), with HEADERS ("Name: value|...")
# sent by wrk and the probe, then measures it as in phases 1 and 2.
variant_labels=()
variant() {
  local label=$1 top=$2 route=${3-auth: none} headers=${4:-}
  (( have_pc )) || return 0
  say "phase 3: variant $label"
  start_portcullis "$label" "$PCVAR_PORT" "$top" "$route" || return 1
  local url=http://127.0.0.1:$PCVAR_PORT/mcp/bench
  BENCH_HEADERS=$headers measure "portcullis[$label]" "$url" "$CONNS" 0 || true
  if (( paced_conns > 0 )); then
    BENCH_HEADERS=$headers measure "portcullis[$label]@half" "$url" "$paced_conns" "$PACE_MS" || true
  fi
  if [[ " $SAT_VARIANTS " == *" $label "* ]]; then
    BENCH_HEADERS=$headers measure "portcullis[$label]@sat" "$url" "$SAT_CONNS" 0 || true
  fi
  variant_labels+=("$label")
  stop_pid "$pc_pid"
}
# Policy decides every call (with an argument condition) and the audit log
# makes each decision durable (group commit, fdatasync) before forwarding.
write_bench_policy() {
  cat >"$work/bench-policy.yaml" <<'POLICY'
version: "bench"
tools:
  - { match: { upstream: bench, tool: "search_*" }, action: read, sensitivity: public }
rules:
  - id: bench-search
    effect: allow
    agents: { any: true }
    tools: { upstream: bench, tool: "search_records" }
    when: [ { argument: /limit, max: 1000, optional: true } ]
POLICY
}
export BENCH_HEADERS=${BENCH_HEADERS:-}
if has_phase variants && (( have_pc )); then
  # Add variants here, e.g.:
  #   variant audit "audit:
  #     dir: $work/audit-variant"
  #   variant jwt "identity:
  #     issuers: [...]" "" "Authorization: Bearer $token"
  # BENCH_VARIANTS_FILE: a bash file of `variant ...` lines, sourced here (for
  # trying a variant without editing this script).
  write_bench_policy
  # Audit alone, then policy on top of it (policy needs the audit log: no
  # decision goes unrecorded), so that each one's cost shows on its own.
  # A call waits for its record's fdatasync, so at $CONNS connections the
  # closed loop measures latency (connections / (CPU + sync wait)) more than
  # cost; @sat rows rerun the plain proxy and the audit variants with
  # $SAT_CONNS connections, enough to keep the CPU busy during syncs.
  SAT_VARIANTS="plain audit policy+audit"
  variant plain ""
  variant audit "audit:
  dir: $work/audit-only-variant"
  variant policy+audit "policy:
  files: [$work/bench-policy.yaml]
audit:
  dir: $work/audit-variant"
  # JWT access tokens (RS256, RFC 9068) from a local issuer whose JWKS the
  # gateway fetches at start: `jwt` sends one token (the verified-token cache
  # answers after the first request), `jwt-uncached` cycles through more
  # distinct tokens than the cache holds, so every request checks a signature.
  say "phase 3: minting $JWT_TOKENS tokens"
  jwt_aud=http://127.0.0.1:$PCVAR_PORT/mcp/bench
  taskset -c "$CPU_UPSTREAM" node "$bench/jwt/issuer.mjs" "$JWKS_PORT" "$jwt_aud" "$JWT_TOKENS" "$work/tokens.txt" \
    </dev/null >"$work/issuer.log" 2>&1 &
  issuer_pid=$!; pids+=("$issuer_pid")
  if wait_http "http://127.0.0.1:$JWKS_PORT/healthz" 300; then
    identity_yaml="identity:
  issuers:
    - issuer: http://127.0.0.1:$JWKS_PORT
      jwks_uri: http://127.0.0.1:$JWKS_PORT/jwks
      algorithms: [RS256]
  unregistered_agents: allow"
    first_token=$(head -n1 "$work/tokens.txt")
    variant jwt "$identity_yaml" "" "Authorization: Bearer $first_token"
    BENCH_TOKENS_FILE=$work/tokens.txt variant jwt-uncached "$identity_yaml" "" "Authorization: Bearer $first_token"
  else
    say "token issuer did not start (see $work/issuer.log): JWT variants skipped"
  fi
  stop_pid "$issuer_pid"
  if [[ -n ${BENCH_VARIANTS_FILE:-} ]]; then
    # shellcheck disable=SC1090
    source "$BENCH_VARIANTS_FILE"
  fi
fi

# --- phase 4: memory -------------------------------------------------------------
declare -A MEM
mem_rows=()
if has_phase memory; then
  say "phase 4: memory ($MEM_CONNS idle keep-alive connections, $MEM_CONNS open SSE streams)"
  if [[ -n $pc_main_pid ]]; then stop_pid "$pc_main_pid"; pc_main_pid=; fi
  taskset -c "$CPU_UPSTREAM" node "$bench/mem/sse-upstream.mjs" "$SSE_PORT" </dev/null >"$work/sse-upstream.log" 2>&1 &
  sse_pid=$!; pids+=("$sse_pid")
  wait_http "http://127.0.0.1:$SSE_PORT/healthz" || die "sse upstream did not start"

  # hold LABEL URL MODE: opens MEM_CONNS connections, waits for READY; sets hold_pid, hold_ready
  hold() {
    local label=$1 url=$2 mode=$3 i
    local log=$work/hold-$label-$mode.log
    taskset -c "$CPU_LOAD" node "$bench/mem/hold-conns.mjs" "$url" "$MEM_CONNS" "$mode" "$bench/wrk/tools-call-request.json" \
      ${BENCH_HEADERS:+"$BENCH_HEADERS"} </dev/null >"$log" 2>&1 &
    hold_pid=$!; pids+=("$hold_pid")
    for ((i = 0; i < 600; i++)); do
      grep -q '^READY' "$log" && break
      kill -0 "$hold_pid" 2>/dev/null || break
      sleep 0.1
    done
    hold_ready=$(grep -m1 '^READY' "$log" || echo "READY never (see $log)")
    grep -m1 '^ERRORS' "$log" >&2 || true
    sleep 1  # let the server settle (allocations after the last answer)
  }

  mem_measure() {  # LABEL URL_BASE PIDS_FUNC
    local label=$1 base=$2 pidsf=$3 idle ka sse kaline sseline
    idle=$(rss_kb $($pidsf))
    hold "$label" "$base/mcp/bench" keepalive
    ka=$(rss_kb $($pidsf)); kaline=$hold_ready
    stop_pid "$hold_pid"
    sleep 1
    hold "$label" "$base/mcp/sse" sse
    sse=$(rss_kb $($pidsf)); sseline=$hold_ready
    stop_pid "$hold_pid"
    MEM[$label,idle]=$idle; MEM[$label,ka]=$ka; MEM[$label,sse]=$sse
    MEM[$label,kaline]=$kaline; MEM[$label,sseline]=$sseline
    mem_rows+=("$label")
    say "  $label: idle $(mib "$idle") MiB, $MEM_CONNS keep-alive $(mib "$ka") MiB ($kaline), $MEM_CONNS SSE $(mib "$sse") MiB ($sseline)"
  }

  nginx_mem_pids() { nginx_pids "$proxy_pid"; }
  mem_measure nginx "http://127.0.0.1:$NGINX_PORT" nginx_mem_pids

  if (( have_pc )); then
    start_portcullis mem "$PCMEM_PORT"
    pcmem_pid=$pc_pid
    pc_mem_pids() { echo "$pcmem_pid"; }
    mem_measure portcullis "http://127.0.0.1:$PCMEM_PORT" pc_mem_pids
    MEM[portcullis,hwm]=$(hwm_kb "$pcmem_pid")
    stop_pid "$pcmem_pid"
  fi
fi

# --- phase 5: feature cost ratios, interleaved -----------------------------------
# Host noise on a shared VM moves throughput by 10-20 % between minutes, more
# than the costs being measured. Here the configs run side by side (all on the
# proxy's CPU; an idle one costs nothing) and are measured in alternation,
# in order then reversed, so drift hits numerator and denominator alike; a ratio's
# verdict is the median of its per-round ratios.
# audit-mem is `audit` with its directory in memory (tmpfs), where fdatasync
# returns at once: audit-mem / plain is what the log costs the proxy's CPU,
# audit / audit-mem what waiting for this machine's disk costs on top.
# audit-prealloc is `audit` with `preallocate: true` (zeros kept ahead of the
# writer, so a sync writes data without a journal commit; off by default).
PAIR_LABELS=(plain audit policy+audit jwt audit-mem audit-prealloc)
declare -A PAIR_RPS   # PAIR_RPS[label,conns] = "rps rps ..." in round order
pair_conns=()
mem_audit_dir=""
if has_phase ratios && (( have_pc )); then
  say "phase 5: cost ratios, ${PAIR_ROUNDS} interleaved rounds of ${PAIR_DURATION}s at $CONNS and $SAT_CONNS connections"
  if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
    mem_audit_dir=$(mktemp -d -p /dev/shm portcullis-bench-audit.XXXXXX) || mem_audit_dir=""
  fi
  if [[ -z $mem_audit_dir ]]; then
    say "phase 5: no writable tmpfs at /dev/shm: audit-mem left out"
    PAIR_LABELS=(plain audit policy+audit jwt audit-prealloc)
  fi
  write_bench_policy
  declare -A pair_url pair_pid pair_headers
  # jwt: one RS256 token from a local issuer, so the verified-token cache
  # answers after the first request (as phase 3's `jwt`), against `plain`.
  pair_aud=http://127.0.0.1:${PAIR_PORTS[3]}/mcp/bench
  taskset -c "$CPU_UPSTREAM" node "$bench/jwt/issuer.mjs" "$JWKS_PORT" "$pair_aud" 1 "$work/pair-tokens.txt" \
    </dev/null >"$work/pair-issuer.log" 2>&1 &
  pair_issuer=$!; pids+=("$pair_issuer")
  if ! wait_http "http://127.0.0.1:$JWKS_PORT/healthz" 120; then
    say "phase 5: token issuer did not start (see $work/pair-issuer.log): jwt left out"
    PAIR_LABELS=(plain audit policy+audit ${mem_audit_dir:+audit-mem} audit-prealloc)
  fi
  for i in "${!PAIR_LABELS[@]}"; do
    l=${PAIR_LABELS[$i]}
    route="auth: none"
    case $l in
      plain) top="" ;;
      audit) top="audit:
  dir: $work/pair-audit" ;;
      audit-mem) top="audit:
  dir: $mem_audit_dir/audit" ;;
      audit-prealloc) top="audit:
  dir: $work/pair-audit-prealloc
  preallocate: true" ;;
      policy+audit) top="policy:
  files: [$work/bench-policy.yaml]
audit:
  dir: $work/pair-policy-audit" ;;
      jwt) top="identity:
  issuers:
    - issuer: http://127.0.0.1:$JWKS_PORT
      jwks_uri: http://127.0.0.1:$JWKS_PORT/jwks
      algorithms: [RS256]
  unregistered_agents: allow"
        route=""
        pair_headers[$l]="Authorization: Bearer $(head -n1 "$work/pair-tokens.txt")" ;;
    esac
    start_portcullis "pair-$l" "${PAIR_PORTS[$i]}" "$top" "$route"
    pair_pid[$l]=$pc_pid
    pair_url[$l]=http://127.0.0.1:${PAIR_PORTS[$i]}/mcp/bench
    BENCH_HEADERS=${pair_headers[$l]:-} probe "pair-$l" "${pair_url[$l]}" ||
      die "phase 5: $l does not answer (see $work/portcullis-pair-$l.log)"
  done
  export BENCH_BODY=$bench/wrk/tools-call-request.json BENCH_DELAY_MS=0
  for conns in "$CONNS" "$SAT_CONNS"; do
    pair_conns+=("$conns")
    for l in "${PAIR_LABELS[@]}"; do
      (( WARMUP > 0 )) && BENCH_HEADERS=${pair_headers[$l]:-} taskset -c "$CPU_LOAD" wrk -t1 -c"$conns" -d"${WARMUP}s" --timeout 5s -s "$bench/wrk/tools-call.lua" "${pair_url[$l]}" >/dev/null 2>&1 || true
      PAIR_RPS[$l,$conns]=""
    done
    for ((r = 1; r <= PAIR_ROUNDS; r++)); do
      order=("${PAIR_LABELS[@]}")
      if (( r % 2 == 0 )); then  # odd rounds in order, even ones reversed
        order=()
        for ((k = ${#PAIR_LABELS[@]} - 1; k >= 0; k--)); do order+=("${PAIR_LABELS[$k]}"); done
      fi
      line_out=""
      for l in "${order[@]}"; do
        out=$(BENCH_HEADERS=${pair_headers[$l]:-} taskset -c "$CPU_LOAD" wrk -t1 -c"$conns" -d"${PAIR_DURATION}s" --timeout 5s -s "$bench/wrk/tools-call.lua" "${pair_url[$l]}" 2>&1) || die "wrk failed: $out"
        res=$(grep '^BENCH_RESULT' <<<"$out") || die "no result from wrk: $out"
        errs=$(( $(field connect_err <<<"$res") + $(field read_err <<<"$res") + $(field write_err <<<"$res") + $(field timeout_err <<<"$res") + $(field status_err <<<"$res") ))
        (( errs == 0 )) || die "phase 5: $l had $errs errors at $conns connections"
        PAIR_RPS[$l,$conns]+=" $(field rps <<<"$res")"
        line_out+=" $l $(printf '%.0f' "$(field rps <<<"$res")")"
      done
      say "  $conns conns, round $r/$PAIR_ROUNDS:$line_out req/s"
    done
  done
  for l in "${PAIR_LABELS[@]}"; do stop_pid "${pair_pid[$l]}"; done
  stop_pid "$pair_issuer"
fi
# pair_ratios NUM DEN CONNS: per-round ratios, space-separated
pair_ratios() {
  awk -v a="${PAIR_RPS[$1,$3]}" -v b="${PAIR_RPS[$2,$3]}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= n; i++) printf "%s%.3f", (i > 1 ? " " : ""), x[i] / y[i] }'
}

# ---------------------------------------------------------------------------
# Report
ts=$(date +%Y-%m-%d_%H%M%S)
md "# Portcullis benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
md ""
md "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
md "- machine: $ncpu CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r)"
md "- portcullis: $( (( have_pc )) && { "$PORTCULLIS_BIN" --version 2>/dev/null | head -1 || echo "$PORTCULLIS_BIN"; } || echo 'not available')"
md "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'), node $(node --version)"
md "- pinning: wrk on CPU $CPU_LOAD, proxy under test (nginx 1 worker / Portcullis threads: 1) on CPU $CPU_SUT, upstreams on CPU $CPU_UPSTREAM"
md "- load average (1/5/15 min): $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end$( [[ ${load_warning:-0} == 1 ]] && echo ' -- **the machine was busy with other work: treat these numbers as noise**')"
md "- runs: $RUNS x ${DURATION}s per target after ${WARMUP}s warm-up, medians; request: tools/call $(wc -c <"$bench/wrk/tools-call-request.json") B, answer $(wc -c <"$bench/nginx/tools-call-result.json") B JSON"
md ""
if has_phase throughput; then
  md "## Throughput (closed loop, $CONNS connections)"
  md ""
  table_header
  for l in direct nginx portcullis direct-sse nginx-sse portcullis-sse; do
    [[ " ${labels[*]} " == *" $l "* ]] && table_row "$l"
  done
  md ""
fi
if has_phase latency && (( paced_conns > 0 )); then
  md "## Latency at half load (~$half_rate req/s offered: $paced_conns connections, random think time mean ${PACE_MS} ms)"
  md ""
  table_header
  for l in direct@half nginx@half portcullis@half; do
    [[ " ${labels[*]} " == *" $l "* ]] && table_row "$l"
  done
  md ""
  if have direct@half; then
    for l in nginx@half portcullis@half; do
      have "$l" && md "- p99 added by ${l%@half}: $(fmt_ms "$(minus "${R_p99[$l]}" "${R_p99[direct@half]}")") ms (p50 added $(fmt_ms "$(minus "${R_p50[$l]}" "${R_p50[direct@half]}")") ms)"
    done
    md ""
  fi
fi
if (( ${#variant_labels[@]} > 0 )); then
  md "## Portcullis variants"
  md ""
  table_header
  for v in "${variant_labels[@]}"; do
    have "portcullis[$v]" && table_row "portcullis[$v]"
    have "portcullis[$v]@half" && table_row "portcullis[$v]@half"
    have "portcullis[$v]@sat" && table_row "portcullis[$v]@sat"
  done
  md ""
fi
if (( ${#pair_conns[@]} > 0 )); then
  md "## Feature cost ratios (phase 5: configs side by side, measured in alternation)"
  md ""
  md "| ratio | connections | per round | median |"
  md "|---|---:|---|---:|"
  for conns in "${pair_conns[@]}"; do
    for pr in "audit plain" "policy+audit audit" "jwt plain" "audit-mem plain" "audit audit-mem" \
      "audit-prealloc plain" "audit-prealloc audit"; do
      read -r num den <<<"$pr"
      [[ " ${PAIR_LABELS[*]} " == *" $num "* && " ${PAIR_LABELS[*]} " == *" $den "* ]] || continue
      rs=$(pair_ratios "$num" "$den" "$conns")
      md "| $num / $den | $conns | $rs | $(tr ' ' '\n' <<<"$rs" | median) |"
    done
  done
  md ""
  if [[ " ${PAIR_LABELS[*]} " == *" audit-mem "* ]]; then
    md "audit-mem keeps its log on tmpfs, where fdatasync returns at once: audit-mem / plain is the log's CPU cost, audit / audit-mem the wait for this machine's disk."
    md ""
  fi
  if [[ " ${PAIR_LABELS[*]} " == *" audit-prealloc "* ]]; then
    md "audit-prealloc is audit with \`preallocate: true\` (off by default: the open segment then ends in zeros, which live tailing cannot follow)."
    md ""
  fi
  for conns in "${pair_conns[@]}"; do
    for l in "${PAIR_LABELS[@]}"; do
      md "- $l at $conns connections, req/s per round:$(awk -v a="${PAIR_RPS[$l,$conns]}" 'BEGIN { n = split(a, x, " "); for (i = 1; i <= n; i++) printf " %.0f", x[i] }')"
    done
  done
  md ""
fi
if (( ${#mem_rows[@]} > 0 )); then
  md "## Memory (VmRSS; nginx = master + worker)"
  md ""
  md "| process | idle | $MEM_CONNS idle keep-alive conns | $MEM_CONNS open SSE streams |"
  md "|---|---:|---:|---:|"
  for l in "${mem_rows[@]}"; do
    md "| $l | $(mib "${MEM[$l,idle]}") MiB | $(mib "${MEM[$l,ka]}") MiB | $(mib "${MEM[$l,sse]}") MiB |"
  done
  md ""
  for l in "${mem_rows[@]}"; do
    md "- $l: keep-alive clients: ${MEM[$l,kaline]}; SSE clients: ${MEM[$l,sseline]}"
  done
  [[ -n ${MEM[portcullis,hwm]:-} ]] && md "- portcullis peak (VmHWM) over the memory phase: $(mib "${MEM[portcullis,hwm]}") MiB"
  md ""
fi

md "## Targets"
md ""
md "| target | measured | verdict |"
md "|---|---|---|"
if have portcullis && have nginx; then
  ratio=$(awk -v a="${R_rps[portcullis]}" -v b="${R_rps[nginx]}" 'BEGIN { printf "%.2f", a / b }')
  verdict "throughput >= ${TARGET_RATIO} x nginx" "$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? 1 : 0 }')" "${ratio} x ($(printf '%.0f' "${R_rps[portcullis]}") vs $(printf '%.0f' "${R_rps[nginx]}") req/s)"
else
  verdicts+=("| throughput >= ${TARGET_RATIO} x nginx | not measured | – |")
fi
if have portcullis@half && have direct@half; then
  added=$(minus "${R_p99[portcullis@half]}" "${R_p99[direct@half]}")
  verdict "p99 added over direct <= 1 ms at half load" "$(awk -v a="$added" -v t="$TARGET_P99_ADDED_US" 'BEGIN { print (a <= t) ? 1 : 0 }')" "$(fmt_ms "$added") ms"
else
  verdicts+=("| p99 added over direct <= 1 ms at half load | not measured | – |")
fi
if [[ -n ${MEM[portcullis,idle]:-} ]]; then
  maxrss=${MEM[portcullis,idle]}
  for k in ka sse; do (( MEM[portcullis,$k] > maxrss )) && maxrss=${MEM[portcullis,$k]}; done
  verdict "RSS <= 30 MiB in the memory test" "$(( maxrss <= TARGET_RSS_KB ? 1 : 0 ))" "max $(mib "$maxrss") MiB"
else
  verdicts+=("| RSS <= 30 MiB in the memory test | not measured | – |")
fi
# Each feature's cost, as a ratio of two runs of this benchmark.
ratio_verdict() {  # TARGET_TEXT NUMERATOR DENOMINATOR MIN_RATIO
  if have "$2" && have "$3"; then
    local r; r=$(awk -v a="${R_rps[$2]}" -v b="${R_rps[$3]}" 'BEGIN { printf "%.2f", a / b }')
    verdict "$1" "$(awk -v r="$r" -v t="$4" 'BEGIN { print (r >= t) ? 1 : 0 }')" "${r} x ($(printf '%.0f' "${R_rps[$2]}") vs $(printf '%.0f' "${R_rps[$3]}") req/s)"
  else
    verdicts+=("| $1 | not measured | – |")
  fi
}
# JWT: from phase 5's alternating rounds when it ran (phase 3 measures minutes apart: drift).
if ! (( ${#pair_conns[@]} > 0 )) || [[ " ${PAIR_LABELS[*]} " != *" jwt "* ]]; then
  ratio_verdict "JWT verification on (cached) >= 0.9 x without" "portcullis[jwt]" portcullis 0.9
fi
# pair_verdict TARGET_TEXT NUM DEN CONNS MIN_RATIO: median of phase 5's rounds
pair_verdict() {
  local rs med
  rs=$(pair_ratios "$2" "$3" "$4"); med=$(tr ' ' '\n' <<<"$rs" | median)
  verdict "$1" "$(awk -v r="$med" -v t="$5" 'BEGIN { print (r >= t) ? 1 : 0 }')" \
    "$(printf '%.2f' "$med") x, median of $PAIR_ROUNDS alternating rounds ($(awk -v a="$rs" 'BEGIN { n = split(a, x, " "); lo = hi = x[1]; for (i = 2; i <= n; i++) { if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i] }; printf "%.2f-%.2f", lo, hi }'))"
}
if (( ${#pair_conns[@]} > 0 )); then
  pair_verdict "policy on >= 0.9 x the same config without it, $CONNS connections" policy+audit audit "$CONNS" 0.9
  pair_verdict "audit on >= 0.8 x without, $CONNS connections" audit plain "$CONNS" 0.8
  pair_verdict "audit on >= 0.8 x without, $SAT_CONNS connections (CPU-bound)" audit plain "$SAT_CONNS" 0.8
  pair_verdict "policy on >= 0.9 x without, $SAT_CONNS connections (CPU-bound)" policy+audit audit "$SAT_CONNS" 0.9
  if [[ " ${PAIR_LABELS[*]} " == *" jwt "* ]]; then
    pair_verdict "JWT verification on (cached) >= 0.9 x without, $CONNS connections" jwt plain "$CONNS" 0.9
  fi
else
  ratio_verdict "policy on >= 0.9 x the same config without it" "portcullis[policy+audit]" "portcullis[audit]" 0.9
  ratio_verdict "audit on >= 0.8 x without" "portcullis[audit]" portcullis 0.8
  ratio_verdict "audit on >= 0.8 x without, $SAT_CONNS connections (CPU-bound)" "portcullis[audit]@sat" "portcullis[plain]@sat" 0.8
  ratio_verdict "policy on >= 0.9 x without, $SAT_CONNS connections (CPU-bound)" "portcullis[policy+audit]@sat" "portcullis[audit]@sat" 0.9
fi
for v in "${verdicts[@]}"; do md "$v"; done

mkdir -p "$bench/results"
out=$bench/results/$ts.md
printf '%s\n' "${report[@]}" >"$out"
echo
printf '%s\n' "${report[@]}"
echo
say "written $out"
if [[ ${BENCH_STRICT:-0} == 1 && $missed == 1 ]]; then exit 1; fi
exit 0
