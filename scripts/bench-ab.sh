#!/usr/bin/env bash
# Two davd binaries against each other, taking turns (docs/performance.md): for a change
# whose effect is smaller than the drift of this shared machine between two runs of
# bench.sh, only turns taken in one run tell the two apart.
#
#   scripts/bench-ab.sh BEFORE_BIN AFTER_BIN [CASE ...]
#   ROUNDS=5 DURATION=5 scripts/bench-ab.sh /tmp/base/davd target/release/davd put4k
#
# Cases: get4k, propfind0, put4k (4 KiB to one path), put4kmany (4 KiB to 64 paths per
# thread), get64m (a 64 MiB download; requests per second times 64 MiB is the throughput);
# default put4k put4kmany. Each round starts each binary on a fresh root and state
# (so neither inherits the other's file system work), warms it up for a second and measures
# wrk -t2 -c16 for DURATION seconds. Prints requests per second and the server's user and
# kernel CPU per request for every round, then the medians and AFTER/BEFORE.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

before=${1:?usage: bench-ab.sh BEFORE_BIN AFTER_BIN [CASE ...]}
after=${2:?usage: bench-ab.sh BEFORE_BIN AFTER_BIN [CASE ...]}
shift 2
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(put4k put4kmany)
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }
scripts="$(pwd)/scripts/bench"
ticks=$(getconf CLK_TCK)

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

declare -A results
for round in $(seq 1 "$rounds"); do
    for case_name in "${cases[@]}"; do
        case $case_name in
        get4k) lua=get.lua path=/file-4k.bin ;;
        propfind0) lua=propfind-depth0.lua path=/file-4k.bin ;;
        put4k) lua=put.lua path=/put-4k.bin ;;
        put4kmany) lua=put-many.lua path=/put-many/ ;;
        get64m) lua=get-large.lua path=/file-64m.bin ;;
        *) echo "unknown case $case_name" >&2; exit 2 ;;
        esac
        for side in before after; do
            bin=$before
            [ "$side" = after ] && bin=$after
            rm -rf "$work/root" "$work/state"
            mkdir -p "$work/root/put-many"
            head -c 4096 /dev/urandom >"$work/root/file-4k.bin"
            if [ "$case_name" = get64m ]; then
                [ -f "$work/file-64m.bin" ] || head -c $((64 << 20)) /dev/urandom >"$work/file-64m.bin"
                ln "$work/file-64m.bin" "$work/root/file-64m.bin"
            fi
            "$bin" --root "$work/root" --state "$work/state" --access-log off \
                --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
            pid=$!
            base=$(davd_url "$work/server.log")
            [ -n "$base" ] || { echo "davd did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
            url="${base%/}$path"
            wrk -t2 -c16 -d1s -s "$scripts/$lua" "$url" >/dev/null 2>&1 || true
            read -r u0 s0 < <(cpu_ticks "$pid")
            out=$(wrk -t2 -c16 -d"${duration}s" -s "$scripts/$lua" "$url" 2>&1)
            read -r u1 s1 < <(cpu_ticks "$pid")
            kill "$pid"
            wait "$pid" 2>/dev/null || true
            pid=""
            requests=$(printf '%s\n' "$out" | sed -n 's/^BENCH.* requests=\([0-9]*\).*/\1/p' | head -n1)
            failures=$(printf '%s\n' "$out" | sed -n 's/^BENCH.* status_errors=\([0-9]*\).*/\1/p' | head -n1)
            rate=$((requests / duration))
            user=$(((u1 - u0) * 1000000 / ticks * 10 / requests))
            kernel=$(((s1 - s0) * 1000000 / ticks * 10 / requests))
            printf '%s round %s %-6s %7d req/s  CPU/request %d.%d+%d.%d µs  failures %s\n' \
                "$case_name" "$round" "$side" "$rate" $((user / 10)) $((user % 10)) \
                $((kernel / 10)) $((kernel % 10)) "${failures:-?}"
            results[$case_name.$side]+="$rate "
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
for case_name in "${cases[@]}"; do
    b=$(echo "${results[$case_name.before]}" | median)
    a=$(echo "${results[$case_name.after]}" | median)
    printf '%s: before %s req/s, after %s req/s (medians of %s), after/before %s\n' \
        "$case_name" "$b" "$a" "$rounds" "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", a / b}')"
done
