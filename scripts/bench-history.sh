#!/usr/bin/env bash
# What keeping history costs (docs/history.md): the same release davd with and without
# --keep-history, measured in one run, taking turns.
#
#   scripts/bench-history.sh            # 3 rounds of 5 s per case and server
#   ROUNDS=5 DURATION=10 scripts/bench-history.sh
#
# Cases: PUT 4 KiB to one path (each PUT keeps a version and prunes the oldest past 50), PUT
# 4 KiB to 64 paths per thread, and GET 4 KiB (which history should not touch). wrk -t2 -c16,
# the Lua scripts of scripts/bench/. Prints requests per second per round, the medians and
# the ratio with history to without.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
cargo build --release -q -p davd
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

declare -A url
start() {
    local name=$1
    shift
    mkdir -p "$work/$name/root/put-many"
    head -c 4096 /dev/urandom >"$work/$name/root/file-4k.bin"
    ./target/release/davd --root "$work/$name/root" --state "$work/$name/state" \
        --listen 127.0.0.1:0 --access-log off "$@" >"$work/$name/davd.log" 2>&1 &
    pids+=($!)
    local u
    u=$(davd_url "$work/$name/davd.log")
    [ -n "$u" ] || { echo "davd ($name) did not start" >&2; cat "$work/$name/davd.log" >&2; exit 1; }
    url[$name]=${u%/}
}
start plain
start history --keep-history 30d

declare -A target=([put4k]=/put-4k.bin [put4kmany]=/ [get4k]=/file-4k.bin)
declare -A script=([put4k]=put.lua [put4kmany]=put-many.lua [get4k]=get.lua)
declare -A results
for case in put4k put4kmany get4k; do
    for round in $(seq 1 "$rounds"); do
        for name in plain history; do
            rate=$(wrk -t2 -c16 -d"${duration}s" -s "scripts/bench/${script[$case]}" \
                "${url[$name]}${target[$case]}" 2>/dev/null | awk '/^Requests\/sec/ {print $2}')
            results[$case,$name]+="${rate:-0} "
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| case | without history (req/s, rounds) | with history | median ratio |\n|---|---:|---:|---:|\n'
for case in put4k put4kmany get4k; do
    plain=$(echo "${results[$case,plain]}" | median)
    kept=$(echo "${results[$case,history]}" | median)
    ratio=$(awk -v a="$kept" -v b="$plain" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '| %s | %s (%s) | %s (%s) | %sx |\n' "$case" "$plain" "${results[$case,plain]% }" \
        "$kept" "${results[$case,history]% }" "$ratio"
done
versions=$(find "$work/history/root/.davd-history/versions" -type f | wc -l)
echo "versions kept at the end: $versions (50 per path at most)"
