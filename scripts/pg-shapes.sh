#!/usr/bin/env bash
# What the statements of one cluster PUT cost PostgreSQL by the shape of the messages that
# carry them (issue 18, docs/performance.md "A cluster PUT's statements by the shape of their
# messages"). pgbench, PostgreSQL's own C client, runs the transaction a PUT to a file in a
# collection asks of the database (the latch's advisory locks, the lock check, the document
# record's read and upsert, commit), on davd's own tables, in three shapes:
#
#   sync-each   every statement prepared, sent and answered on its own: a Sync, a
#               ReadyForQuery and a flush of the server's output per statement (what
#               tokio-postgres sends for each statement, pipelined or not)
#   one-sync    the same prepared statements in one pipeline with one Sync at its end: one
#               answer, flushed once (libpq's pipeline mode; JDBC's batches)
#   one-query   the same statements as one simple-protocol query string: one answer, but
#               each statement parsed and planned every time
#
# and prints, per shape, transactions/s and the CPU time per transaction of PostgreSQL's
# processes and of pgbench (user + kernel, µs).
#
#   bash scripts/pg-shapes.sh
#
# Environment (all optional): SHAPES_DURATION=5 (seconds per run), SHAPES_ROUNDS=2,
# SHAPES_CLIENTS=16, SHAPES_KEYS=1024 (paths the transactions spread over; 1 for PUTs to one
# path), DAVD_BIN (default target/release/davd, built if missing; started once to create
# the schema), DAVD_DATABASE_URL (else a throw-away PostgreSQL from scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

duration=${SHAPES_DURATION:-5}
rounds=${SHAPES_ROUNDS:-2}
clients=${SHAPES_CLIENTS:-16}
keys=${SHAPES_KEYS:-1024}
ticks=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/davd-pg-shapes.XXXXXX")
chmod 755 "$work" # PostgreSQL runs as the postgres user when we are root
davd_pid=""
cleanup() {
    [ -n "$davd_pid" ] && kill "$davd_pid" 2>/dev/null && wait "$davd_pid" 2>/dev/null
    [ -z "${DAVD_DATABASE_URL:-}" ] && pg_stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${DAVD_DATABASE_URL:-}" ]; then
    database=$DAVD_DATABASE_URL
else
    mkdir -p "$work/pg"
    pg_start "$work/pg"
    database=$PG_URL
fi
bin=$(pg_bin)
[ -x "$bin/pgbench" ] || { echo "pgbench is missing (Debian's postgresql package has it)" >&2; exit 2; }

# davd creates its schema at startup; one PUT makes sure it is there.
davd_bin=${DAVD_BIN:-target/release/davd}
[ -x "$davd_bin" ] || cargo build --release -p davd
mkdir -p "$work/root"
printf '[cluster]\ndatabase = "%s"\ninstance = "shapes"\n\n[[mount]]\nscope = "/"\nnamespace = { kind = "fs", root = "%s" }\nproperties = { kind = "postgres" }\nlocks = { kind = "postgres" }\n' \
    "$database" "$work/root" >"$work/davd.toml"
"$davd_bin" --config "$work/davd.toml" --state "$work/state" --listen 127.0.0.1:0 \
    --access-log off >"$work/davd.log" 2>&1 &
davd_pid=$!
url=$(davd_url "$work/davd.log")
[ -n "$url" ] || { echo "davd did not start:" >&2; cat "$work/davd.log" >&2; exit 1; }
curl -sf -o /dev/null -T /dev/null "${url}schema-check.txt" || { echo "davd's PUT failed" >&2; exit 1; }
kill "$davd_pid" && wait "$davd_pid" 2>/dev/null || true
davd_pid=""

# The statements davd sends for a PUT to /put-many/x<k> (subsystems/src/postgres/: latches.rs,
# locks.rs `covering`, properties.rs `GET` and the record's upsert), with the values written
# in; the namespace and the record's text without colons, which pgbench would read as
# variables, at the same lengths. The ancestors' tree keys are negative and the path's node
# key k positive: a real key never takes another path's key (a path key equal to an ancestor's
# would make one PUT in a few hundred wait for every other).
cat >"$work/statements.sql" <<'EOF'
BEGIN;
SELECT pg_advisory_xact_lock_shared(-11), pg_advisory_xact_lock_shared(-12), pg_advisory_xact_lock(:k), set_config('statement_timeout', '2000', true);
SELECT token, root, exclusive, deep, owner_xml, principal, timeout_s, (EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::bigint FROM davd_locks WHERE root = ANY(ARRAY['/', '/put-many', '/put-many/x' || :k]) AND (deep OR root = '/put-many/x' || :k) AND (expires_at IS NULL OR expires_at > now());
SELECT xml FROM davd_props WHERE dir = '/put-many/' AND name = 'x' || :k AND ns = 'urn-davd-internal' AND local = 'document';
INSERT INTO davd_props (dir, name, ns, local, xml) VALUES ('/put-many/', 'x' || :k, 'urn-davd-internal', 'document', '<i-document xmlns-i="urn-davd-internal">1;69b18b5a214e4d6e9fd7df2d9486d47e;3;98c5ef-3-18eecde29bb69a25;</i-document>') ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml;
COMMIT;
EOF
{ echo "\\set k random(1, $keys)"; cat "$work/statements.sql"; } >"$work/sync-each.sql"
{ echo "\\set k random(1, $keys)"; echo '\startpipeline'; cat "$work/statements.sql"; echo '\endpipeline'; } >"$work/one-sync.sql"
{ echo "\\set k random(1, $keys)"; sed 's/;$/ \\;/; $ s/ \\;$/;/' "$work/statements.sql"; } >"$work/one-query.sql"

# PostgreSQL's CPU time: `cpu_ticks` (scripts/lib.sh) of the throw-away one's postmaster,
# with its backends, also those of connections that ended. Not measured for a database of
# DAVD_DATABASE_URL, which may be elsewhere.
postmaster=""
[ -z "${DAVD_DATABASE_URL:-}" ] && postmaster=$(head -n1 "$work/pg/data/postmaster.pid")
pg_ticks() {
    if [ -n "$postmaster" ]; then cpu_ticks "$postmaster"; else echo "0 0"; fi
}

printf '%-10s %6s %10s %20s %20s\n' shape round tx/s "PostgreSQL µs/tx" "pgbench µs/tx"
TIMEFORMAT='%U %S'
for round in $(seq 1 "$rounds"); do
    for shape in sync-each one-sync one-query; do
        mode=prepared
        [ "$shape" = one-query ] && mode=simple
        read -r pu0 pk0 < <(pg_ticks)
        { time "$bin/pgbench" -n -M "$mode" -c "$clients" -j 2 -T "$duration" \
            -f "$work/$shape.sql" "$database" >"$work/out" 2>&1; } 2>"$work/time" ||
            { cat "$work/out" >&2; exit 1; }
        # Backends end after pgbench; their times reach the postmaster when it reaps them.
        sleep 0.5
        read -r pu1 pk1 < <(pg_ticks)
        tx=$(awk '/number of transactions actually processed/ {print $NF}' "$work/out" | cut -d/ -f1)
        tps=$(awk '/^tps/ {printf "%.0f", $3}' "$work/out")
        [ "${tx:-0}" -gt 0 ] || { cat "$work/out" >&2; exit 1; }
        read -r bu bk <"$work/time"
        bench=$(awk -v u="$bu" -v k="$bk" -v n="$tx" 'BEGIN { printf "%.0f + %.0f", u * 1e6 / n, k * 1e6 / n }')
        pg="-"
        [ -n "$postmaster" ] && pg="$(((pu1 - pu0) * 1000000 / ticks / tx)) + $(((pk1 - pk0) * 1000000 / ticks / tx))"
        printf '%-10s %6s %10s %20s %20s\n' "$shape" "$round" "$tps" "$pg" "$bench"
    done
done
