#!/usr/bin/env bash
# Counts the user-space instructions a server spends per request, with callgrind (issue 20):
# the server runs under `valgrind --tool=callgrind`, wrk warms it up, the counters are zeroed
# (`callgrind_control -z`), wrk measures, the counters are dumped (`callgrind_control -d`), and
# the instructions of that dump are divided by wrk's request count. Callgrind counts are
# deterministic, so they are valid on a busy machine, unlike times. One caveat: valgrind 3.19
# does not know `openat2` (it answers ENOSYS, "unhandled amd64-linux syscall: 437" in the log),
# so under it cap-std resolves paths by hand and opening a file by path costs more
# instructions than it does on the kernel alone.
#
#   bash scripts/callgrind-count.sh SERVER CASE [RUNS]
#
# SERVER: davd (target/release/davd, or DAVD_BIN), floor or floor-axum (target/release/
# davd-floor, or FLOOR_BIN, plain hyper or with an axum Router); CASE: get4k, propfind0 or
# put4k (PUTs of 4 KiB to one path).
# RUNS (default 1) measurements in a row against the same server, one line each. Set
# CALLGRIND_KEEP=1 to keep the dumps (for callgrind_annotate --inclusive=yes).
#
# Environment: CALLGRIND_WARMUP=2, CALLGRIND_DURATION=5 (seconds), CALLGRIND_CONNECTIONS=4.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
server=${1:?usage: callgrind-count.sh davd|floor|floor-axum get4k|propfind0|put4k [RUNS]}
case_name=${2:?usage: callgrind-count.sh davd|floor|floor-axum get4k|propfind0|put4k [RUNS]}
runs=${3:-1}
warmup=${CALLGRIND_WARMUP:-2}
duration=${CALLGRIND_DURATION:-5}
connections=${CALLGRIND_CONNECTIONS:-4}
scripts="$(pwd)/scripts/bench"

for tool in valgrind callgrind_control wrk; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install valgrind wrk)" >&2; exit 2; }
done
case $case_name in
get4k) lua=get.lua ;;
propfind0) lua=propfind-depth0.lua ;;
put4k) lua=put.lua ;;
*) echo "unknown case $case_name" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/davd-callgrind.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ -n "${CALLGRIND_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/root"
head -c 4096 /dev/urandom >"$work/root/file-4k.bin"

case $server in
davd) command=("${DAVD_BIN:-target/release/davd}" --root "$work/root" --state "$work/state" --access-log off) ;;
floor) command=("${FLOOR_BIN:-target/release/davd-floor}" --root "$work/root") ;;
floor-axum) command=("${FLOOR_BIN:-target/release/davd-floor}" --root "$work/root" --axum) ;;
*) echo "unknown server $server" >&2; exit 2 ;;
esac
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" \
    "${command[@]}" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
pid=$!
# Under valgrind a start takes seconds; davd_url waits up to 10 s, so ask twice.
base=$(davd_url "$work/server.log")
[ -n "$base" ] || base=$(davd_url "$work/server.log")
[ -n "$base" ] || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
target="${base%/}/file-4k.bin"

export BENCH_EXPECT_BYTES=""
wrk -t1 -c"$connections" -d"${warmup}s" -s "$scripts/$lua" "$target" >/dev/null 2>&1 || true
for run in $(seq 1 "$runs"); do
    callgrind_control -z "$pid" >/dev/null 2>&1
    out=$(wrk -t1 -c"$connections" -d"${duration}s" -s "$scripts/$lua" "$target" 2>&1)
    callgrind_control -d "$pid" >/dev/null 2>&1
    requests=$(printf '%s\n' "$out" | sed -n 's/^BENCH.* requests=\([0-9]*\).*/\1/p' | head -n1)
    # The newest dump: the one just taken.
    dump=$(ls -t "$work"/callgrind.out.* | head -n1)
    instructions=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump")
    [ -n "$instructions" ] || instructions=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dump")
    echo "$server $case_name run $run: $requests requests, $instructions instructions," \
        "$((instructions / requests)) per request"
done
