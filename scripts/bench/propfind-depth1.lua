-- PROPFIND Depth: 1, allprop, on a collection (the URL ends with a slash).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "1"
wrk.headers["Content-Type"] = 'application/xml; charset="utf-8"'
wrk.body = bench_read("propfind-allprop.xml")
