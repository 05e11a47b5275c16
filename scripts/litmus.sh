#!/usr/bin/env bash
# Runs the litmus WebDAV conformance suite against a fresh davd.
#
#   scripts/litmus.sh [fs|sled|memory] [--auth] [--tls] [--history] [extra davd flags...]
#   scripts/litmus.sh cluster
#   scripts/litmus.sh s3
#   scripts/litmus.sh cluster-s3
#
# --auth turns on HTTP Basic authentication (a users file with the user "litmus") and runs
# litmus with those credentials; --tls serves HTTPS with a throw-away self-signed certificate;
# --history has /dav keep history (docs/history.md), so every overwrite and delete litmus
# makes is filed in /.history/dav and litmus must not notice.
#
# Starts davd on a free loopback port with a temporary root and state directory and a
# configuration that mounts a namespace of the given kind (default fs) at /dav, runs every
# litmus suite (basic, copymove, props, locks, http) against http://.../dav/, prints the summary
# lines, and exits non-zero on any failure or warning, or when the number of tests run is not
# the expected 104 (103 with --tls: litmus skips expect100 over TLS), so a suite that shrank
# fails too. Setting TESTS to a subset of the suites skips the count check.
#
# `cluster` runs litmus through nginx sending each request to the next of three davd instances
# that share one root and keep properties and locks in a throw-away PostgreSQL (or the one in
# DAVD_DATABASE_URL): every request of a litmus test may reach another instance
# (docs/scaling.md).
#
# `s3` mounts an s3 namespace at /dav (issue 21): its tree in a throw-away PostgreSQL (or
# DAVD_DATABASE_URL), its bytes in a throw-away SeaweedFS (or the store in
# DAVD_TEST_S3_ENDPOINT, with DAVD_TEST_S3_BUCKET and the AWS_* keys), under a fresh prefix.
#
# `cluster-s3` is both: three instances behind nginx serving one s3 namespace at / (one
# database, one bucket prefix, each instance its own --state, no shared root), with /dav a
# collection in it made before litmus starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v litmus >/dev/null || { echo "litmus is not installed (apt-get install -y litmus)" >&2; exit 2; }

kind=fs
case "${1:-}" in
    fs|sled|memory|cluster|s3|cluster-s3) kind=$1; shift ;;
esac
auth=""
tls=""
history=""
while [ $# -gt 0 ]; do
    case "$1" in
        --auth) auth=1; shift ;;
        --tls) tls=1; shift ;;
        --history) history=1; shift ;;
        *) break ;;
    esac
done

cargo build --release -q -p davd
work=$(mktemp -d)
chmod 755 "$work"
mkdir -p "$work/root" "$work/dav"
extra=""
[ "$kind" = fs ] && extra=", root = \"$work/dav\""
cat >"$work/davd.toml" <<TOML
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "$work/root" }

[[mount]]
scope = "/dav"
namespace = { kind = "$kind"$extra }
TOML
[ -n "$history" ] && echo 'history = { keep = "1d", max_versions = 5 }' >>"$work/davd.toml"
if [ "$kind" = s3 ] || [ "$kind" = cluster-s3 ]; then
    mkdir -p "$work/postgres" "$work/s3"
    database=${DAVD_DATABASE_URL:-}
    if [ -z "$database" ]; then
        pg_start "$work/postgres"
        database=$PG_URL
    fi
    if [ -n "${DAVD_TEST_S3_ENDPOINT:-}" ]; then
        S3_ENDPOINT=$DAVD_TEST_S3_ENDPOINT
        S3_BUCKET=${DAVD_TEST_S3_BUCKET:-davd}
        S3_REGION=${DAVD_TEST_S3_REGION:-us-east-1}
    else
        s3_start "$work/s3"
    fi
    # A prefix of this run's own: a store shared with other runs keeps them apart.
    S3_PREFIX="litmus-$(basename "$work")"
fi
if [ "$kind" = s3 ]; then
    cat >"$work/davd.toml" <<TOML
[cluster]
database = "$database"
instance = "litmus"

[[mount]]
scope = "/"
namespace = { kind = "fs", root = "$work/root" }

[[mount]]
scope = "/dav"
namespace = { kind = "s3", bucket = "$S3_BUCKET", endpoint = "$S3_ENDPOINT", region = "$S3_REGION", prefix = "$S3_PREFIX" }
properties = { kind = "postgres" }
locks = { kind = "postgres" }
TOML
fi
log="$work/davd.log"
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    case "$kind" in
        cluster|cluster-s3) cluster_stop "$work/cluster" ;;
    esac
    case "$kind" in
        cluster|s3|cluster-s3) pg_stop "$work/postgres" ;;
    esac
    case "$kind" in
        s3|cluster-s3) s3_stop "$work/s3" ;;
    esac
    rm -rf "$work"
}
trap cleanup EXIT

flags=()
credentials=()
if [ -n "$auth" ]; then
    printf 'litmus-password\n' | ./target/release/davd user add litmus --users "$work/users"
    flags+=(--users "$work/users")
    credentials=(litmus litmus-password)
fi
if [ -n "$tls" ]; then
    command -v openssl >/dev/null || { echo "--tls needs openssl" >&2; exit 2; }
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    flags+=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
fi
if [ "$kind" = cluster ] || [ "$kind" = cluster-s3 ]; then
    [ -z "$auth$tls" ] && [ $# = 0 ] || { echo "cluster mode takes no other options" >&2; exit 2; }
    command -v nginx >/dev/null || { echo "cluster mode needs nginx (apt-get install nginx)" >&2; exit 2; }
    mkdir -p "$work/postgres" "$work/cluster"
    if [ "$kind" = cluster-s3 ]; then
        # The s3 branch above started (or found) the database and the store.
        DAVD_DATABASE_URL=$database CLUSTER_KIND=s3 S3_ENDPOINT=$S3_ENDPOINT S3_BUCKET=$S3_BUCKET \
            S3_REGION=$S3_REGION S3_PREFIX=$S3_PREFIX \
            cluster_start "$work/cluster" "$(pwd)/target/release/davd" "$(free_port)"
        # The collection litmus works in, made through the load balancer like anything else.
        made=$(curl -s -o /dev/null -w '%{http_code}' -X MKCOL "${CLUSTER_URL}dav/" || true)
        [ "$made" = 201 ] || { echo "MKCOL /dav/ answered $made" >&2; exit 1; }
    else
        if [ -z "${DAVD_DATABASE_URL:-}" ]; then
            pg_start "$work/postgres"
        fi
        cluster_start "$work/cluster" "$(pwd)/target/release/davd" "$(free_port)"
        mkdir -p "$work/cluster/root/dav"
    fi
    url=$CLUSTER_URL
    log="$work/cluster/davd-*.log"
else
    ./target/release/davd "${flags[@]}" --config "$work/davd.toml" --state "$work/state" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    pid=$!
    url=$(davd_url "$log")
    [ -n "$url" ] || { echo "davd did not start:" >&2; cat "$log" >&2; exit 1; }
fi

out="$work/litmus.out"
expected=""
if [ -z "${TESTS:-}" ]; then
    expected=104
    if [ -n "$tls" ]; then expected=103; fi
fi
export TESTS="${TESTS:-basic copymove props locks http}"
if [ "$kind" = cluster ]; then
    echo "litmus through nginx in front of three instances at ${url}dav/"
elif [ "$kind" = cluster-s3 ]; then
    echo "litmus through nginx in front of three instances of one s3 namespace at ${url}dav/"
else
    echo "litmus against a $kind namespace at ${url}dav/${auth:+ (authenticated)}"
fi
(cd "$work" && litmus "${url}dav/" "${credentials[@]}" >"$out" 2>&1) || true

grep -E '^<- summary|warning|WARNING|FAIL|SKIP' "$out" || true
passed=$(grep -E '^<- summary' "$out" | sed -E 's/.*of ([0-9]+) tests run: ([0-9]+) passed.*/\2/' | paste -sd+ | bc)
total=$(grep -E '^<- summary' "$out" | sed -E 's/.*of ([0-9]+) tests run.*/\1/' | paste -sd+ | bc)
echo "litmus: $passed of $total passed${expected:+ (expected $expected)}"
if [ -n "$expected" ] && [ "$total" != "$expected" ]; then
    echo "litmus: $total tests ran, expected $expected (full output follows)" >&2
    cat "$out" >&2
    exit 1
fi
if grep -qE 'FAIL|failed, *[1-9]|[0-9]+ warnings? (was|were) issued' "$out" || [ "$passed" != "$total" ] || [ -z "$total" ]; then
    echo "litmus: failures or warnings (full output follows)" >&2
    cat "$out" >&2
    exit 1
fi
if [ -n "$history" ]; then
    # litmus overwrote and deleted plenty: the history must show it.
    kept=$(curl -s -X PROPFIND -H 'Depth: 1' "${url}.history/dav/.trash/" | grep -o '<D:href>' | wc -l)
    echo "history: removals kept in $((kept - 1)) second(s) of /.history/dav/.trash/"
    [ "$kept" -gt 1 ] || { echo "history: litmus's deletions were not kept" >&2; exit 1; }
fi
