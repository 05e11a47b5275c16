#!/usr/bin/env bash
# Benchmarks davd against other WebDAV servers on this machine, all in one run (issue 8), or
# davd with properties and locks in PostgreSQL against the same davd on sled (issue 18).
#
#   bash scripts/bench.sh            # davd against nginx, Apache (and dufs)
#   bash scripts/bench.sh cluster    # davd on PostgreSQL against davd on sled
#
# Installs what is missing (wrk, curl, nginx with the dav-ext module, Apache; as root with
# apt-get), builds davd in release, and starts davd and every installed peer (nginx, Apache
# with mod_dav_fs, dufs if it is already installed) on its own port on 127.0.0.1, each serving
# its own copy of the same files from a temporary directory with generated configs (nothing
# under /etc is read or changed). Then, case by case and server by server, it runs wrk and
# prints one table: requests/s (MB/s for the large GET), p99 latency, the server's CPU time per
# request (user + kernel, from /proc), failures (any answer outside 2xx, a body of the wrong
# size, or a socket error) and the ratio davd/peer, followed
# by the targets of issue 8 marked met or not met. Every server is stopped on exit.
#
# The cluster mode starts two davd, both serving a copy of the same files from the file system:
# "sled" keeps dead properties and locks in its sled store (the default), "postgres" in a
# throw-away PostgreSQL (started with scripts/lib.sh's pg_start, or DAVD_DATABASE_URL), as one
# instance of a cluster. Every member of the 1,000-file collection gets one dead property on
# both, so that the listing reads real rows. Its cases are the listing, the Depth 0 PROPFIND,
# the PUT and LOCK+UNLOCK pairs (pairs/s), and the ratio is postgres/sled, checked against the
# targets of issue 18.
#
# Environment (all optional):
#   BENCH_DURATION=10     seconds measured per case and server
#   BENCH_WARMUP=2        seconds of unmeasured load before each measurement (0: none)
#   BENCH_THREADS=2       wrk threads
#   BENCH_CONNECTIONS=16  wrk connections
#   BENCH_ROUNDS=1        measure every case this many times, servers interleaved, and report
#                         the median (with the range); use 3 or more on a shared machine
#   BENCH_SERVERS="davd nginx apache dufs floor"  the servers to run (those not installed are
#                         skipped; cluster mode: "sled postgres"). floor is davd-floor, a bare
#                         hyper server on davd's HTTP stack (benches/floor/), run only if it is
#                         built (cargo build --release -p davd-floor) and only for get4k,
#                         propfind0, put4k and put4kmany; with it, the report adds
#                         davd/floor and floor/nginx
#   BENCH_CASES="get4k propfind1 propfind0 put4k put4kmany get64m"  the cases (cluster mode:
#                         "propfind1 propfind0 propfind0all put4k put4kmany lockpair")
#   BENCH_LOCK_FILES=64   files each wrk thread locks in turn (lockpair)
#   BENCH_NO_INSTALL=1    never call apt-get
#   BENCH_KEEP=1          keep the temporary directory (configs, logs, raw wrk output)
#   BENCH_MARKDOWN=FILE   also write the results and targets tables to FILE
#   DAVD_BIN=PATH         use this davd binary instead of building target/release/davd
#   BENCH_LISTING_CACHE_MIB=N  davd's listing cache ([limits] listing_cache_mib; 0 switches it
#                         off). Unset: the default (on) against the peers; off for both davds
#                         of the cluster mode, which compares the stores' own cost
#   FLOOR_BIN=PATH        the davd-floor binary (default target/release/davd-floor, if built)
#   FLOOR_ARGS="..."      more arguments for davd-floor, e.g. "--writeback" (a PUT stages
#                         its file apart and starts its writeback before the rename, as davd)
#   BENCH_PG_STATEMENTS=1 cluster mode with the throw-away PostgreSQL: load pg_stat_statements
#                         and print, after each measurement of the postgres server, the
#                         statements that took the database's time, with calls per request and
#                         mean execution time (what a cluster request asks of PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
repo=$(pwd)
scripts="$repo/scripts/bench"

duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-16}
rounds=${BENCH_ROUNDS:-1}
mode=${1:-peers}
case $mode in
peers)
    servers_wanted=${BENCH_SERVERS:-davd nginx apache dufs floor}
    cases=${BENCH_CASES:-get4k propfind1 propfind0 put4k put4kmany get64m}
    subject=davd # the server whose ratios to the others are reported
    ;;
cluster)
    servers_wanted=${BENCH_SERVERS:-sled postgres}
    cases=${BENCH_CASES:-propfind1 propfind0 propfind0all put4k put4kmany lockpair}
    subject=postgres
    ;;
*)
    echo "usage: bash scripts/bench.sh [cluster]" >&2
    exit 2
    ;;
esac
# Every ratio is the subject's to a peer's: a run without the subject would measure for
# minutes and then have nothing to report.
if [[ " $servers_wanted " != *" $subject "* ]]; then
    echo "BENCH_SERVERS must include $subject, the server whose ratios to the others are reported" >&2
    exit 2
fi
lock_files=${BENCH_LOCK_FILES:-64}
export BENCH_LOCK_FILES=$lock_files
statements="" # set when pg_stat_statements is loaded (BENCH_PG_STATEMENTS)

nginx_dav_ext=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so
apache_modules=/usr/lib/apache2/modules

say() { printf '%s\n' "$*" >&2; }

# --- what we need --------------------------------------------------------------------------

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ "$mode" = peers ]; then
    command -v nginx >/dev/null || missing+=(nginx)
    [ -f "$nginx_dav_ext" ] || missing+=(libnginx-mod-http-dav-ext)
    command -v apache2 >/dev/null || missing+=(apache2)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ -z "${BENCH_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # Debian's packages try to start their services; in a container policy-rc.d refuses,
        # and where it does not, the system nginx/apache2 listen on :80 and do not disturb us.
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        say "missing: ${missing[*]} (install them, or run as root with apt-get); skipping those"
    fi
fi
command -v wrk >/dev/null || { say "wrk is required"; exit 2; }
command -v curl >/dev/null || { say "curl is required"; exit 2; }

if [ -n "${DAVD_BIN:-}" ]; then
    davd_bin=$DAVD_BIN
else
    say "building davd (release)"
    cargo build --release -q -p davd
    davd_bin="$repo/target/release/davd"
fi

# --- a temporary world ---------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/davd-bench.XXXXXX")
chmod 755 "$work" # the peers' worker processes (www-data when we are root) must traverse it

# The file system under the servers' files decides much of what a PUT costs: ext4 without a
# journal scans the recently deleted inodes of a block group on every file it creates, so its
# PUT rates say more about each server's temporary directory's history than about the server
# (docs/performance.md, "PUT on ext4 without a journal"). Put TMPDIR on a journaled file
# system to measure the servers.
file_system() {
    local source type
    read -r source type < <(findmnt -n -o SOURCE,FSTYPE --target "$work" 2>/dev/null || echo "? ?")
    if [ "$type" = ext4 ]; then
        if compgen -G "/proc/fs/jbd2/$(basename "$source")-*" >/dev/null; then
            type="ext4 with a journal"
        else
            type="ext4 WITHOUT a journal: PUT rates measure its inode allocator, see docs/performance.md"
        fi
    fi
    echo "$work on $source ($type)"
}
say "files: $(file_system)"
pids=()
declare -A server_pid=() # each server's first process: davd itself, nginx's and Apache's parent
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_stop "$work/pg"
    if [ -n "${BENCH_KEEP:-}" ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Unprivileged user for the peers' workers when we run as root.
peer_user=""
if [ "$(id -u)" = 0 ]; then
    if id www-data >/dev/null 2>&1; then peer_user=www-data; else peer_user=nobody; fi
fi
peer_group() { id -gn "$peer_user"; }

big_bytes=$((64 * 1024 * 1024))
say "generating the files"
data="$work/data"
mkdir -p "$data/dir1000"
head -c 4096 /dev/urandom >"$data/file-4k.bin"
[[ " $cases " == *" get64m "* ]] && head -c "$big_bytes" /dev/urandom >"$data/file-64m.bin"
for i in $(seq -w 1 1000); do
    printf 'file %s of the PROPFIND Depth 1 collection\n' "$i" >"$data/dir1000/member-$i.txt"
done
[[ " $cases " == *" put4kmany "* ]] && mkdir -p "$data/put-many"
if [[ " $cases " == *" lockpair "* ]]; then
    # Files of their own for each wrk run (warm-up and measurement, every round, every server).
    for run in $(seq 0 $((2 * rounds))); do
        mkdir -p "$data/locks/run-$run"
        for t in $(seq 0 $((threads - 1))); do
            for i in $(seq 0 $((lock_files - 1))); do
                printf 'locked and unlocked\n' >"$data/locks/run-$run/$(printf 'lock-%d-%03d.txt' "$t" "$i")"
            done
        done
    done
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p=$((20000 + RANDOM % 20000))
    while ! port_free "$p"; do p=$((p + 1)); done
    echo "$p"
}

# Waits until $1 answers HTTP (any status), up to 10 s.
wait_http() {
    local _
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}

declare -A url=()
servers=()

# Each server gets $work/<name>/root, a copy of the data.
prepare_root() {
    mkdir -p "$work/$1"
    cp -a "$data" "$work/$1/root"
    if [ -n "$peer_user" ] && [ "$mode" = peers ] && [ "$1" != davd ] && [ "$1" != dufs ]; then
        chown -R "$peer_user:$(peer_group)" "$work/$1"
    fi
}

start_davd() {
    prepare_root davd
    local log="$work/davd/davd.log" config=()
    if [ -n "${BENCH_LISTING_CACHE_MIB:-}" ]; then
        printf '[limits]\nlisting_cache_mib = %s\n' "$BENCH_LISTING_CACHE_MIB" >"$work/davd/davd.toml"
        config=(--config "$work/davd/davd.toml")
    fi
    # No access log, as for the peers (their `access_log off`).
    "$davd_bin" "${config[@]}" --root "$work/davd/root" --state "$work/davd/state" \
        --listen 127.0.0.1:0 --access-log off >"$log" 2>&1 &
    pids+=($!)
    server_pid[davd]=$!
    local u
    u=$(davd_url "$log")
    [ -n "$u" ] || { say "davd did not start:"; cat "$log" >&2; return 1; }
    url[davd]=${u%/}
}

# davd with dead properties and locks of kind $2 (sled or postgres), as the server $1.
start_davd_kind() {
    local name=$1 kind=$2
    prepare_root "$name"
    local dir="$work/$name" log="$work/$name/davd.log"
    {
        if [ "$kind" = postgres ]; then
            # One instance of a cluster: a name of its own, since it listens on port 0.
            printf '[cluster]\ndatabase = "%s"\ninstance = "bench"\n\n' "$database"
        fi
        printf '[[mount]]\nscope = "/"\nnamespace = { kind = "fs", root = "%s" }\n' "$dir/root"
        printf 'properties = { kind = "%s" }\nlocks = { kind = "%s" }\n' "$kind" "$kind"
        # A postgres store cannot prove a listing unchanged (other instances write it), so
        # sled's listings would come from the cache: the stores are compared without it.
        printf '\n[limits]\nlisting_cache_mib = %s\n' "${BENCH_LISTING_CACHE_MIB:-0}"
    } >"$dir/davd.toml"
    "$davd_bin" --config "$dir/davd.toml" --state "$dir/state" --listen 127.0.0.1:0 \
        --access-log off >"$log" 2>&1 &
    pids+=($!)
    server_pid[$name]=$!
    local u
    u=$(davd_url "$log")
    [ -n "$u" ] || { say "davd ($name) did not start:"; cat "$log" >&2; return 1; }
    url[$name]=${u%/}
    # One dead property on every member of the listed collection.
    local list="$work/$name/proppatch-urls" i
    : >"$list"
    for i in $(seq -w 1 1000); do
        printf 'url = "%s/dir1000/member-%s.txt"\noutput = "/dev/null"\n' "${url[$name]}" "$i" >>"$list"
    done
    local set
    set=$(curl -s --parallel --parallel-max 8 -X PROPPATCH \
        -H 'Content-Type: application/xml; charset="utf-8"' \
        --data-binary "@$scripts/proppatch-tag.xml" -w '%{http_code}\n' -K "$list" 2>/dev/null |
        grep -c '^207$' || true)
    [ "$set" = 1000 ] || say "  warning: $name: only $set of 1000 PROPPATCHes answered 207"
}

start_sled() { start_davd_kind sled sled; }

# psql against the bench's database (pg_stat_statements, BENCH_PG_STATEMENTS).
pg_sql() {
    "$(pg_bin)/psql" "$database" -qAtc "$1"
}

# The statements of the last measurement, most time first: calls per request, mean execution
# time (µs), total (ms), the statement's start. A report that fails does not stop the bench.
statements_report() {
    local requests=${1:-0}
    [ "$requests" -gt 0 ] 2>/dev/null || return 0
    say "    statements per request (calls, mean µs, total ms, statement):"
    { pg_sql "SELECT to_char(calls::numeric / $requests, 'FM990.00') || '  ' ||
                   to_char(mean_exec_time * 1000, 'FM999990.0') || '  ' ||
                   to_char(total_exec_time, 'FM9999990') || '  ' ||
                   left(regexp_replace(query, '\s+', ' ', 'g'), 90)
            FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'
            ORDER BY total_exec_time DESC LIMIT 8" | sed 's/^/      /' >&2; } ||
        say "      (no statement statistics)"
}

start_postgres() {
    database=${DAVD_DATABASE_URL:-}
    if [ -z "$database" ]; then
        mkdir -p "$work/pg"
        if [ -n "${BENCH_PG_STATEMENTS:-}" ]; then
            PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
                pg_start "$work/pg" || return 1
            statements=1
        else
            pg_start "$work/pg" || return 1
        fi
        database=$PG_URL
        [ -z "$statements" ] || pg_sql 'CREATE EXTENSION pg_stat_statements' >/dev/null
    fi
    start_davd_kind postgres postgres
}

start_nginx() {
    command -v nginx >/dev/null && [ -f "$nginx_dav_ext" ] || return 1
    prepare_root nginx
    local dir="$work/nginx" port
    port=$(free_port)
    mkdir -p "$dir/tmp"
    [ -n "$peer_user" ] && chown "$peer_user" "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
load_module $nginx_dav_ext;
${peer_user:+user $peer_user $(peer_group);}
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $dir/root;
        location / {
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            create_full_put_path on;
            client_max_body_size 0;
            dav_access user:rw group:rw all:r;
        }
    }
}
EOF
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    pids+=($!)
    server_pid[nginx]=$!
    url[nginx]="http://127.0.0.1:$port"
    wait_http "${url[nginx]}/" || { say "nginx did not start:"; cat "$dir/error.log" "$dir/stdout.log" >&2; return 1; }
}

start_apache() {
    command -v apache2 >/dev/null && [ -f "$apache_modules/mod_dav_fs.so" ] || return 1
    prepare_root apache
    local dir="$work/apache" port
    port=$(free_port)
    mkdir -p "$dir/run" "$dir/lock"
    [ -n "$peer_user" ] && chown "$peer_user" "$dir/run" "$dir/lock"
    local mime="# no /etc/mime.types"
    [ -f /etc/mime.types ] && mime="TypesConfig /etc/mime.types"
    cat >"$dir/apache2.conf" <<EOF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/run/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/error.log"
LogLevel warn
LoadModule mpm_event_module $apache_modules/mod_mpm_event.so
LoadModule authz_core_module $apache_modules/mod_authz_core.so
LoadModule mime_module $apache_modules/mod_mime.so
LoadModule dav_module $apache_modules/mod_dav.so
LoadModule dav_fs_module $apache_modules/mod_dav_fs.so
${peer_user:+User $peer_user}
${peer_user:+Group $(peer_group)}
$mime
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
EnableSendfile On
LimitRequestBody 0
DavLockDB "$dir/lock/DavLock"
DocumentRoot "$dir/root"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$dir/root">
    Dav On
    AllowOverride None
    Require all granted
</Directory>
EOF
    apache2 -f "$dir/apache2.conf" -DFOREGROUND >"$dir/stdout.log" 2>&1 &
    pids+=($!)
    server_pid[apache]=$!
    url[apache]="http://127.0.0.1:$port"
    wait_http "${url[apache]}/" || { say "Apache did not start:"; cat "$dir/error.log" "$dir/stdout.log" >&2; return 1; }
}

start_dufs() {
    command -v dufs >/dev/null || return 1
    prepare_root dufs
    local port
    port=$(free_port)
    dufs "$work/dufs/root" --bind 127.0.0.1 --port "$port" --allow-all >"$work/dufs/dufs.log" 2>&1 &
    pids+=($!)
    server_pid[dufs]=$!
    url[dufs]="http://127.0.0.1:$port"
    wait_http "${url[dufs]}/" || { say "dufs did not start:"; cat "$work/dufs/dufs.log" >&2; return 1; }
}

# The floor (benches/floor/, issue 20): the same HTTP stack as davd without davd's code, so
# davd/floor is what davd's own code costs and floor/nginx what the stack alone reaches. It
# is never built here: without the binary it is skipped and the report is as before.
start_floor() {
    local bin=${FLOOR_BIN:-$repo/target/release/davd-floor}
    [ -x "$bin" ] || { say "no $bin (cargo build --release -p davd-floor)"; return 1; }
    prepare_root floor
    local log="$work/floor/floor.log"
    # shellcheck disable=SC2086 # FLOOR_ARGS is a list of arguments
    "$bin" --root "$work/floor/root" --listen 127.0.0.1:0 ${FLOOR_ARGS:-} >"$log" 2>&1 &
    pids+=($!)
    server_pid[floor]=$!
    local u
    u=$(davd_url "$log")
    [ -n "$u" ] || { say "davd-floor did not start:"; cat "$log" >&2; return 1; }
    url[floor]=${u%/}
}

# Whether server $1 takes part in case $2: the floor answers only the small GET, PROPFIND
# and PUT.
serves() {
    [ "$1" != floor ] || [ "$2" = get4k ] || [ "$2" = propfind0 ] || [ "$2" = put4k ] ||
        [ "$2" = put4kmany ]
}

for s in $servers_wanted; do
    if "start_$s"; then
        servers+=("$s")
        say "started $s at ${url[$s]}/"
    elif [ "$s" = davd ] || [ "$mode" = cluster ]; then
        exit 1
    else
        say "skipping $s (not installed or did not start)"
    fi
done

# --- the cases -------------------------------------------------------------------------------

declare -A title=(
    [get4k]="GET 4 KiB"
    [propfind1]="PROPFIND Depth 1 allprop, 1,000 files"
    [propfind0]="PROPFIND Depth 0, 4 props, file"
    [put4k]="PUT 4 KiB, one path"
    [get64m]="GET 64 MiB"
    [lockpair]="LOCK+UNLOCK pairs, one file each"
    [propfind0all]="PROPFIND Depth 0 allprop, file with a dead property"
    [put4kmany]="PUT 4 KiB, 64 paths per thread"
)
declare -A path=(
    [get4k]=/file-4k.bin [propfind1]=/dir1000/ [propfind0]=/file-4k.bin
    [put4k]=/put-4k.bin [get64m]=/file-64m.bin [lockpair]=/locks/
    [propfind0all]=/dir1000/member-0001.txt [put4kmany]=/put-many/
)
declare -A script=(
    [get4k]=get.lua [propfind1]=propfind-depth1.lua [propfind0]=propfind-depth0.lua
    [put4k]=put.lua [get64m]=get-large.lua [lockpair]=lock-unlock.lua
    [propfind0all]=propfind-depth0-allprop.lua [put4kmany]=put-many.lua
)
declare -A expect_bytes=([get4k]=4096 [get64m]=$big_bytes)

# One request with curl before measuring, to show a misconfigured server at once (its failures
# are counted in the measurement anyway).
preflight() {
    local s=$1 c=$2 u="${url[$1]}${path[$2]}" body="$work/preflight-$1-$2" status
    case $c in
    get4k | get64m) status=$(curl -s --max-time 60 -o "$body" -w '%{http_code}' "$u") ;;
    propfind1)
        status=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' -X PROPFIND -H 'Depth: 1' \
            -H 'Content-Type: application/xml; charset="utf-8"' \
            --data-binary "@$scripts/propfind-allprop.xml" "$u")
        ;;
    propfind0)
        status=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' -X PROPFIND -H 'Depth: 0' \
            -H 'Content-Type: application/xml; charset="utf-8"' \
            --data-binary "@$scripts/propfind-four.xml" "$u")
        ;;
    propfind0all)
        status=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' -X PROPFIND -H 'Depth: 0' \
            -H 'Content-Type: application/xml; charset="utf-8"' \
            --data-binary "@$scripts/propfind-allprop.xml" "$u")
        ;;
    put4kmany)
        status=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' -X PUT \
            -H 'Content-Type: application/octet-stream' --data-binary "@$work/data/file-4k.bin" \
            "${url[$s]}/put-many/put-0-00.bin")
        ;;
    put4k)
        status=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' -X PUT \
            -H 'Content-Type: application/octet-stream' --data-binary "@$work/data/file-4k.bin" "$u")
        ;;
    lockpair)
        local file="${url[$s]}/locks/run-0/lock-0-000.txt" token
        status=$(curl -s --max-time 30 -o "$body" -D "$body.headers" -w '%{http_code}' -X LOCK \
            -H 'Content-Type: application/xml; charset="utf-8"' -H 'Timeout: Second-60' \
            --data-binary "@$scripts/lockinfo.xml" "$file")
        token=$(sed -n 's/^[Ll]ock-[Tt]oken: *\(<[^>]*>\).*/\1/p' "$body.headers" | tr -d '\r')
        if [ "$status" = 200 ]; then
            status=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X UNLOCK \
                -H "Lock-Token: $token" "$file")
        fi
        ;;
    esac
    local problem=""
    case $status in 2??) ;; *) problem="status $status" ;; esac
    if [ -z "$problem" ]; then
        case $c in
        get4k | get64m)
            [ "$(wc -c <"$body")" = "${expect_bytes[$c]}" ] || problem="body of $(wc -c <"$body") bytes"
            ;;
        propfind1)
            local n
            n=$(grep -oE '<([A-Za-z0-9]+:)?href>' "$body" | wc -l)
            [ "$n" = 1001 ] || problem="$n hrefs instead of 1001"
            ;;
        propfind0)
            local p
            for p in getcontentlength getlastmodified getetag resourcetype; do
                grep -q "$p" "$body" || problem="$problem no $p;"
            done
            ;;
        propfind0all)
            grep -q "listed with its members" "$body" || problem="no dead property"
            ;;
        esac
    fi
    [ -z "$problem" ] || say "  warning: $s $c: preflight request: $problem (see $body with BENCH_KEEP=1)"
}

# The value of key=$2 in the BENCH line of file $1.
field() { sed -n "s/^BENCH.* $2=\([^ ]*\).*/\1/p" "$1" | head -n1; }

# A server's CPU time is `cpu_ticks` of its first process (scripts/lib.sh): with nginx's and
# Apache's workers.
ticks_per_second=$(getconf CLK_TCK)

# Per case and server: the values of every round, space-separated, and the sums of failures.
declare -A rounds_value=() rounds_p99=() rounds_cpu=() failures=() note=()
run_case() {
    local s=$1 c=$2 round=$3 u="${url[$1]}${path[$2]}" out="$work/wrk-$1-$2-$3.txt"
    local timeout=5s
    [ "$c" = get64m ] && timeout=60s
    local -a wrk_args=(-t"$threads" -c"$connections" --timeout "$timeout" -s "$scripts/${script[$c]}" "$u")
    export BENCH_EXPECT_BYTES="${expect_bytes[$c]:-}"
    [ "$c" = get64m ] && export BENCH_EXPECT_BYTES="" # get-large.lua checks nothing per response
    # lockpair: files of its own for the warm-up and for the measurement (lock-unlock.lua).
    export BENCH_LOCK_RUN=$((2 * round - 1))
    if [ "$warmup" != 0 ]; then
        wrk -d"${warmup}s" "${wrk_args[@]}" >/dev/null 2>&1 || true
    fi
    export BENCH_LOCK_RUN=$((2 * round))
    local user0 kernel0 user1 kernel1
    local counted=""
    if [ -n "$statements" ] && [ "$s" = postgres ]; then
        counted=1
        pg_sql 'SELECT pg_stat_statements_reset()' >/dev/null
    fi
    read -r user0 kernel0 < <(cpu_ticks "${server_pid[$s]}")
    wrk -d"${duration}s" --latency "${wrk_args[@]}" >"$out" 2>&1 || true
    read -r user1 kernel1 < <(cpu_ticks "${server_pid[$s]}")
    if ! grep -q '^BENCH ' "$out"; then
        say "  $s $c: wrk printed no result:"
        cat "$out" >&2
        rounds_value[$s.$c]+="0 " rounds_p99[$s.$c]+="0 "
        note[$s.$c]="wrk printed no result in round $round"
        failures[$s.$c]=$((${failures[$s.$c]:-0} + 1))
        return
    fi
    local requests dur bytes lua status sock short=0
    requests=$(field "$out" requests)
    dur=$(field "$out" duration_us)
    bytes=$(field "$out" bytes)
    lua=$(field "$out" lua_failures)
    status=$(field "$out" status_errors)
    sock=$(($(field "$out" connect) + $(field "$out" read) + $(field "$out" write) + $(field "$out" timeout)))
    if [ "$c" = get64m ]; then
        # Responses shorter than the file (bytes also counts headers and the unfinished tail).
        short=$((requests - bytes / big_bytes))
        [ "$short" -lt 0 ] && short=0
    fi
    local bad=$((lua > status ? lua : status))
    bad=$((bad > short ? bad : short))
    failures[$s.$c]=$((${failures[$s.$c]:-0} + bad + sock))
    [ "$(field "$out" first_failure)" != none ] && note[$s.$c]="first failure: $(field "$out" first_failure)"
    [ "$sock" -gt 0 ] && note[$s.$c]="${note[$s.$c]:-} socket errors: $sock (round $round)"
    local v p
    if [ "$c" = get64m ]; then
        v=$(awk -v b="$bytes" -v d="$dur" 'BEGIN { printf "%.1f", b / (d / 1e6) / 1e6 }')
    elif [ "$c" = lockpair ]; then
        v=$(awk -v r="$requests" -v d="$dur" 'BEGIN { printf "%.0f", r / 2 / (d / 1e6) }')
    else
        v=$(awk -v r="$requests" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    fi
    p=$(awk -v p="$(field "$out" p99_us)" 'BEGIN { printf "%.2f", p / 1000 }')
    rounds_value[$s.$c]+="$v " rounds_p99[$s.$c]+="$p "
    # Server CPU per request in microseconds, user and kernel.
    rounds_cpu[$s.$c]+="$(awk -v u=$((user1 - user0)) -v k=$((kernel1 - kernel0)) -v r="$requests" -v t="$ticks_per_second" \
        'BEGIN { if (r > 0) printf "%.1f+%.1f", u / t * 1e6 / r, k / t * 1e6 / r; else printf "0+0" }') "
    local cpu_now=${rounds_cpu[$s.$c]% }
    say "  $s: $v $(unit_of "$c"), p99 $p ms, CPU/request ${cpu_now##* } µs, failures $((bad + sock))"
    [ -z "$counted" ] || statements_report "$requests"
}

unit_of() {
    case $1 in get64m) echo MB/s ;; lockpair) echo pairs/s ;; *) echo req/s ;; esac
}

# The median of the numbers in $1 (the lower one of the middle two for an even count, so that
# it is always a measured value), and their minimum and maximum.
median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
spread() { printf '%s\n' $1 | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

say "load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; files: $(file_system)"
say "wrk: $threads threads, $connections connections, ${duration}s per case and server (+${warmup}s warm-up), $rounds round(s)"
for round in $(seq 1 "$rounds"); do
    [ "$rounds" -gt 1 ] && say "round $round of $rounds"
    for c in $cases; do
        say "${title[$c]}"
        for s in "${servers[@]}"; do
            serves "$s" "$c" || continue
            [ "$round" = 1 ] && preflight "$s" "$c"
            run_case "$s" "$c" "$round"
        done
    done
done
say "load average after measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A value=() p99=() cpu=()
for c in $cases; do
    for s in "${servers[@]}"; do
        serves "$s" "$c" || continue
        value[$s.$c]=$(median "${rounds_value[$s.$c]}")
        p99[$s.$c]=$(median "${rounds_p99[$s.$c]}")
        # The round whose total CPU per request is the median.
        cpu[$s.$c]=$(printf '%s\n' ${rounds_cpu[$s.$c]} | awk -F+ '{ print $1 + $2, $0 }' | sort -g |
            awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
    done
done

# --- the report ----------------------------------------------------------------------------

ratio() { # subject's value / peer's value
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# Issue 20's limits beside the rates: in every small case davd's user CPU per request at
# most 2x nginx's, and GET 4 KiB's p99 latency at most 2x nginx's.
peers_limits() {
    [ -n "${value[nginx.get4k]:-}${value[nginx.propfind0]:-}${value[nginx.put4k]:-}" ] || return 0
    echo
    echo "| limit (issue 20) | davd / nginx | ratio | verdict |"
    echo "|------------------|-------------:|------:|---------|"
    local c mine theirs got
    for c in get4k propfind0 put4k put4kmany; do
        [[ " $cases " == *" $c "* ]] && [ -n "${value[nginx.$c]:-}" ] || continue
        mine=${cpu[davd.$c]%%+*} theirs=${cpu[nginx.$c]%%+*}
        got=$(ratio "$mine" "$theirs")
        echo "| ${title[$c]}: user CPU per request <= 2x nginx | $mine / $theirs µs | ${got}x |" \
            "$(verdict_at_most "$got" 2) |"
    done
    if [[ " $cases " == *" get4k "* ]] && [ -n "${value[nginx.get4k]:-}" ]; then
        got=$(ratio "${p99[davd.get4k]}" "${p99[nginx.get4k]}")
        echo "| ${title[get4k]}: p99 latency <= 2x nginx | ${p99[davd.get4k]} / ${p99[nginx.get4k]} ms |" \
            "${got}x | $(verdict_at_most "$got" 2) |"
    fi
}

verdict_at_most() { # got limit
    if awk -v g="$1" -v w="$2" 'BEGIN { exit !(g != "n/a" && g + 0 <= w + 0) }'; then
        echo met
    else
        echo "not met"
    fi
}

report() {
    if [ "$rounds" -gt 1 ]; then
        echo "| case | server | result (median of $rounds, range) | p99 latency (median) | server CPU per request, user+kernel (µs) | failures (sum) | $subject/peer |"
    else
        echo "| case | server | result | p99 latency | server CPU per request, user+kernel (µs) | failures | $subject/peer |"
    fi
    echo "|------|--------|-------:|------------:|----------:|---------:|----------:|"
    local c s unit
    for c in $cases; do
        unit=$(unit_of "$c")
        for s in "${servers[@]}"; do
            serves "$s" "$c" || continue
            local r=""
            [ "$s" != "$subject" ] && r="$(ratio "${value[$subject.$c]}" "${value[$s.$c]}")x"
            local range=""
            [ "$rounds" -gt 1 ] && range=" ($(spread "${rounds_value[$s.$c]}"))"
            echo "| ${title[$c]} | $s | ${value[$s.$c]} $unit$range | ${p99[$s.$c]} ms | ${cpu[$s.$c]} | ${failures[$s.$c]} | $r |"
        done
    done
    echo
    if [[ " ${servers[*]} " == *" floor "* ]]; then
        # What davd's own code costs above the stack, and what the stack alone reaches.
        echo "| case | davd/floor | floor/nginx | user CPU per request (µs): davd / floor / nginx |"
        echo "|------|-----------:|------------:|------------|"
        for c in get4k propfind0 put4k put4kmany; do
            [[ " $cases " == *" $c "* ]] || continue
            local vs_nginx="n/a" nginx_cpu="-"
            if [ -n "${value[nginx.$c]:-}" ]; then
                vs_nginx="$(ratio "${value[floor.$c]}" "${value[nginx.$c]}")x"
                nginx_cpu=${cpu[nginx.$c]%%+*}
            fi
            echo "| ${title[$c]} | $(ratio "${value[davd.$c]}" "${value[floor.$c]}")x | $vs_nginx |" \
                "${cpu[davd.$c]%%+*} / ${cpu[floor.$c]%%+*} / $nginx_cpu |"
        done
        echo
    fi
    local targets issue
    if [ "$mode" = cluster ]; then
        issue=18
        targets=("propfind1 sled 0.8" "propfind0 sled 0.7" "propfind0all sled 0.7"
            "put4k sled 0.7" "put4kmany sled 0.7")
    else
        issue=20
        targets=("get4k nginx 1.0" "propfind0 nginx 1.0" "propfind1 nginx 1.5" "put4k nginx 1.0"
            "put4kmany nginx 1.5" "get64m nginx 0.9" "get64m apache 0.9")
    fi
    echo "| target (issue $issue) | measured | verdict |"
    echo "|-------------------|---------:|---------|"
    local t
    for t in "${targets[@]}"; do
        set -- $t
        local case=$1 peer=$2 want=$3
        [[ " $cases " == *" $case "* ]] || continue
        if [ -z "${value[$peer.$case]:-}" ]; then
            echo "| ${title[$case]} >= ${want}x $peer | - | not measured ($peer missing) |"
            continue
        fi
        local got verdict
        got=$(ratio "${value[$subject.$case]}" "${value[$peer.$case]}")
        if [ "${failures[$subject.$case]}" != 0 ]; then
            verdict="not met ($subject had failures)"
        elif awk -v g="$got" -v w="$want" 'BEGIN { exit !(g != "n/a" && g + 0 >= w + 0) }'; then
            verdict="met"
        else
            verdict="not met"
        fi
        [ "${failures[$peer.$case]}" != 0 ] && verdict="$verdict ($peer had failures)"
        echo "| ${title[$case]} >= ${want}x $peer | ${got}x | $verdict |"
    done
    [ "$mode" = peers ] && peers_limits
    if [ ${#note[@]} -gt 0 ]; then
        echo
        local k
        for k in "${!note[@]}"; do echo "- ${k/./ }: ${note[$k]}"; done
    fi
}

echo
report | tee ${BENCH_MARKDOWN:+"$BENCH_MARKDOWN"}
