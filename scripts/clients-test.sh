#!/usr/bin/env bash
# End-to-end test with real WebDAV clients (docs/clients.md).
#
#   scripts/clients-test.sh
#
# Installs what is missing (rclone, cadaver, curl; fuse3 and davfs2 where they can be had),
# starts a fresh release davd on a free loopback port with temporary root and state, and runs:
#
#   rclone   a webdav remote from environment variables (vendor other): copy a tree of awkward
#            names (%, +, #, ?, spaces, non-Latin scripts, an NFD name, a backslash), check it
#            byte for byte, compare it with the served directory, moveto, purge; with vendor
#            owncloud, copy a tree of old modification times (X-OC-Mtime), check it and compare
#            `rclone lsl` and the disk with the source; then `rclone mount` through
#            FUSE (write, read, rename, mkdir, delete, unmount) when /dev/fuse and fusermount
#            work, skipped with the reason otherwise;
#   cadaver  mkcol, lock, put, propset, propget, move, get, unlock; the result checked with curl;
#   davfs2   a kernel mount (root and /dev/fuse needed) with locks: write, read, rename, mkdir,
#            delete, unmount; skipped with the reason when the mount is refused;
#   tsdav    the RFC 6578 sync-collection client of many CalDAV/CardDAV apps (node, installed
#            with npm ci in tests/sync-client): a first sync, then exactly what changed since
#            its token (docs/sync.md).
#
# Fails on the first mismatch. Every client command runs under a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

say() { echo "clients-test: $*"; }
fail() {
    echo "clients-test: FAIL: $*" >&2
    if [ -n "${log:-}" ] && [ -f "$log" ]; then
        echo "--- davd's log (last 40 lines)" >&2
        tail -n 40 "$log" >&2
    fi
    exit 1
}
need() { command -v "$1" >/dev/null 2>&1; }

# --- what the clients need -----------------------------------------------------------------
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${apt_updated:-}" ]; then
        timeout 300 apt-get update -qq
        apt_updated=1
    fi
    timeout 600 apt-get install -y -qq "$@" >/dev/null
}
required=()
need rclone || required+=(rclone)
need cadaver || required+=(cadaver)
need curl || required+=(curl)
if [ ${#required[@]} -gt 0 ]; then
    apt_install "${required[@]}" || fail "cannot install ${required[*]} (apt-get as root is needed)"
fi
optional=()
need fusermount3 || need fusermount || optional+=(fuse3)
need mount.davfs || optional+=(davfs2)
if [ ${#optional[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
    apt_install "${optional[@]}" || say "could not install ${optional[*]}; the mounts may be skipped"
fi

# --- davd ----------------------------------------------------------------------------------
cargo build --release -q -p davd
work=$(mktemp -d)
chmod 755 "$work" # davfs2 runs as its own user and must reach its cache inside
log="$work/davd.log"
mounts=()
pids=()
cleanup() {
    for m in "${mounts[@]}"; do
        if mountpoint -q "$m" 2>/dev/null; then
            fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null ||
                timeout 30 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        fi
    done
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
    done
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

root="$work/root"
NO_COLOR=1 ./target/release/davd --root "$root" --state "$work/state" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
url=$(davd_url "$log")
[ -n "$url" ] || fail "davd did not start"
say "davd at $url"

# Waits up to 10 s for a command to succeed.
eventually() {
    local _
    for _ in $(seq 1 100); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
same_content() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
gone() { [ ! -e "$1" ]; }

# The awkward names of item 18, and one in NFD as macOS writes it.
names=(
    "100% done.txt" "%25 literally.txt" "a+b=c.txt" "C# notes.txt" "why?.txt"
    " leading space.txt" "two  spaces .txt" "日本語のファイル.txt" "Ελληνικά κείμενα.txt"
    "русский текст.txt" "emoji 😀 & more;.txt" "quote's \"double\".txt"
)
nfd=$'Cafe\xcc\x81 NFD.txt'    # "Café" decomposed: e + U+0301
nfc=$'Caf\xc3\xa9 NFD.txt'     # what davd stores

# --- rclone --------------------------------------------------------------------------------
export RCLONE_CONFIG="$work/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_DAVD_TYPE=webdav RCLONE_CONFIG_DAVD_URL="$url" RCLONE_CONFIG_DAVD_VENDOR=other
rc() { timeout 120 rclone --retries 1 --low-level-retries 2 -q "$@"; }

src="$work/src"
mkdir -p "$src/sub dir + ü #1/deeper" "$src/中文 目录"
for n in "${names[@]}"; do
    printf 'content of %s\n' "$n" >"$src/$n"
    printf 'deep %s\n' "$n" >"$src/sub dir + ü #1/deeper/$n"
done
printf 'decomposed\n' >"$src/$nfd"
# A backslash is an ordinary character in a Linux name (docs/clients.md, "Backslashes").
printf 'back slash\n' >"$src/back\\slash.txt"
printf 'deep back slash\n' >"$src/sub dir + ü #1/deeper/..\\..\\up.txt"
printf 'in a CJK folder\n' >"$src/中文 目录/文件.txt"
head -c 3000017 /dev/urandom >"$src/big.bin"

say "rclone copy, check"
rc copy "$src" davd:tree || fail "rclone copy"
rc check --download "$src" davd:tree || fail "rclone check --download"
# On the server: every name and byte as sent, the NFD name stored in NFC (one file).
diff -r -x '*NFD.txt' "$src" "$root/tree" || fail "the served tree differs from the source"
same_content "$root/tree/$nfc" decomposed || fail "the NFD name is not stored in NFC"
[ ! -e "$root/tree/$nfd" ] || fail "the NFD name was stored as such"
[ "$(curl -fsS "${url}tree/C%23%20notes.txt")" = "content of C# notes.txt" ] ||
    fail "curl GET of a name with #"
[ "$(curl -fsS "${url}tree/Cafe%CC%81%20NFD.txt")" = decomposed ] || fail "curl GET in NFD"
same_content "$root/tree/back\\slash.txt" "back slash" || fail "the backslash name is not one file"
[ "$(curl -fsS "${url}tree/back%5Cslash.txt")" = "back slash" ] || fail "curl GET of %5C"

say "rclone moveto, purge"
rc moveto "davd:tree/why?.txt" "davd:tree/sub dir + ü #1/renamed 100%+?#.txt" || fail "rclone moveto"
same_content "$root/tree/sub dir + ü #1/renamed 100%+?#.txt" "content of why?.txt" ||
    fail "moveto did not arrive"
gone "$root/tree/why?.txt" || fail "moveto left the source"
listing=$(rc lsf -R davd:tree) || fail "rclone lsf"
grep -qxF "sub dir + ü #1/renamed 100%+?#.txt" <<<"$listing" || fail "rclone lsf: $listing"
rc purge davd:tree || fail "rclone purge"
gone "$root/tree" || fail "purge left the tree"

# ownCloud's X-OC-Mtime: rclone as an ownCloud client sends each file's modification time
# with its PUT, and the served files must carry it (docs/clients.md, "Modification times").
say "rclone --webdav-vendor owncloud: X-OC-Mtime keeps modification times"
export RCLONE_CONFIG_OC_TYPE=webdav RCLONE_CONFIG_OC_URL="$url" RCLONE_CONFIG_OC_VENDOR=owncloud
times="$work/times"
mkdir -p "$times/older dir"
printf 'one\n' >"$times/2001.txt"
printf 'two\n' >"$times/older dir/1999.txt"
printf 'three\n' >"$times/back\\slash 2010.txt"
touch -d '2001-02-03 04:05:06 UTC' "$times/2001.txt"
touch -d '1999-12-31 23:59:59 UTC' "$times/older dir/1999.txt"
touch -d '2010-06-07 08:09:10 UTC' "$times/back\\slash 2010.txt"
rc copy "$times" oc:times || fail "rclone copy (owncloud)"
rc check "$times" oc:times || fail "rclone check (owncloud)"
# The listing shows the original times (rclone lsl: size, time, path), and so does the disk.
lsl() { rc lsl "$1" | sort -k4; }
diff <(lsl "$times") <(lsl oc:times) || fail "rclone lsl: the times differ"
for f in "2001.txt" "older dir/1999.txt" "back\\slash 2010.txt"; do
    [ "$(stat -c %Y "$times/$f")" = "$(stat -c %Y "$root/times/$f")" ] ||
        fail "$f: served mtime $(stat -c %Y "$root/times/$f") is not $(stat -c %Y "$times/$f")"
done
# Nothing left to send: a second copy finds every file up to date.
again=$(timeout 120 rclone --retries 1 -v copy "$times" oc:times 2>&1) || fail "rclone copy again"
if grep -q "Copied (" <<<"$again"; then fail "rclone copied again: $again"; fi
[ "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'X-OC-Mtime: soon' --data x \
    "${url}times/bad.txt")" = 400 ] || fail "an invalid X-OC-Mtime was not a 400"
rc purge oc:times || fail "rclone purge (owncloud)"

# rclone mount: only where FUSE works.
fusermount_cmd=""
need fusermount3 && fusermount_cmd=fusermount3
[ -z "$fusermount_cmd" ] && need fusermount && fusermount_cmd=fusermount
if [ ! -e /dev/fuse ] || [ -z "$fusermount_cmd" ]; then
    say "SKIP rclone mount: no /dev/fuse or no fusermount on this machine"
else
    mnt="$work/rclone-mnt"
    mkdir -p "$mnt" "$root/mounted"
    rclone mount davd: "$mnt" --vfs-cache-mode off --dir-cache-time 0s --attr-timeout 0s \
        >"$work/rclone-mount.log" 2>&1 &
    mount_pid=$!
    pids+=("$mount_pid")
    mounts+=("$mnt")
    if ! eventually mountpoint -q "$mnt"; then
        say "SKIP rclone mount: the FUSE mount was refused here: $(tail -n 3 "$work/rclone-mount.log")"
    else
        say "rclone mount: write, read, rename, mkdir, delete"
        m="$mnt/mounted"
        printf 'through the mount\n' >"$m/written #1 ü.txt" || fail "write through the mount"
        eventually same_content "$root/mounted/written #1 ü.txt" "through the mount" ||
            fail "the write did not reach davd"
        [ "$(cat "$m/written #1 ü.txt")" = "through the mount" ] || fail "read through the mount"
        cp "$src/big.bin" "$m/big.bin" || fail "copy a large file through the mount"
        eventually cmp -s "$src/big.bin" "$root/mounted/big.bin" || fail "large file differs"
        mv "$m/written #1 ü.txt" "$m/renamed 100%?.txt" || fail "rename through the mount"
        eventually same_content "$root/mounted/renamed 100%?.txt" "through the mount" ||
            fail "the rename did not reach davd"
        gone "$root/mounted/written #1 ü.txt" || fail "the rename left the old name"
        mkdir "$m/new dir" || fail "mkdir through the mount"
        eventually test -d "$root/mounted/new dir" || fail "mkdir did not reach davd"
        rm "$m/renamed 100%?.txt" "$m/big.bin" || fail "delete through the mount"
        rmdir "$m/new dir" || fail "rmdir through the mount"
        eventually gone "$root/mounted/big.bin" || fail "the delete did not reach davd"
        gone "$root/mounted/new dir" || fail "rmdir did not reach davd"
        timeout 30 "$fusermount_cmd" -u "$mnt" || fail "unmount"
        wait "$mount_pid" || true
    fi
fi

# --- cadaver -------------------------------------------------------------------------------
say "cadaver: mkcol, lock, put, propset, propget, move, get, unlock"
printf 'cadaver content\n' >"$work/local.txt"
cat >"$work/cadaver.cmds" <<EOF
mkcol "cadaver dir"
lock "cadaver dir"
put $work/local.txt "cadaver dir/c# + 日本.txt"
propset "cadaver dir/c# + 日本.txt" color blue
propget "cadaver dir/c# + 日本.txt" color
move "cadaver dir/c# + 日本.txt" "cadaver dir/moved 100%.txt"
get "cadaver dir/moved 100%.txt" $work/got.txt
unlock "cadaver dir"
quit
EOF
(cd "$work" && HOME="$work" timeout 60 cadaver "$url" <"$work/cadaver.cmds") >"$work/cadaver.out" 2>&1 ||
    fail "cadaver: $(cat "$work/cadaver.out")"
succeeded=$(grep -c 'succeeded' "$work/cadaver.out" || true)
if [ "$succeeded" -lt 7 ] || grep -qiE 'failed|error' "$work/cadaver.out" ||
    ! grep -q 'Value of color is: blue' "$work/cadaver.out"; then
    fail "cadaver's session: $(cat "$work/cadaver.out")"
fi
same_content "$work/got.txt" "cadaver content" || fail "cadaver get"
moved="${url}cadaver%20dir/moved%20100%25.txt"
[ "$(curl -fsS "$moved")" = "cadaver content" ] || fail "curl GET of cadaver's file"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "${url}cadaver%20dir/c%23%20%2B%20%E6%97%A5%E6%9C%AC.txt")" = 404 ] ||
    fail "cadaver's move left the source"
props=$(curl -fsS -X PROPFIND -H 'Depth: 0' \
    --data '<propfind xmlns="DAV:"><prop><color xmlns="http://webdav.org/cadaver/custom-properties/"/></prop></propfind>' "$moved")
grep -q '>blue</' <<<"$props" || fail "the property did not move along: $props"
locks=$(curl -fsS -X PROPFIND -H 'Depth: 0' \
    --data '<propfind xmlns="DAV:"><prop><lockdiscovery/></prop></propfind>' "${url}cadaver%20dir/")
grep -q 'activelock' <<<"$locks" && fail "cadaver's lock is still there: $locks"

# --- tsdav: sync-collection ----------------------------------------------------------------
if ! need node || ! need npm; then
    apt_install nodejs npm
fi
say "tsdav: sync-collection from scratch, then since its token"
(cd tests/sync-client && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci in tests/sync-client"
(cd tests/sync-client && DAVD_URL="$url" timeout 60 node sync.mjs) || fail "tsdav's sync"

# --- davfs2 --------------------------------------------------------------------------------
if [ "$(id -u)" != 0 ] || ! need mount.davfs || [ ! -e /dev/fuse ]; then
    say "SKIP davfs2: it needs root, mount.davfs and /dev/fuse (covered by davfs2_replay_create_write_rename_delete)"
else
    dmnt="$work/davfs-mnt"
    mkdir -p "$dmnt" "$work/davfs-cache" "$root/davfs"
    chmod 1777 "$work/davfs-cache"
    # buf_size 64: davfs2 before 1.7.2 fails every directory read on Linux 6.16 and later
    # with its default (EINVAL); delay_upload 0: upload on close, not 10 s later.
    cat >"$work/davfs2.conf" <<EOF
ask_auth 0
use_locks 1
delay_upload 0
buf_size 64
cache_dir $work/davfs-cache
EOF
    if ! timeout 30 mount -t davfs -o "conf=$work/davfs2.conf" "$url" "$dmnt" </dev/null >"$work/davfs.out" 2>&1; then
        say "SKIP davfs2: the mount was refused here: $(tr '\n' ' ' <"$work/davfs.out") (covered by davfs2_replay_create_write_rename_delete)"
    else
        mounts+=("$dmnt")
        say "davfs2: write, read, rename, mkdir, delete"
        d="$dmnt/davfs"
        ls "$dmnt" >/dev/null || fail "davfs2 cannot list the root"
        printf 'through davfs2\n' >"$d/a+b #1 100%?.txt" || fail "write through davfs2"
        eventually same_content "$root/davfs/a+b #1 100%?.txt" "through davfs2" ||
            fail "davfs2's write did not reach davd"
        [ "$(cat "$d/a+b #1 100%?.txt")" = "through davfs2" ] || fail "read through davfs2"
        mkdir "$d/sub dir" || fail "mkdir through davfs2"
        mv "$d/a+b #1 100%?.txt" "$d/sub dir/Café ü.txt" || fail "rename through davfs2"
        eventually same_content "$root/davfs/sub dir/Café ü.txt" "through davfs2" ||
            fail "davfs2's rename did not reach davd"
        listing=$(ls "$d/sub dir") || fail "davfs2 cannot list a directory"
        grep -qxF "Café ü.txt" <<<"$listing" || fail "davfs2 does not list the renamed file"
        rm "$d/sub dir/Café ü.txt" || fail "delete through davfs2"
        eventually gone "$root/davfs/sub dir/Café ü.txt" || fail "davfs2's delete did not reach davd"
        timeout 60 umount "$dmnt" || fail "davfs2 unmount"
        locks=$(curl -fsS -X PROPFIND -H 'Depth: infinity' \
            --data '<propfind xmlns="DAV:"><prop><lockdiscovery/></prop></propfind>' "${url}davfs/")
        grep -q 'activelock' <<<"$locks" && fail "davfs2 left a lock behind: $locks"
    fi
fi

grep -E ' (WARN|ERROR) ' "$log" && fail "davd logged warnings or errors"
say "all clients passed"
