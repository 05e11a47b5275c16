#!/usr/bin/env python3
"""Sorts a server's user-space CPU samples into the parts of a request they were spent in.

Reads `perf script --no-inline` of a `perf record --call-graph dwarf` profile on stdin. Each
sample whose innermost frame is in user space goes to the first bucket below that matches one
of its frames, innermost first (so an allocation made by hyper counts as the allocator, a
header lookup made by the executive as hyper's); kernel samples are only counted. With
REQUESTS (the requests the profile covered) and HZ (perf's sampling rate), the shares become
microseconds per request (docs/performance.md, "What davd adds to a request, in smaller
pieces", compares davd with benches/floor this way).

    perf record -F 1999 --call-graph dwarf,16384 -p PID -o perf.data -- sleep 5
    perf script -i perf.data --no-inline | scripts/perf-buckets.py [REQUESTS HZ]
"""
import collections
import re
import sys

BUCKETS = [
    ("floor handler", r"davd_floor"),
    ("memmove/memcpy", r"__mem(move|cpy)"),
    ("allocator", r"_rjem_|__rust_alloc|__rust_dealloc|__rust_realloc|_int_malloc|_int_free|\bmalloc\b|\bfree\b|cfree"),
    ("hyper: parse head", r"Http1Transaction>::parse|httparse|Buffered<T,B>::parse"),
    ("hyper: encode head", r"Http1Transaction>::encode|write_head"),
    ("fragment watch", r"fragment::FragmentWatch"),
    ("connection table", r"connections::(Tracked|Busy|Connections)|<davd::connections::Busy"),
    ("exchange (access log)", r"davd::exchange"),
    ("Request::parse", r"davd_protocol::method::Request::parse|parse_url_path"),
    ("client, access rules", r"client::client_info|http::authenticate|policy::access"),
    ("fs: open, stat, read", r"davd_subsystems::fs|cap_primitives|cap_std|rustix"),
    ("ETag, Last-Modified, headers", r"validator|set_etag|http_date|Response::set_header|push_hex"),
    ("ResourceTag", r"docid|recent_tags|ResourceTag"),
    ("conditions, hooks", r"check_conditions|policy::hooks|bundled"),
    ("executive: dispatch, method", r"davd_executive::methods|davd_executive::Executive"),
    ("server glue", r"davd::http::|into_http|DavService"),
    ("tokio: timers", r"tokio::runtime::time|tokio::time|TokioSleep|TokioTimer"),
    ("tokio: I/O reactor", r"tokio::runtime::io|mio::|epoll"),
    ("tokio: tasks, sync", r"tokio::runtime::(task|scheduler)|tokio::task|tokio::sync"),
    ("hyper, http: the rest", r"hyper::|hyper_util::|http::"),
]


def samples(lines):
    block = []
    for line in lines:
        line = line.rstrip("\n")
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def main():
    rules = [(name, re.compile(pattern)) for name, pattern in BUCKETS]
    counts = collections.Counter()
    user = kernel = 0
    for block in samples(sys.stdin):
        frames = block[1:]
        if not frames:
            continue
        if "kallsyms" in frames[0]:
            kernel += 1
            continue
        user += 1
        for frame in frames:
            bucket = next((name for name, rule in rules if rule.search(frame)), None)
            if bucket:
                counts[bucket] += 1
                break
        else:
            leaf = re.sub(r"\+0x.*", "", re.sub(r"^\s*[0-9a-f]+ ", "", frames[0]))
            counts["other: " + leaf[:60]] += 1
    per_request = None
    if len(sys.argv) == 3:
        requests, hz = float(sys.argv[1]), float(sys.argv[2])
        per_request = 1e6 / hz / requests
    print(f"user samples {user}, kernel samples {kernel}")
    for name, count in counts.most_common(30):
        share = f"{100 * count / max(user, 1):5.1f} %"
        micros = f"  {count * per_request:5.2f} us/request" if per_request else ""
        print(f"{share}{micros}  {name}")


if __name__ == "__main__":
    main()
