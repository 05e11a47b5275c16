-- PUT of 4 KiB, always to the same path (the first creates the file, the rest replace it).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("0123456789abcdef", 256) -- 4096 bytes
