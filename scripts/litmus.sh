#!/usr/bin/env bash
# Runs the litmus WebDAV conformance suite against a fresh davd.
#
#   scripts/litmus.sh [extra davd flags...]
#
# Starts davd on a free loopback port with a temporary root and state directory, runs every
# litmus suite (basic, copymove, props, locks, http), prints the summary lines, and exits
# non-zero on any failure or warning.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v litmus >/dev/null || { echo "litmus is not installed (apt-get install -y litmus)" >&2; exit 2; }

cargo build --release -q -p davd
work=$(mktemp -d)
log="$work/davd.log"
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

./target/release/davd --root "$work/root" --state "$work/state" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$log" | head -n1 || true)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "davd did not start:" >&2; cat "$log" >&2; exit 1; }

out="$work/litmus.out"
export TESTS="${TESTS:-basic copymove props locks http}"
(cd "$work" && litmus "$url" ${LITMUS_USER:+"$LITMUS_USER"} ${LITMUS_PASSWORD:+"$LITMUS_PASSWORD"} >"$out" 2>&1) || true

grep -E '^<- summary|warning|WARNING|FAIL' "$out" || true
passed=$(grep -E '^<- summary' "$out" | sed -E 's/.*of ([0-9]+) tests run: ([0-9]+) passed.*/\2/' | paste -sd+ | bc)
total=$(grep -E '^<- summary' "$out" | sed -E 's/.*of ([0-9]+) tests run.*/\1/' | paste -sd+ | bc)
echo "litmus: $passed of $total passed"
if grep -qE 'FAIL|failed, *[1-9]|[0-9]+ warnings? (was|were) issued' "$out" || [ "$passed" != "$total" ] || [ -z "$total" ]; then
    echo "litmus: failures or warnings (full output follows)" >&2
    cat "$out" >&2
    exit 1
fi
