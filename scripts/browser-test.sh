#!/usr/bin/env bash
# End-to-end test of the directory page in headless Chromium.
#
#   scripts/browser-test.sh [extra davd flags...]
#
# Installs Debian's chromium and node (with npm) if they are missing, installs playwright-core (npm ci in
# tests/browser), starts a fresh release davd on a free loopback port with temporary root
# and state, runs tests/browser/e2e.mjs against it, and stops davd. The test writes
# docs/browser.png, docs/browser-phone.png, docs/browser-history.png and
# docs/browser-details.png (the details panel of a locked file; SCREENSHOT_DIR overrides
# where).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

chromium_bin=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "node $(node --version) is older than playwright-core wants (20); trying anyway" >&2
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

cargo build --release -q -p davd
work=$(mktemp -d)
log="$work/davd.log"
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A second scope, so that the page's answer to a refused action (403: a mount point cannot be
# deleted) is tested too; the root keeps history, for the restore buttons.
mkdir -p "$work/root"
cat >"$work/davd.toml" <<TOML
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "$work/root" }
history = { keep = "1d" }

[[mount]]
scope = "/team"
namespace = { kind = "memory" }
TOML
./target/release/davd --config "$work/davd.toml" --state "$work/state" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
pid=$!
url=$(davd_url "$log")
[ -n "$url" ] || { echo "davd did not start:" >&2; cat "$log" >&2; exit 1; }

status=0
DAVD_URL="$url" CHROMIUM="$chromium_bin" node tests/browser/e2e.mjs || status=$?
if [ "$status" -ne 0 ]; then
    echo "browser test failed; davd's log follows" >&2
    cat "$log" >&2
fi
exit "$status"
