//! The operations kit against a real davd process: the access log, field by field; the
//! Prometheus endpoint, parsed; `check-config`; plain and JSON logs; the startup line.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::prometheus::parse_prometheus;
use support::{Davd, client_builder, method};

/// `davd user add NAME --users users` in `dir`.
fn user_add(dir: &Path, name: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir)
        .args(["user", "add", name, "--users", "users"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// One access-log line split into its fields.
#[derive(Debug)]
struct Line {
    remote: String,
    identity: String,
    user: String,
    time: String,
    request: String,
    status: u16,
    bytes: u64,
    referer: String,
    user_agent: String,
    micros: u64,
}

/// Splits `127.0.0.1 - alice [time] "request" 200 5 "referer" "agent" 123`.
fn parse_line(line: &str) -> Line {
    let mut rest = line;
    let mut word = || {
        let (w, r) = rest.split_once(' ').unwrap_or((rest, ""));
        rest = r;
        w.to_owned()
    };
    let (remote, identity, user) = (word(), word(), word());
    let bracketed = |rest: &mut &str| {
        assert!(rest.starts_with('['), "{line}");
        let end = rest.find("] ").unwrap();
        let value = rest[1..end].to_owned();
        *rest = &rest[end + 2..];
        value
    };
    let quoted = |rest: &mut &str| {
        assert!(rest.starts_with('"'), "{line}");
        let mut end = 1;
        let bytes = rest.as_bytes();
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let value = rest[1..end].to_owned();
        *rest = rest[end + 1..].trim_start();
        value
    };
    let time = bracketed(&mut rest);
    let request = quoted(&mut rest);
    let (status, tail) = rest.split_once(' ').unwrap();
    let (bytes, tail) = tail.split_once(' ').unwrap();
    let mut tail = tail;
    let referer = quoted(&mut tail);
    let user_agent = quoted(&mut tail);
    Line {
        remote,
        identity,
        user,
        time,
        request,
        status: status.parse().unwrap(),
        bytes: bytes.parse().unwrap(),
        referer,
        user_agent,
        micros: tail.trim().parse().unwrap(),
    }
}

#[tokio::test]
async fn the_access_log_has_one_line_per_request_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    user_add(dir.path(), "alice", "secret");
    let davd = Davd::start(
        dir.path(),
        &["--users", "users", "--access-log", "access.log"],
    );
    let client = client_builder().build().unwrap();
    let url = |path: &str| format!("{}{}", davd.url, path.trim_start_matches('/'));

    let put = client
        .put(url("/hello.txt"))
        .basic_auth("alice", Some("secret"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let put_bytes = put.bytes().await.unwrap().len() as u64;
    let get = client
        .get(url("/hello.txt?v=1"))
        .basic_auth("alice", Some("secret"))
        .header("User-Agent", "ops-test/1.0 (\"quoted\")")
        .header("Referer", "http://example.test/page")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap(), "hello");
    let missing = client
        .get(url("/missing.txt"))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing_bytes = missing.bytes().await.unwrap().len() as u64;
    let anonymous = client.get(url("/hello.txt")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let anonymous_bytes = anonymous.bytes().await.unwrap().len() as u64;

    // A graceful stop writes out every queued line.
    assert_eq!(davd.stop(), Some(0));
    let text = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    let lines: Vec<Line> = text.lines().map(parse_line).collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        assert_eq!(line.remote, "127.0.0.1");
        assert_eq!(line.identity, "-");
        // 04/Dec/2026:22:46:55 +0000
        assert_eq!(line.time.len(), 26, "{}", line.time);
        assert!(line.time.ends_with(" +0000"), "{}", line.time);
        assert_eq!(&line.time[2..3], "/");
        assert!(line.micros > 0);
    }
    let [put, get, missing, anonymous] = &lines[..] else {
        unreachable!()
    };
    assert_eq!(put.user, "alice");
    assert_eq!(put.request, "PUT /hello.txt HTTP/1.1");
    assert_eq!((put.status, put.bytes), (201, put_bytes));
    assert_eq!(put.referer, "-");
    assert!(
        put.user_agent == "-",
        "reqwest sends no agent: {}",
        put.user_agent
    );

    assert_eq!(get.user, "alice");
    assert_eq!(get.request, "GET /hello.txt?v=1 HTTP/1.1");
    assert_eq!((get.status, get.bytes), (200, 5));
    assert_eq!(get.referer, "http://example.test/page");
    assert_eq!(get.user_agent, "ops-test/1.0 (\\\"quoted\\\")");

    assert_eq!(missing.request, "GET /missing.txt HTTP/1.1");
    assert_eq!((missing.status, missing.bytes), (404, missing_bytes));

    assert_eq!(anonymous.user, "-");
    assert_eq!((anonymous.status, anonymous.bytes), (401, anonymous_bytes));
}

#[tokio::test]
async fn by_default_the_access_log_goes_to_standard_output_beside_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // The harness found the URL in standard output: access lines do not get in its way.
    let davd = Davd::start(dir.path(), &[]);
    let client = client_builder().build().unwrap();
    let got = client
        .get(format!("{}nothing-here", davd.url))
        .header("User-Agent", "stdout-test")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 404);
    let line = parse_line(&davd.log_line("\"GET /nothing-here HTTP/1.1\""));
    assert_eq!(line.status, 404);
    assert_eq!(line.user_agent, "stdout-test");
    // And off is off.
    let quiet = Davd::start(dir.path(), &["--access-log", "off", "--state", "s2"]);
    let _ = client
        .get(format!("{}first", quiet.url))
        .send()
        .await
        .unwrap();
    let _ = client
        .get(format!("{}second", quiet.url))
        .send()
        .await
        .unwrap();
    // Everything it logged up to its stop: no access line among it.
    quiet.signal("TERM");
    let lines = quiet.lines_until("davd stopped");
    assert!(
        !lines.iter().any(|l| l.contains("\"GET /")),
        "an access line was written: {lines:#?}"
    );
}

/// The access log is not a level of the diagnostic log: with `--log-level error` (and no
/// `RUST_LOG`) davd logs nothing, and the file still gets a line for every request.
#[tokio::test]
async fn the_access_log_does_not_depend_on_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start_silent(
        dir.path(),
        &["--log-level", "error", "--access-log", "access.log"],
    );
    let client = client_builder().build().unwrap();
    let put = client
        .put(format!("{}quiet.txt", davd.url))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let _ = put.bytes().await.unwrap();
    let get = client
        .get(format!("{}quiet.txt", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap(), "hello");

    let (code, output) = davd.stop_with_output();
    assert_eq!(code, Some(0));
    assert!(output.is_empty(), "--log-level error logged: {output:#?}");
    let text = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    let lines: Vec<Line> = text.lines().map(parse_line).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0].request, "PUT /quiet.txt HTTP/1.1");
    assert_eq!(lines[0].status, 201);
    assert_eq!(lines[1].request, "GET /quiet.txt HTTP/1.1");
    assert_eq!((lines[1].status, lines[1].bytes), (200, 5));
}

/// A PROPPATCH setting one dead property.
const PROPPATCH: &str = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c:colour xmlns:c="urn:c">red</c:colour></D:prop></D:set></D:propertyupdate>"#;

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_in_prometheus_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let line = davd.log_line("metrics served at ");
    let address = line.split("metrics served at ").nth(1).unwrap().trim();
    let metrics_url = format!("http://{address}");
    let client = client_builder().build().unwrap();
    let url = |path: &str| format!("{}{path}", davd.url);

    assert_eq!(
        client
            .put(url("a.txt"))
            .body("hello")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    for _ in 0..2 {
        let got = client.get(url("a.txt")).send().await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), "hello");
    }
    assert_eq!(
        client.get(url("missing")).send().await.unwrap().status(),
        404
    );
    let proppatch = client
        .request(method("PROPPATCH"), url("a.txt"))
        .body(PROPPATCH)
        .send()
        .await
        .unwrap();
    assert_eq!(proppatch.status(), 207);
    let _ = proppatch.bytes().await.unwrap();
    let lock = client
        .request(method("LOCK"), url("a.txt"))
        .body(support::LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(lock.status(), 200);
    let _ = lock.bytes().await.unwrap();
    // The WebDAV port does not serve the metrics.
    assert_eq!(
        client.get(url("metrics")).send().await.unwrap().status(),
        404
    );

    // Each request is counted as its last byte is handed to the connection, so a client that
    // has its answer finds it counted; the loop is only a guard against a broken build.
    let deadline = Instant::now() + Duration::from_secs(60);
    let samples = loop {
        let scraped = client.get(&metrics_url).send().await.unwrap();
        assert_eq!(scraped.status(), 200);
        let content_type = scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let samples = parse_prometheus(&scraped.text().await.unwrap());
        if samples.get(r#"davd_http_requests_total{method="LOCK",status="200"}"#) == Some(&1.0)
            || Instant::now() > deadline
        {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let get = |key: &str| {
        *samples
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
    };
    assert_eq!(
        get(r#"davd_http_requests_total{method="PUT",status="201"}"#),
        1.0
    );
    assert_eq!(
        get(r#"davd_http_requests_total{method="GET",status="200"}"#),
        2.0
    );
    assert_eq!(
        get(r#"davd_http_requests_total{method="GET",status="404"}"#),
        2.0
    );
    assert_eq!(
        get(r#"davd_http_requests_total{method="LOCK",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(r#"davd_http_request_duration_seconds_count{method="GET"}"#),
        4.0
    );
    assert_eq!(
        get(r#"davd_http_request_duration_seconds_bucket{le="+Inf",method="GET"}"#),
        4.0
    );
    assert_eq!(
        get(r#"davd_http_requests_total{method="PROPPATCH",status="207"}"#),
        1.0
    );
    assert_eq!(
        get("davd_http_request_bytes_total"),
        (5 + PROPPATCH.len() + support::LOCKINFO.len()) as f64
    );
    // The executive's flushes: the state of a PROPPATCH and of a LOCK made durable in sled.
    assert!(
        get(r#"davd_store_flush_seconds_count{kind="sled",store="properties"}"#) >= 1.0,
        "{samples:#?}"
    );
    assert!(
        get(r#"davd_store_flush_seconds_count{kind="sled",store="locks"}"#) >= 1.0,
        "{samples:#?}"
    );
    assert!(get("davd_http_response_bytes_total") >= 10.0);
    assert_eq!(get(r#"davd_locks_held{kind="sled"}"#), 1.0);
    assert_eq!(get("davd_http_requests_in_flight"), 0.0);
    assert!(get("davd_connections_total") >= 1.0);
    assert!(
        get("davd_connections_open") >= 1.0,
        "the client keeps its connection"
    );
}

/// Runs `davd check-config --config FILE` in `dir`: (exit code, standard error).
fn check_config(dir: &Path, file: &str, text: &str) -> (i32, String) {
    std::fs::write(dir.join(file), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir)
        .args(["check-config", "--config", file])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_config_passes_the_example_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let example = include_str!("../../davd.example.toml");
    let (code, err) = check_config(dir.path(), "davd.toml", example);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("davd.toml: the configuration is valid"),
        "{err}"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["davd.toml"], "nothing created");
}

#[test]
fn check_config_reports_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = check_config(
        dir.path(),
        "broken.toml",
        r#"listen = "127.0.0.1:8080"
colour = "blue"

[[mount]]
scope = "/"
namespace = { kind = "zfs" }
colour = "red"

[[mount]]
scope = "db"
namespace = { kind = "sled" }

[[mount]]
scope = "/p"
properties = { kind = "postgres" }

[limits]
max_connections = 0
"#,
    );
    assert_eq!(code, 1, "{err}");
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let expect = [
        ("broken.toml line 2: ", "colour"),
        ("broken.toml line 6: ", "zfs"),
        ("broken.toml line 7: ", "colour"),
        ("broken.toml line 10: ", "scope \"db\" must start with '/'"),
        ("broken.toml line 15: ", "needs a [cluster] table"),
        (
            "broken.toml line 18: ",
            "max_connections must be at least 1",
        ),
    ];
    assert_eq!(problems.len(), expect.len(), "{err}");
    for (problem, (at, what)) in problems.iter().zip(expect) {
        assert!(
            problem.starts_with(&format!("error: {at}")),
            "{problem} / {at}"
        );
        assert!(problem.contains(what), "{problem} / {what}");
    }
    assert!(err.ends_with("broken.toml: 6 problems\n"), "{err}");
}

#[test]
fn check_config_names_a_bad_kind_a_bad_scope_and_a_missing_cluster() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, message) in [
        (
            "[[mount]]\nscope = \"/\"\nlocks = { kind = \"fs\" }\n",
            3,
            "locks",
        ),
        ("[[mount]]\nscope = \"/a/../b\"\n", 2, "scope \"/a/../b\""),
        (
            "\n[[mount]]\nscope = \"/\"\nproperties = { kind = \"postgres\" }\n",
            4,
            "needs a [cluster] table",
        ),
        ("listen = \"nowhere\"\n", 1, "is not an ADDR:PORT"),
        ("access_log = \"\"\n", 1, "access_log"),
    ] {
        let (code, err) = check_config(dir.path(), "davd.toml", text);
        assert_eq!(code, 1, "{text}\n{err}");
        assert!(
            err.starts_with(&format!("error: davd.toml line {line}: ")) && err.contains(message),
            "{text}\n{err}"
        );
    }
    let (code, err) = check_config(dir.path(), "absent.toml", "");
    assert_eq!(code, 0, "an empty file is the defaults: {err}");
    let out = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir.path())
        .args(["check-config", "--config", "nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration"));
}

#[test]
fn the_log_has_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &[]);
    davd.signal("TERM");
    let mut lines = davd.lines_until("davd stopped");
    lines.push(davd.serving_line.clone());
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
    drop(davd);
    // On a terminal (through `script`, where it is installed) colours are on, unless
    // NO_COLOR is set. davd logs an error there and exits: its configuration is missing.
    if Command::new("script").arg("--version").output().is_err() {
        return;
    }
    let on_terminal = |no_color: Option<&str>| {
        let mut command = Command::new("script");
        command
            .current_dir(dir.path())
            .env_remove("NO_COLOR")
            .arg("-qec")
            .arg(format!(
                "{} --config nonexistent.toml",
                env!("CARGO_BIN_EXE_davd")
            ))
            .arg("/dev/null");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("cannot read the configuration"), "{text}");
        text
    };
    assert!(
        on_terminal(None).contains("\u{1b}["),
        "colour on a terminal"
    );
    assert!(
        !on_terminal(Some("1")).contains('\u{1b}'),
        "NO_COLOR honoured"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--log-format", "json", "--access-log", "off"]);
    let event: serde_json::Value = serde_json::from_str(&davd.serving_line).unwrap();
    assert_eq!(event["level"], "INFO");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("davd serving http://127.0.0.1:"),
        "{event}"
    );
    assert!(event["timestamp"].is_string());
    davd.signal("TERM");
    let lines = davd.lines_until("davd stopped");
    for line in &lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            event["level"].is_string() && event["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"shutting down")),
        "{lines:?}"
    );
}

#[test]
fn the_startup_line_names_what_the_configuration_serves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"served\" }\n\n\
         [[mount]]\nscope = \"/db\"\nnamespace = { kind = \"sled\" }\n",
    )
    .unwrap();
    let davd = Davd::start(dir.path(), &["--config", "davd.toml", "--state", "state"]);
    let line = &davd.serving_line;
    // Relative to the configuration file's directory, as written.
    assert!(
        line.contains("/ from / = served, /db = sled namespace (state in state)"),
        "{line}"
    );
    assert!(!line.contains("dav-root"), "{line}");
    drop(davd);
    // One directory at "/" is named alone, and --root is what is served.
    let davd = Davd::start(
        dir.path(),
        &[
            "--config",
            "davd.toml",
            "--state",
            "state",
            "--root",
            "elsewhere",
        ],
    );
    assert!(
        davd.serving_line
            .contains("/ from / = elsewhere, /db = sled namespace"),
        "{}",
        davd.serving_line
    );
    drop(davd);
    let davd = Davd::start(dir.path(), &["--state", "state2", "--root", "plain"]);
    assert!(
        davd.serving_line.contains("/ from plain (state in state2)"),
        "{}",
        davd.serving_line
    );
}

/// The arguments of every `KEY=` line of the unit in `contrib/`, continuation lines joined.
fn unit_commands(key: &str) -> Vec<Vec<String>> {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/davd.service"
    ))
    .unwrap();
    let joined = unit.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(|command| {
            // systemd would unquote; the unit quotes nothing, so words are split at spaces.
            assert!(!command.contains(['"', '\'']), "{command}");
            command.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

/// The service unit passes davd arguments it accepts, and its pre-start check checks the
/// file it then starts with: the unit cannot drift from the command line unnoticed.
#[test]
fn the_systemd_unit_runs_davd_with_arguments_it_accepts() {
    use clap::Parser;
    use davd::cli::{Cli, Command};

    let parse = |args: &[String]| {
        assert!(args[0].ends_with("/davd"), "{args:?}");
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let pre = unit_commands("ExecStartPre");
    let start = unit_commands("ExecStart");
    assert_eq!((pre.len(), start.len()), (1, 1), "{pre:?} {start:?}");
    let Some(Command::CheckConfig { config: checked }) = parse(&pre[0]).command else {
        panic!("ExecStartPre is not check-config: {:?}", pre[0]);
    };
    let cli = parse(&start[0]);
    assert!(cli.command.is_none(), "{:?}", start[0]);
    assert_eq!(cli.config.as_ref(), Some(&checked));
    // The directories systemd creates for the unit (StateDirectory=, LogsDirectory=).
    assert_eq!(
        cli.state.as_deref(),
        Some(std::path::Path::new("/var/lib/davd"))
    );
    assert_eq!(cli.access_log.as_deref(), Some("/var/log/davd/access.log"));
}
