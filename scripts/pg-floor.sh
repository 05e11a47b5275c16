#!/usr/bin/env bash
# The floor under a cluster PUT on this machine (issue 18, docs/performance.md "The floor of one
# transaction per PUT"): how fast davd could PUT if a PUT cost nothing but davd's own work on
# sled plus the cheapest transaction PostgreSQL can be asked for it.
#
# davd on sled takes PUTs (wrk, the bench's put-many.lua: 4 KiB to 128 paths) while pgbench,
# PostgreSQL's own C client, runs a PUT's transaction at a fixed rate on the same machine, in
# its cheapest shape: statements prepared once, all of a transaction in one pipeline with one
# Sync (one round trip, one answer flushed). When both keep up with the same rate R, a server
# that did both for each PUT could at best serve R PUTs/s on these cores; when davd falls
# below R, no such server reaches R. The transaction comes in five sizes:
#
#   bare      the latch on the path, the document record's upsert, COMMIT: less than any
#             cluster PUT asks (no lock check, no record read, no change log)
#   full      what a PUT to a file asks today (subsystems/src/postgres/: latches.rs, locks.rs
#             `covering`, properties.rs `GET`, the upsert, COMMIT)
#   full+log  full, and one change-log append of six entries for every six PUTs (the
#             bench's grouping, changes.rs), by pgbench's script weights
#   batch8    full for eight PUTs in one transaction: latches, checks, reads and upserts
#             of eight paths and one COMMIT, as if davd gathered the PUTs in flight into
#             shared transactions (what that lever could reach at best; 128 paths only)
#   group8    batch8 as such a design would have to send it: each PUT in a savepoint of its
#             own (SAVEPOINT, RELEASE), so that one PUT's failed statement does not fail the
#             seven others, and the group's change-log append (eight entries) in the
#             transaction; still one Sync
#
# Each round measures davd on sled alone (S) and davd on PostgreSQL (the cluster PUT, as
# `bench.sh cluster` does), then each size at the rates FLOOR_FRACTIONS x S. Ratios are to S,
# the denominator of issue 18's PUT target. davd on sled does its own store's work on top
# (its document record and change log in sled), which a cluster PUT does not: that makes the
# floor a little lower than an exact one. bare and full leave the change log out, which
# makes them higher.
#
#   bash scripts/pg-floor.sh
#
# Environment (all optional): FLOOR_PATHS=128 (the bench's put4kmany; 1: its put4k, every
# PUT to one path and every transaction on one latch), FLOOR_DURATION=5 (seconds per
# measurement), FLOOR_ROUNDS=2, FLOOR_FRACTIONS="0.5 0.6 0.7", FLOOR_SIZES (default all five;
# bare, full and full+log for one path), DAVD_BIN (default target/release/davd, built if
# missing). Needs wrk and PostgreSQL with pgbench (Debian's postgresql package); TMPDIR decides
# the file system the roots are on.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

duration=${FLOOR_DURATION:-5}
rounds=${FLOOR_ROUNDS:-2}
fractions=${FLOOR_FRACTIONS:-0.5 0.6 0.7}
sizes=${FLOOR_SIZES:-bare full full+log batch8 group8}
davd_bin=${DAVD_BIN:-target/release/davd}
paths=${FLOOR_PATHS:-128}
case "$paths" in
    128) lua=scripts/bench/put-many.lua target="" ;;
    1)
        lua=scripts/bench/put.lua target=put-one.bin
        [ -n "${FLOOR_SIZES:-}" ] || sizes="bare full full+log"
        ;;
    *) echo "FLOOR_PATHS is 128 or 1, not $paths" >&2; exit 2 ;;
esac
for size in $sizes; do
    case "$size" in
        bare | full | full+log) ;;
        batch8 | group8)
            [ "$paths" = 128 ] ||
                { echo "$size needs FLOOR_PATHS=128: one path's PUTs cannot share a transaction" >&2; exit 2; }
            ;;
        *) echo "unknown size $size (bare, full, full+log, batch8, group8)" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 2; }
[ -x "$davd_bin" ] || cargo build --release -p davd

work=$(mktemp -d "${TMPDIR:-/tmp}/davd-pg-floor.XXXXXX")
chmod 755 "$work" # PostgreSQL runs as the postgres user when we are root
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pg_stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
pg_start "$work/pg"
pgbench="$(pg_bin)/pgbench"
[ -x "$pgbench" ] || { echo "pgbench is missing (Debian's postgresql package has it)" >&2; exit 2; }

# start_davd NAME KIND: davd with properties and locks of KIND (sled or postgres), serving its
# own root; sets url_NAME.
start_davd() {
    local dir="$work/$1"
    mkdir -p "$dir/root/put-many"
    {
        [ "$2" = postgres ] && printf '[cluster]\ndatabase = "%s"\ninstance = "floor"\n\n' "$PG_URL"
        printf '[[mount]]\nscope = "/"\nnamespace = { kind = "fs", root = "%s" }\n' "$dir/root"
        printf 'properties = { kind = "%s" }\nlocks = { kind = "%s" }\n' "$2" "$2"
    } >"$dir/davd.toml"
    "$davd_bin" --config "$dir/davd.toml" --state "$dir/state" --listen 127.0.0.1:0 \
        --access-log off >"$dir/davd.log" 2>&1 &
    pids+=($!)
    local u
    u=$(davd_url "$dir/davd.log")
    [ -n "$u" ] || { echo "davd ($1) did not start:" >&2; cat "$dir/davd.log" >&2; exit 1; }
    printf -v "url_$1" '%s' "$u"
}
start_davd sled sled
start_davd cluster postgres # also creates the schema the transactions below run on

# The statements of a PUT to /put-many/x<k>, written as pg-shapes.sh writes them (the
# namespace and the record's text without colons, which pgbench would read as variables; the
# ancestors' keys negative, apart from the paths' keys).
latch="SELECT pg_advisory_xact_lock_shared(-11), pg_advisory_xact_lock_shared(-12), pg_advisory_xact_lock(:k), set_config('statement_timeout', '2000', true);"
check="SELECT token, root, exclusive, deep, owner_xml, principal, timeout_s, (EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::bigint FROM davd_locks WHERE root = ANY(ARRAY['/', '/put-many', '/put-many/x' || :k]) AND (deep OR root = '/put-many/x' || :k) AND (expires_at IS NULL OR expires_at > now());"
read_record="SELECT xml FROM davd_props WHERE dir = '/put-many/' AND name = 'x' || :k AND ns = 'urn-davd-internal' AND local = 'document';"
upsert="INSERT INTO davd_props (dir, name, ns, local, xml) VALUES ('/put-many/', 'x' || :k, 'urn-davd-internal', 'document', '<i-document xmlns-i=\"urn-davd-internal\">1;69b18b5a214e4d6e9fd7df2d9486d47e;3;98c5ef-3-18eecde29bb69a25;</i-document>') ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml;"
append_of() { # N: one change-log append of N entries, as changes.rs's APPEND
    local paths="" kinds="" i
    for i in $(seq 1 "$1"); do
        paths+="${paths:+, }'/put-many/x$i'"
        kinds+="${kinds:+, }'r'"
    done
    printf '%s' "INSERT INTO davd_changes (seq, path, kind) SELECT m.top + t.ord, t.path, t.kind FROM (SELECT coalesce(max(seq), 0) AS top FROM davd_changes) m, unnest(ARRAY[$paths], ARRAY[$kinds]) WITH ORDINALITY AS t(path, kind, ord) ORDER BY t.ord ON CONFLICT (seq) DO NOTHING RETURNING seq;"
}
transaction() { # STATEMENT...: one pipelined transaction on one of the paths
    printf '\\set k random(1, %s)\n' "$paths"
    printf '\\startpipeline\nBEGIN;\n'
    printf '%s\n' "$@"
    printf 'COMMIT;\n\\endpipeline\n'
}
transaction "$latch" "$upsert" >"$work/bare.sql"
transaction "$latch" "$check" "$read_record" "$upsert" >"$work/full.sql"
{ append_of 6; echo; } >"$work/append.sql"
# Eight consecutive paths of the 128 per transaction, keys ascending: two transactions share
# all their keys or none, so they never wait for each other in a cycle.
{
    printf '\\set b 8 * random(0, 15)\n\\startpipeline\nBEGIN;\n'
    for i in 1 2 3 4 5 6 7 8; do
        printf '\\set k :b + %s\n' "$i"
        printf '%s\n' "$latch" "$check" "$read_record" "$upsert"
    done
    printf 'COMMIT;\n\\endpipeline\n'
} >"$work/batch8.sql"
{
    printf '\\set b 8 * random(0, 15)\n\\startpipeline\nBEGIN;\n'
    for i in 1 2 3 4 5 6 7 8; do
        printf '\\set k :b + %s\n' "$i"
        printf '%s\n' "SAVEPOINT m$i;" "$latch" "$check" "$read_record" "$upsert" "RELEASE SAVEPOINT m$i;"
    done
    printf '%s\nCOMMIT;\n\\endpipeline\n' "$(append_of 8)"
} >"$work/group8.sql"
# pgbench's arguments for a size, and how many of its transactions make one PUT's worth.
size_args() {
    case "$1" in
        bare) echo "-f $work/bare.sql" ;;
        full) echo "-f $work/full.sql" ;;
        full+log) echo "-f $work/full.sql@6 -f $work/append.sql@1" ;;
        batch8) echo "-f $work/batch8.sql" ;;
        group8) echo "-f $work/group8.sql" ;;
    esac
}
per_put() {
    case "$1" in
        full+log) echo "7 / 6" ;;
        batch8 | group8) echo "1 / 8" ;;
        *) echo 1 ;;
    esac
}

put_rate() { # URL: PUTs/s over the measurement
    wrk -t2 -c16 -d"${duration}s" -s "$lua" "$1$target" 2>/dev/null | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Warm-up: files, records and connections in place.
for u in "$url_sled" "$url_cluster"; do wrk -t2 -c16 -d2s -s "$lua" "$u$target" >/dev/null 2>&1; done

printf '%-9s %6s %9s %14s %14s %s\n' size round asked "davd PUTs/s" "pgbench PUTs" verdict
for round in $(seq 1 "$rounds"); do
    sled=$(put_rate "$url_sled")
    cluster=$(put_rate "$url_cluster")
    printf '%-9s %6s %9s %14s %14s %s\n' sled "$round" - "$sled" - "1.00x (the denominator)"
    printf '%-9s %6s %9s %14s %14s %s\n' cluster "$round" - "$cluster" - "$(ratio "$cluster" "$sled")x (davd on PostgreSQL)"
    for size in $sizes; do
        for fraction in $fractions; do
            asked=$(awk -v s="$sled" -v f="$fraction" 'BEGIN { printf "%d", s * f }')
            tx_rate=$(awk -v r="$asked" "BEGIN { printf \"%d\", r * $(per_put "$size") }")
            # pgbench runs a second longer on each side of the measurement.
            # shellcheck disable=SC2046
            "$pgbench" -n -M prepared -c 16 -j 2 -R "$tx_rate" -T $((duration + 2)) \
                $(size_args "$size") "$PG_URL" >"$work/pgbench.out" 2>&1 &
            bench=$!
            sleep 1
            davd=$(put_rate "$url_sled")
            wait "$bench" || { cat "$work/pgbench.out" >&2; exit 1; }
            done_puts=$(awk "/^tps/ { printf \"%d\", \$3 / ($(per_put "$size")) }" "$work/pgbench.out")
            verdict="davd $(ratio "$davd" "$sled")x at ${fraction}x asked"
            if [ "$davd" -ge "$asked" ] && [ "$done_puts" -ge $((asked * 97 / 100)) ]; then
                verdict="$verdict: both keep up"
            else
                verdict="$verdict: below it"
            fi
            printf '%-9s %6s %9s %14s %14s %s\n' "$size" "$round" "$asked" "$davd" "$done_puts" "$verdict"
        done
    done
done
