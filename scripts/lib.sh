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
