-- GET of a large file. No per-response Lua hook: wrk would copy every body into a Lua string
-- and measure itself. Non-2xx answers are counted by wrk (>= 400) and by bench.sh, which counts
-- the responses shorter than the file from the byte total.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
response = nil
