-- GET of a small file; with BENCH_EXPECT_BYTES set, a body of another size is a failure.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
