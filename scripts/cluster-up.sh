#!/usr/bin/env bash
# Three davd instances serving one namespace, for trying a cluster out (docs/scaling.md).
#
#   scripts/cluster-up.sh [--port PORT] [--dir DIR] [--s3]
#
# Starts a throw-away PostgreSQL (or uses DAVD_DATABASE_URL when it is set), builds davd in
# release, and starts three instances on one shared root, each on its own port with its own
# state directory, all reading one configuration file (the database, properties and locks of
# kind "postgres"), and nginx in front of them sending requests to each in turn. Prints where
# everything is, and serves until Ctrl-C, which stops it all and removes the temporary
# directory (unless --dir named one: it is kept).
#
#   --port PORT   where nginx listens (default 8080; the instances take the three after it)
#   --dir DIR     keep everything in DIR (the shared root is DIR/root) instead of a temporary one
#   --s3          serve an s3 namespace instead of a shared root: the tree in the database, the
#                 bytes in a throw-away SeaweedFS (or the store in S3_ENDPOINT, with S3_BUCKET,
#                 S3_REGION and the keys in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

port=8080
dir=""
s3=""
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --s3) s3=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 2; }

keep=""
if [ -n "$dir" ]; then
    mkdir -p "$dir"
    work=$(cd "$dir" && pwd)
    keep=1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/davd-cluster.XXXXXX")
fi
chmod 755 "$work"
mkdir -p "$work/postgres" "$work/s3"
cleanup() {
    cluster_stop "$work"
    pg_stop "$work/postgres"
    s3_stop "$work/s3"
    [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building davd (release)"
cargo build --release -q -p davd
if [ -z "${DAVD_DATABASE_URL:-}" ]; then
    pg_start "$work/postgres"
    echo "PostgreSQL: $PG_URL (thrown away at the end)"
else
    echo "PostgreSQL: DAVD_DATABASE_URL"
fi
stored="shared root:                  $work/root"
if [ -n "$s3" ]; then
    if [ -z "${S3_ENDPOINT:-}" ]; then
        s3_start "$work/s3"
        echo "SeaweedFS: $S3_ENDPOINT, bucket $S3_BUCKET (thrown away at the end)"
    else
        echo "S3: $S3_ENDPOINT, bucket ${S3_BUCKET:-davd}"
    fi
    export CLUSTER_KIND=s3
    stored="bytes in:                     $S3_ENDPOINT/${S3_BUCKET:-davd}/${S3_PREFIX:-davd}/ (tree in PostgreSQL)"
fi
cluster_start "$work" "$(pwd)/target/release/davd" "$port" $((port + 1)) $((port + 2)) $((port + 3))

cat <<TEXT

A cluster of three davd instances is serving one namespace:

  through nginx (round robin):  $CLUSTER_URL
  instance by instance:         http://127.0.0.1:$((port + 1))/  http://127.0.0.1:$((port + 2))/  http://127.0.0.1:$((port + 3))/
  $stored
  configuration (all three):    $work/davd.toml
  logs:                         $work/davd-*.log, $work/nginx/error.log

Try: curl -T README.md ${CLUSTER_URL}readme.md; curl ${CLUSTER_URL}readme.md
Ctrl-C stops everything.
TEXT
while true; do sleep 3600; done
