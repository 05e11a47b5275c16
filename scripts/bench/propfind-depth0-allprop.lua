-- PROPFIND Depth: 0 allprop on a file with one dead property: its live properties, the dead
-- one and its lock discovery (what reads the property store and the lock table).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "0"
wrk.headers["Content-Type"] = 'application/xml; charset="utf-8"'
wrk.body = bench_read("propfind-allprop.xml")
