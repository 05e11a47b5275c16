#!/usr/bin/env bash
# How PROPFIND Depth 1 scales with the size of a collection (issue 8): times an allprop
# PROPFIND of collections of 1,000, 10,000 and 100,000 empty files, three runs each (median),
# and prints the time per member, which should stay roughly constant.
#
#   bash scripts/bench-scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
cargo build --release -q -p davd
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
sizes=(1000 10000 100000)
for n in "${sizes[@]}"; do
    mkdir -p "$work/root/c$n"
    (cd "$work/root/c$n" && seq -f "member-%06g.txt" 1 "$n" | xargs touch)
done
./target/release/davd --root "$work/root" --state "$work/state" --listen 127.0.0.1:0 >"$work/log" 2>&1 &
pid=$!
url=$(davd_url "$work/log")
[ -n "$url" ] || { cat "$work/log" >&2; exit 1; }
printf '| members | time (median of 3) | per member | responses |\n|--:|--:|--:|--:|\n'
for n in "${sizes[@]}"; do
    times=()
    for _ in 1 2 3; do
        t=$(curl -s -o "$work/out" -w '%{time_total}' -X PROPFIND -H 'Depth: 1' "${url}c$n/")
        times+=("$t")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    count=$(grep -o '</D:response>' "$work/out" | wc -l)
    per=$(echo "scale=2; $median * 1000000 / $n" | bc)
    printf '| %s | %.3f s | %s µs | %s |\n' "$n" "$median" "$per" "$count"
done
