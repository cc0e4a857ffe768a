-- wrk script: POSTs a realistic MCP `tools/call` (bench/wrk/tools-call-request.json,
-- ~600 bytes) as a Streamable HTTP client does, and prints one machine-readable
-- BENCH_RESULT line at the end (bench/run.sh parses it).
--
-- Environment:
--   BENCH_BODY       request body file (default: bench/wrk/tools-call-request.json)
--   MCP_SESSION_ID   adds Mcp-Session-Id when set
--   BENCH_HEADERS    extra headers, "Name: value" separated by "|" (e.g. a Bearer token)
--   BENCH_TOKENS_FILE  one bearer token per line: each request carries the next one
--                    (round robin per connection thread), so a gateway's verified-token
--                    cache misses when there are more tokens than it holds
--   BENCH_DELAY_MS   pacing: when > 0 each connection waits a random 1 .. 2*N-1 ms
--                    (mean N ms) before each request; the offered rate is then about
--                    connections / (N ms + latency). 0 (default): closed loop, as fast
--                    as the server answers.
--
-- The request is static (no request() function), so wrk pre-formats it once and the
-- generator stays cheap; responses are not inspected in Lua (a response() callback
-- would halve wrk's rate). bench/run.sh checks one answer with curl before each run;
-- wrk itself counts non-2xx/3xx answers as status errors.

local body_file = os.getenv("BENCH_BODY") or "bench/wrk/tools-call-request.json"
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a"):gsub("%s+$", "")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"

local sid = os.getenv("MCP_SESSION_ID")
if sid and sid ~= "" then
  wrk.headers["Mcp-Session-Id"] = sid
end

local extra = os.getenv("BENCH_HEADERS")
if extra and extra ~= "" then
  for line in string.gmatch(extra, "[^|]+") do
    local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
    if name then
      wrk.headers[name] = value
    end
  end
end

local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if tokens_file and tokens_file ~= "" then
  local tokens, n, next_token = {}, 0, 0
  for line in io.lines(tokens_file) do
    if line ~= "" then
      n = n + 1
      tokens[n] = line
    end
  end
  assert(n > 0, "no tokens in " .. tokens_file)
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  function request()
    next_token = next_token % n + 1
    headers["Authorization"] = "Bearer " .. tokens[next_token]
    return wrk.format(nil, nil, headers, body)
  end
end

local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if pace > 0 then
  local hi = math.max(1, 2 * math.floor(pace) - 1)
  function init(args)
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  end
  function delay()
    return math.random(1, hi)
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1000000
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f connect_err=%d read_err=%d write_err=%d timeout_err=%d status_err=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status))
end
