-- Shared by the wrk scripts of scripts/bench.sh (loaded with dofile by each case script).
--
-- Counts every answer outside 2xx as a failure (wrk itself only counts >= 400, under
-- "Non-2xx or 3xx responses"), optionally also an answer whose body is not the expected size
-- (BENCH_EXPECT_BYTES), and prints one machine-readable line at the end:
--
--   BENCH requests=N duration_us=N bytes=N p50_us=N p99_us=N lua_failures=N status_errors=N
--         connect=N read=N write=N timeout=N first_failure=STATUS/BODYBYTES
--
-- A case script may set `response = nil` after loading this file: wrk then neither buffers the
-- body nor calls Lua per response (used for the 64 MiB GET, where buffering would measure wrk).

bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

-- Reads a file next to the scripts (request bodies shared with the shell's preflight check).
function bench_read(name)
  local f = assert(io.open(bench_dir .. name, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  first_failure = "none"
  expect_bytes = tonumber(os.getenv("BENCH_EXPECT_BYTES") or "")
end

function response(status, headers, body)
  local ok = status >= 200 and status < 300
  if ok and expect_bytes and #body ~= expect_bytes then
    ok = false
  end
  if not ok then
    failures = failures + 1
    if first_failure == "none" then
      first_failure = status .. "/" .. #body .. "B"
    end
  end
end

function done(summary, latency, requests)
  local total, first = 0, "none"
  for _, t in ipairs(threads) do
    total = total + (t:get("failures") or 0)
    local f = t:get("first_failure")
    if first == "none" and f then
      first = f
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d lua_failures=%d "
      .. "status_errors=%d connect=%d read=%d write=%d timeout=%d first_failure=%s\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), total,
    e.status, e.connect, e.read, e.write, e.timeout, first))
end
