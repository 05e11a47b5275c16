//! The `davd` binary: its command line, defaults and signal handling.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use support::Davd;

/// `host:port` of a running server.
fn addr(davd: &Davd) -> String {
    davd.url
        .split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// Runs davd with `args` in `dir`, expects it to fail, and returns what it printed.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "davd started:\n{log}");
    log
}

/// `davd user add NAME --users users` in `dir`, the password piped to standard input.
fn user_add(dir: &Path, name: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir)
        .args(["user", "add", name, "--users", "users"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One `GET /` on a fresh connection, with Basic credentials if given; the whole answer.
fn get_root(addr: &str, credentials: Option<(&str, &str)>) -> String {
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some((name, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Reads one response with a `Content-Length` body: (head with lower-case header names, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "closed after {head:?}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .unwrap_or_else(|| panic!("no content-length in {head:?}"))
        .trim()
        .parse::<usize>()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--root",
        "--state",
        "--listen",
        "--config",
        "--log-level",
        "--threads",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn defaults_create_root_and_state_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &[]);
    assert!(davd.url.starts_with("http://127.0.0.1:"));
    assert!(dir.path().join("dav-root").is_dir());
    assert!(dir.path().join("dav-state").is_dir());
    assert_eq!(davd.stop(), Some(0));
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let addr = davd
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"PUT /slow.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    davd.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused once shutdown began.
    assert!(TcpStream::connect(&addr).is_err());
    stream.write_all(b"world").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(davd.wait(Duration::from_secs(20)), Some(0));
    assert_eq!(
        std::fs::read(dir.path().join("r/slow.txt")).unwrap(),
        b"helloworld"
    );
}

#[test]
fn sigint_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &[]);
    davd.signal("INT");
    assert_eq!(davd.wait(Duration::from_secs(20)), Some(0));
}

#[test]
fn an_unusable_root_stops_startup_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir.path())
        .args(["--root", "file/sub", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("file/sub"), "{log}");
}

#[test]
fn config_errors_stop_startup_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\n[[mount]]\nscope = \"/x\"\nnamespace = { kind = \"ftp\" }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir.path())
        .args(["--config", "davd.toml", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("davd.toml line 7") && log.contains("ftp"),
        "{log}"
    );
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "listen = \"127.0.0.1:1\"\nstate = \"file-state\"\n[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"file-root\" }\n[[mount]]\nscope = \"/mem\"\nnamespace = { kind = \"memory\" }\n",
    )
    .unwrap();
    let davd = Davd::start(
        dir.path(),
        &[
            "--config",
            "davd.toml",
            "--root",
            "flag-root",
            "--state",
            "flag-state",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!davd.url.contains(":1/"));
    assert!(dir.path().join("flag-root").is_dir());
    assert!(dir.path().join("flag-state").is_dir());
    assert!(!dir.path().join("file-root").exists());
    assert_eq!(davd.stop(), Some(0));
}

#[test]
fn user_add_reads_standard_input_and_the_server_checks_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    user_add(dir.path(), "alice", "correct horse");
    let file = std::fs::read_to_string(dir.path().join("users")).unwrap();
    assert!(file.contains("alice:$argon2id$"), "{file}");
    assert!(!file.contains("correct horse"), "plaintext in {file}");
    assert!(!file.contains("horse"), "{file}");
    let davd = Davd::start(
        dir.path(),
        &["--users", "users", "--root", "r", "--state", "s"],
    );
    let addr = addr(&davd);
    let answer = get_root(&addr, Some(("alice", "correct horse")));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for credentials in [Some(("alice", "wrong")), Some(("alice", "correct")), None] {
        let answer = get_root(&addr, credentials);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{credentials:?}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nwww-authenticate: basic realm=\"davd\""),
            "{answer}"
        );
    }
}

#[test]
fn users_in_the_config_file_turns_authentication_on() {
    let dir = tempfile::tempdir().unwrap();
    user_add(dir.path(), "bob", "hunter2");
    std::fs::write(dir.path().join("davd.toml"), "users = \"users\"\n").unwrap();
    let davd = Davd::start(
        dir.path(),
        &["--config", "davd.toml", "--root", "r", "--state", "s"],
    );
    let addr = addr(&davd);
    let answer = get_root(&addr, None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = get_root(&addr, Some(("bob", "hunter2")));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn tls_flags_serve_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::create_dir_all(dir.path().join("r")).unwrap();
    std::fs::write(dir.path().join("r/hello.txt"), "over tls").unwrap();
    let davd = Davd::start(
        dir.path(),
        &[
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--root",
            "r",
            "--state",
            "s",
        ],
    );
    assert!(davd.url.starts_with("https://127.0.0.1:"), "{}", davd.url);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = runtime.block_on(async {
        let client = support::client_builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let r = client
            .get(format!("{}hello.txt", davd.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(body, "over tls");
    // Plain HTTP on the TLS port is not served.
    let answer = get_root(&addr(&davd), None);
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[test]
fn two_requests_on_one_connection_are_both_answered() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let stream = TcpStream::connect(addr(&davd)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"PUT /kept.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (head, _) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 201"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    writer
        .write_all(b"GET /kept.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"hello");
}

#[test]
fn max_connections_from_the_config_file_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "[limits]\nmax_connections = 1\n",
    )
    .unwrap();
    let davd = Davd::start(
        dir.path(),
        &["--config", "davd.toml", "--root", "r", "--state", "s"],
    );
    let addr = addr(&davd);
    // A request in progress (an upload still to send its body) takes the only slot; the
    // server's `100 Continue` says it has the request in hand.
    let mut busy = TcpStream::connect(&addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.write_all(
        b"PUT /slow.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut continued = [0u8; 25];
    busy.read_exact(&mut continued).unwrap();
    assert!(continued.starts_with(b"HTTP/1.1 100 Continue"));
    let mut waiting = TcpStream::connect(&addr).unwrap();
    waiting
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0; 1];
    let read = waiting.read(&mut byte);
    assert!(
        read.is_err(),
        "answered while the only slot was taken: {read:?}"
    );
    // Once the upload is done its connection is idle, and makes room: the waiting one is
    // served (an idle connection never keeps a new one out, docs/security.md).
    busy.write_all(b"hello").unwrap();
    let mut reader = BufReader::new(busy);
    let (head, _) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 201"), "{head}");
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    waiting.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_config_without_a_root_mount_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "state = \"s\"\n\n[[mount]]\nscope = \"/db\"\nnamespace = { kind = \"sled\" }\n",
    )
    .unwrap();
    let log = fails(dir.path(), &["--config", "davd.toml"]);
    assert!(
        log.contains("davd.toml line 4") && log.contains("scope = \"/\""),
        "{log}"
    );
}

#[test]
fn an_unusable_root_in_the_config_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "state = \"s\"\n[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"file/sub\" }\n",
    )
    .unwrap();
    let log = fails(dir.path(), &["--config", "davd.toml"]);
    assert!(
        log.contains("davd.toml line 3") && log.contains("file/sub"),
        "{log}"
    );
}

/// The names of a running davd's connection threads, as the kernel lists them.
fn connection_threads(davd: &Davd) -> Vec<String> {
    let tasks = format!("/proc/{}/task", davd.pid());
    let mut threads = Vec::new();
    for task in std::fs::read_dir(tasks).unwrap() {
        let Ok(name) = std::fs::read_to_string(task.unwrap().path().join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if name.starts_with("davd-conn-") {
            threads.push(name.trim_end().to_owned());
        }
    }
    threads.sort();
    threads
}

/// The connection threads once davd says they run: `ConnectionThreads::start` returns, and
/// this is logged, only when every thread has started and named itself.
fn wait_for_connection_threads(davd: &Davd, count: usize) -> Vec<String> {
    davd.log_line(&format!("{count} connection threads running"));
    let threads = connection_threads(davd);
    assert_eq!(threads.len(), count, "{threads:?}");
    threads
}

#[test]
fn threads_in_the_config_file_are_started() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("davd.toml"), "threads = 2\n").unwrap();
    let davd = Davd::start(dir.path(), &["--config", "davd.toml"]);
    wait_for_connection_threads(&davd, 2);
    assert_eq!(davd.stop(), Some(0));
}

#[test]
fn connections_are_dealt_out_to_every_connection_thread() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start_logging(
        dir.path(),
        &["--root", "r", "--state", "s", "--threads", "3"],
        "info,davd::threads=debug",
    );
    wait_for_connection_threads(&davd, 3);
    // Six keep-alive connections, each used in turn. Which thread serves a connection is
    // decided when it is accepted, and logged with the client's address: dealt out in turn,
    // every thread serves two, however busy the machine is.
    let mut connections: Vec<_> = (0..6)
        .map(|_| {
            let stream = TcpStream::connect(addr(&davd)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            (stream.try_clone().unwrap(), BufReader::new(stream))
        })
        .collect();
    let (writer, reader) = &mut connections[0];
    writer
        .write_all(b"PUT /shared.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        .unwrap();
    assert!(read_response(reader).0.starts_with("http/1.1 201"));
    for _ in 0..3 {
        for (writer, reader) in &mut connections {
            writer
                .write_all(b"GET /shared.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(reader).1, b"ok");
        }
    }
    // The threads log in whatever order they run: read the six lines, then match them up.
    let lines: Vec<String> = (0..6).map(|_| davd.log_line(" serves ")).collect();
    let mut served = std::collections::BTreeMap::<&str, usize>::new();
    for (writer, _) in &connections {
        let peer = writer.local_addr().unwrap().to_string();
        let line = lines
            .iter()
            .find(|l| l.ends_with(&format!(" serves {peer}")))
            .unwrap_or_else(|| panic!("no thread took {peer}: {lines:#?}"));
        let thread = line
            .split("connection thread ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no thread in {line:?}"));
        *served.entry(thread).or_default() += 1;
    }
    assert_eq!(
        served.into_iter().collect::<Vec<_>>(),
        [("0", 2), ("1", 2), ("2", 2)]
    );
    drop(connections);
    assert_eq!(davd.stop(), Some(0));
}

#[test]
fn threads_zero_serves_on_one_shared_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(
        dir.path(),
        &["--root", "r", "--state", "s", "--threads", "0"],
    );
    assert!(get_root(&addr(&davd), None).starts_with("HTTP/1.1 200"));
    assert!(connection_threads(&davd).is_empty());
    assert_eq!(davd.stop(), Some(0));
}

#[test]
fn an_absurd_thread_count_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let log = fails(dir.path(), &["--threads", "5000"]);
    assert!(log.contains("--threads"), "{log}");
    let config = dir.path().join("davd.toml");
    std::fs::write(&config, "threads = 5000\n").unwrap();
    let log = fails(dir.path(), &["--config", "davd.toml"]);
    assert!(
        log.contains("line 1: threads must be at most 1024"),
        "{log}"
    );
}
