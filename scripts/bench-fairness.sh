#!/usr/bin/env bash
# Whether a long request holds up the other connections of its connection thread (ADR 0016):
# starts davd with ONE connection thread, so that every connection shares it, and while a
# large collection is listed (PROPFIND Depth 1 allprop, then GET of its HTML page) asks for a
# small file again and again on new connections. Prints the small GETs' latencies: a request
# that kept the thread to itself shows as a maximum as long as itself.
#
#   bash scripts/bench-fairness.sh             # 100,000 members
#   FAIRNESS_MEMBERS=20000 bash scripts/bench-fairness.sh
#   DAVD_BIN=PATH bash scripts/bench-fairness.sh   # another davd binary
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
members=${FAIRNESS_MEMBERS:-100000}
if [ -n "${DAVD_BIN:-}" ]; then
    davd_bin=$DAVD_BIN
else
    cargo build --release -q -p davd
    davd_bin=./target/release/davd
fi
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/root/big"
(cd "$work/root/big" && seq -f "member-%06g.txt" 1 "$members" | xargs touch)
echo x >"$work/root/small.txt"
"$davd_bin" --root "$work/root" --state "$work/state" --listen 127.0.0.1:0 --threads 1 \
    >"$work/log" 2>&1 &
pid=$!
url=$(davd_url "$work/log")
[ -n "$url" ] || { cat "$work/log" >&2; exit 1; }

# Runs the long request ($@ after the URL suffix) three times in the background and small GETs
# until it is done; prints one table row.
measure() {
    local label=$1 path=$2
    shift 2
    (for _ in 1 2 3; do curl -s -o /dev/null "$@" "$url$path"; done) &
    local long=$! count=0
    : >"$work/latencies"
    while kill -0 "$long" 2>/dev/null; do
        curl -s -o /dev/null -w '%{time_total}\n' "${url}small.txt" >>"$work/latencies"
        count=$((count + 1))
        sleep 0.002
    done
    wait "$long"
    sort -n "$work/latencies" >"$work/sorted"
    local n p50 p99 max
    n=$(wc -l <"$work/sorted")
    p50=$(sed -n "$(((n + 1) / 2))p" "$work/sorted")
    p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$work/sorted")
    max=$(tail -n1 "$work/sorted")
    printf '| %s | %s | %.2f ms | %.2f ms | %.2f ms |\n' "$label" "$n" \
        "$(echo "$p50 * 1000" | bc)" "$(echo "$p99 * 1000" | bc)" "$(echo "$max * 1000" | bc)"
}

echo "one connection thread, a collection of $members members"
printf '| alongside | small GETs | p50 | p99 | max |\n|---|--:|--:|--:|--:|\n'
measure "PROPFIND Depth 1 allprop" big/ -X PROPFIND -H 'Depth: 1'
measure "GET, plain index" big/
measure "GET, browser page" big/ -H 'Accept: text/html'
