-- PUT of 4 KiB to many paths: each thread writes /put-many/put-THREAD-NN.bin in turn
-- (64 per thread), so that requests rarely wait for one another's latch and the case measures
-- the cost of a PUT rather than the serialised publish of one path.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local body = string.rep("0123456789abcdef", 256) -- 4096 bytes

local common_setup = setup
local threads_numbered = 0
function setup(thread)
  common_setup(thread)
  thread:set("thread_id", threads_numbered)
  threads_numbered = threads_numbered + 1
end

local counter = 0
function request()
  counter = counter + 1
  local path = string.format("/put-many/put-%d-%02d.bin", thread_id, counter % 64)
  return wrk.format("PUT", path, { ["Content-Type"] = "application/octet-stream" }, body)
end
