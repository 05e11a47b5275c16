//! Runs the real `davd` binary as a child process.
#![allow(dead_code, clippy::unwrap_used, clippy::zombie_processes)] // Drop kills and waits

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

#[path = "../../../tests/src/prometheus.rs"]
pub mod prometheus;

pub struct Davd {
    pub child: Child,
    pub url: String,
    /// The line that says where it serves.
    pub serving_line: String,
    /// The lines davd logged before it (recovery, the mounts).
    pub startup_lines: Vec<String>,
    /// The lines davd logged after the one that says where it serves, as they come.
    log: Mutex<Receiver<String>>,
}

/// How long a test waits for davd to start or to log a line it expects: long enough for a
/// two-core machine busy with other builds, and only ever reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(60);

impl Davd {
    /// Starts davd in `cwd` with `args` (plus `--listen 127.0.0.1:0` unless given) and waits
    /// for the line that says where it serves.
    pub fn start(cwd: &Path, args: &[&str]) -> Davd {
        Self::start_with_env(cwd, args, &[])
    }

    /// [`Davd::start`] with `filter` as `RUST_LOG`, for a test that reads the log.
    pub fn start_logging(cwd: &Path, args: &[&str], filter: &str) -> Davd {
        Self::start_with_env(cwd, args, &[("RUST_LOG", filter)])
    }

    /// [`Davd::start`] with extra environment variables (a fail point, say).
    pub fn start_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Davd {
        Self::launch(Command::new(env!("CARGO_BIN_EXE_davd")), cwd, args, env)
    }

    /// Like [`Davd::start`], with the process's limit on open files lowered to `files`
    /// (through the shell's `ulimit`; the shell then becomes davd).
    pub fn start_with_file_limit(cwd: &Path, args: &[&str], files: u32) -> Davd {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_davd"));
        Self::launch(command, cwd, args, &[])
    }

    /// Starts davd in `cwd` with `args` and no `RUST_LOG`, so that `--log-level` alone decides
    /// what it logs (perhaps nothing): it is found by its port instead of its startup line.
    /// The port is reserved and let go before davd binds it; if another process takes it in
    /// between, davd exits and the start is tried again on another port.
    pub fn start_silent(cwd: &Path, args: &[&str]) -> Davd {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let listen = format!("127.0.0.1:{port}");
            let mut child = Command::new(env!("CARGO_BIN_EXE_davd"))
                .current_dir(cwd)
                .args(args)
                .args(["--listen", &listen])
                .env_remove("RUST_LOG")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let rx = read_lines(&mut child);
            loop {
                // A connection that sends nothing is no request: it leaves no access line.
                if std::net::TcpStream::connect(&listen).is_ok() {
                    return Davd {
                        child,
                        url: format!("http://{listen}/"),
                        serving_line: String::new(),
                        startup_lines: Vec::new(),
                        log: Mutex::new(rx),
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "davd did not start listening");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops davd gracefully, as [`Davd::stop`], and returns its exit code with every line it
    /// wrote to standard output that no earlier call read.
    pub fn stop_with_output(self) -> (Option<i32>, Vec<String>) {
        self.signal("TERM");
        let mut lines = Vec::new();
        {
            let log = self.log.lock().unwrap();
            // The reading thread ends, and the channel closes, with the process's output.
            while let Ok(line) = log.recv_timeout(PATIENCE) {
                lines.push(line);
            }
        }
        (self.wait(Duration::from_secs(20)), lines)
    }

    fn launch(mut command: Command, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Davd {
        command.current_dir(cwd).args(args).env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rx = read_lines(&mut child);
        let deadline = Instant::now() + PATIENCE;
        let mut startup_lines = Vec::new();
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("davd did not say where it serves");
            if let Some(start) = line.find("http://").or_else(|| line.find("https://")) {
                let url = line[start..].split_whitespace().next().unwrap().to_owned();
                // The reading thread keeps draining the pipe into the channel, so the child
                // never blocks on a full pipe whether or not the test reads the log.
                return Davd {
                    child,
                    url,
                    serving_line: line,
                    startup_lines,
                    log: Mutex::new(rx),
                };
            }
            startup_lines.push(line);
        }
    }

    /// The next log line that contains `text` (earlier lines are passed over).
    pub fn log_line(&self, text: &str) -> String {
        let log = self.log.lock().unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("davd did not log {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Every log line up to and including the next that contains `text`.
    pub fn lines_until(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("davd did not log {text:?}"));
            let found = line.contains(text);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }

    /// True once the process has ended (for a fail point that aborted it).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory (VmHWM) in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Sends SIGTERM and returns the exit code (waiting up to 20 s): a graceful stop.
    pub fn stop(self) -> Option<i32> {
        self.signal("TERM");
        self.wait(Duration::from_secs(20))
    }

    /// Waits for exit (up to `limit`) and returns the exit code.
    pub fn wait(mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("davd did not exit in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An HTTP method by name (WebDAV's are not among reqwest's constants).
pub fn method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).unwrap()
}

/// A LOCK body asking for an exclusive write lock.
pub const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>a test</D:owner></D:lockinfo>"#;

/// A configuration with the file system at `/` (`root`) and a sled namespace at `/db`,
/// keeping a reserve of `min_free_mib`; davd runs it with [`ROOT_AND_DB_ARGS`].
pub fn root_and_db_config(min_free_mib: u32) -> String {
    format!(
        r#"
[[mount]]
scope = "/"
namespace = {{ kind = "fs", root = "root" }}

[[mount]]
scope = "/db"
namespace = {{ kind = "sled" }}

[limits]
min_free_mib = {min_free_mib}
"#
    )
}

/// The flags for [`root_and_db_config`] written to `davd.toml`.
pub const ROOT_AND_DB_ARGS: [&str; 6] = [
    "--config",
    "davd.toml",
    "--state",
    "state",
    "--root",
    "root",
];

/// A reqwest client (with rustls's ring provider installed, as reqwest is built without one).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

impl Drop for Davd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines `child` writes to its standard output (piped), read on a thread of their own so
/// that the child never blocks on a full pipe, whether or not the test reads them.
fn read_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
