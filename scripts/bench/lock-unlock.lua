-- LOCK and UNLOCK, pair after pair: each thread locks files of its own in turn
-- (/locks/run-RUN/lock-THREAD-NNN.txt, BENCH_LOCK_FILES of them per thread) and releases every
-- lock it was granted with its next request. A pair is two requests: pairs/s = requests/s / 2.
-- Each wrk run (warm-up, measurement, round) has files of its own (BENCH_LOCK_RUN): the locks
-- still held when a run ends stay until their timeout, and would make the next run's LOCKs
-- of the same files 423.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local lockinfo = bench_read("lockinfo.xml")
local files = tonumber(os.getenv("BENCH_LOCK_FILES") or "64")
local run = os.getenv("BENCH_LOCK_RUN") or "0"

-- Number the threads (common.lua keeps the list for the summary).
local common_setup = setup
local threads_numbered = 0
function setup(thread)
  common_setup(thread)
  thread:set("thread_id", threads_numbered)
  threads_numbered = threads_numbered + 1
end

local counter = 0
-- Locks granted and not yet released: { path, token }, oldest first.
local granted = {}

function request()
  local held = table.remove(granted, 1)
  if held then
    return wrk.format("UNLOCK", held.path, { ["Lock-Token"] = "<" .. held.token .. ">" }, nil)
  end
  counter = counter + 1
  local path = string.format("/locks/run-%s/lock-%d-%03d.txt", run, thread_id, counter % files)
  return wrk.format("LOCK", path, {
    ["Content-Type"] = 'application/xml; charset="utf-8"',
    ["Timeout"] = "Second-60",
  }, lockinfo)
end

local common_response = response
function response(status, headers, body)
  common_response(status, headers, body)
  if status ~= 200 then
    return
  end
  local token = headers["Lock-Token"] or headers["lock-token"]
  -- The lock's root, from the lock discovery in the body (an absolute URL or a path).
  local root = body:match("lockroot>%s*<[^>]*href>([^<]*)<")
  if token and root then
    token = token:match("<(.*)>") or token
    root = root:gsub("^https?://[^/]+", "")
    table.insert(granted, { path = root, token = token })
  end
end
