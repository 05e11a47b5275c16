-- PROPFIND Depth: 0 of four properties (getcontentlength, getlastmodified, getetag,
-- resourcetype) on a file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "0"
wrk.headers["Content-Type"] = 'application/xml; charset="utf-8"'
wrk.body = bench_read("propfind-four.xml")
