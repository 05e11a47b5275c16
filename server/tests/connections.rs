//! Issue 16 item 7 at its own scale, against the real binary: connections that send nothing,
//! more of them than `max_connections` or than the process has file descriptors for, do not
//! keep another client waiting (docs/security.md, "Connections").
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::Davd;

/// Raises this process's soft limit on open files towards `wanted` (children inherit it);
/// returns the limit now in force.
fn raise_file_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let target = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
    if limit.current.is_some_and(|soft| soft >= target) {
        return limit.current.unwrap_or(target);
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(_) => limit.current.unwrap_or(0),
    }
}

fn host(davd: &Davd) -> String {
    davd.url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A GET on a new connection; the time until the whole answer was read.
fn timed_get(addr: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    (answer, started.elapsed())
}

/// 2,000 silent connections against the default 1,024 slots (the idle limit at its default of
/// 30 s): a new client is answered within seconds, not after the silent ones time out.
#[test]
fn two_thousand_silent_connections_do_not_hold_up_a_client() {
    let files = raise_file_limit(8192);
    assert!(
        files >= 4096,
        "this test needs 4,096 open files; the hard limit allows {files}"
    );
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let addr = host(&davd);
    let silent: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let (answer, took) = timed_get(&addr);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer:?} after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    eprintln!("answered after {took:?}");
    drop(silent);
}

/// davd limited to 128 open files, far below `max_connections`: it serves fewer connections
/// at once, leaving files for its requests, and makes room as at the limit. (It used to
/// accept connections until it had no descriptor left, and answer the next GET with 500
/// "Too many open files".)
#[test]
fn a_low_limit_on_open_files_lowers_max_connections_and_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start_with_file_limit(dir.path(), &["--root", "r", "--state", "s"], 128);
    let addr = host(&davd);
    let silent: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    for _ in 0..3 {
        let (answer, took) = timed_get(&addr);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{answer:?} after {took:?}"
        );
        assert!(took < Duration::from_secs(10), "answered after {took:?}");
    }
    drop(silent);
}
