//! Several davd processes serving one namespace through one PostgreSQL: the harness of
//! `tests/tests/cluster.rs`.
//!
//! A [`Cluster`] is one configuration file for every instance (the database, a schema of its
//! own, properties and locks of kind `postgres`, and the namespace: a temporary shared root,
//! or with [`Kind::S3`] a tree in the database and a prefix of its own in the test S3 store,
//! no shared directory), and one davd process per instance, each with its own `--state` and
//! port. The database is the one in `DAVD_TEST_DATABASE_URL`, or a [`Postgres`] of the test's
//! own when the test stops it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder};
use tempfile::TempDir;

use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, skip, test_database};

pub use crate::s3_place::S3Place;

/// A throw-away PostgreSQL cluster of the test's own, on a free loopback port, for tests that
/// stop the database under davd's feet. Made with `initdb` and run with `pg_ctl` (as the
/// `postgres` user when the tests run as root, which PostgreSQL refuses to run as).
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    pub url: String,
}

/// The directory of the newest PostgreSQL's programs on this machine (Debian's layout).
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A free loopback port (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Postgres {
    /// Makes and starts a cluster; `None` (after the loud skip line) when the machine has no
    /// PostgreSQL.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = postgres_bin() else {
            skip("no PostgreSQL programs in /usr/lib/postgresql (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(owned.success(), "chown the cluster's directory to postgres");
        }
        let port = free_port();
        let postgres = Postgres {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            dir,
        };
        let initdb = postgres
            .command("initdb")
            .arg("-D")
            .arg(postgres.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb");
        postgres.start_again();
        Some(postgres)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A PostgreSQL program, as the user that may run it.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Starts the server (again), on the same port and data.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 \
             -c client_connection_check_interval=1s",
            self.port,
            self.dir.path().display()
        );
        let started = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(started.success(), "pg_ctl start");
    }

    /// Stops the server the way a crash would: every backend killed, nothing flushed.
    pub fn stop_abruptly(&self) {
        self.stop("immediate");
    }

    fn stop(&self, mode: &str) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

/// An instance's process that has not said yet that it serves, and its log.
struct Starting {
    child: Child,
    log: std::sync::mpsc::Receiver<String>,
}

/// One davd process of a cluster.
pub struct Node {
    pub name: String,
    pub port: u16,
    state: PathBuf,
    child: Option<Child>,
    /// Whether it has served once: until then its port may still change.
    served: bool,
}

/// Where a cluster's instances keep the namespace they serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A root directory every instance shares (`fs`).
    Fs,
    /// The tree in the cluster's database and the bytes in the test S3 store, under a prefix
    /// of the cluster's own (`s3`): nothing shared but the database and the bucket.
    S3,
}

/// Instances serving one namespace through one database.
pub struct Cluster {
    binary: PathBuf,
    dir: TempDir,
    /// The shared root ([`Kind::Fs`]; with [`Kind::S3`] an empty directory nobody uses).
    pub root: PathBuf,
    pub kind: Kind,
    /// Where the bytes are, with [`Kind::S3`].
    pub s3: Option<S3Place>,
    config: PathBuf,
    pub nodes: Vec<Node>,
    pub client: Client,
    /// The schema (on the test database) and what drops it, if the cluster made one.
    pub schema: String,
    pub database: String,
    _schema: Option<SchemaGuard>,
}

/// The mounts every instance serves: the namespace (`NAMESPACE`), properties and locks in the
/// database.
const MOUNTS: &str = "[[mount]]\nscope = \"/\"\nnamespace = NAMESPACE\n\
                      properties = { kind = \"postgres\" }\nlocks = { kind = \"postgres\" }\n";

impl Cluster {
    /// Instances `names` on the test database (a schema of their own); `None` after the loud
    /// skip line when there is no test database.
    pub async fn start(binary: &str, names: &[&str]) -> Option<Cluster> {
        Cluster::start_with(binary, names, "").await
    }

    /// Like [`Cluster::start`], with `extra` appended to the configuration every instance
    /// reads (`"[limits]\nmax_locks_per_user = 5\n"`).
    pub async fn start_with(binary: &str, names: &[&str], extra: &str) -> Option<Cluster> {
        Cluster::start_kind(binary, names, extra, Kind::Fs).await
    }

    /// Like [`Cluster::start_with`], serving a namespace of `kind`; `None` after the loud skip
    /// line when there is no test database, or with [`Kind::S3`] no test store.
    pub async fn start_kind(
        binary: &str,
        names: &[&str],
        extra: &str,
        kind: Kind,
    ) -> Option<Cluster> {
        let url = test_database()?;
        let schema = fresh_schema();
        let guard = SchemaGuard {
            url: url.clone(),
            schema: schema.clone(),
        };
        let mut cluster = Cluster::on_kind(binary, &url, &schema, names, kind)?;
        cluster._schema = Some(guard);
        if !extra.is_empty() {
            let mut text = std::fs::read_to_string(&cluster.config).unwrap();
            text.push_str(extra);
            std::fs::write(&cluster.config, text).unwrap();
        }
        cluster.start_all(&[]).await;
        Some(cluster)
    }

    /// Instances `names` on the database at `url`, in `schema` (empty: the database's
    /// default, `public`); not started yet.
    pub fn on(binary: &str, url: &str, schema: &str, names: &[&str]) -> Cluster {
        Cluster::made(binary, url, schema, names, None)
    }

    /// Like [`Cluster::on`], serving a namespace of `kind`; `None` after the loud skip line
    /// when `kind` needs the test S3 store and there is none.
    pub fn on_kind(
        binary: &str,
        url: &str,
        schema: &str,
        names: &[&str],
        kind: Kind,
    ) -> Option<Cluster> {
        let s3 = match kind {
            Kind::Fs => None,
            Kind::S3 => Some(S3Place::fresh()?),
        };
        Some(Cluster::made(binary, url, schema, names, s3))
    }

    /// The cluster's directory and configuration: the shared root, or the s3 place if given.
    fn made(binary: &str, url: &str, schema: &str, names: &[&str], s3: Option<S3Place>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.path().join("davd.toml");
        let schema_line = if schema.is_empty() {
            String::new()
        } else {
            format!("schema = \"{schema}\"\n")
        };
        let namespace = match &s3 {
            Some(place) => place.table(),
            None => format!("{{ kind = \"fs\", root = \"{}\" }}", root.display()),
        };
        let text = format!(
            "[cluster]\ndatabase = \"{url}\"\n{schema_line}\n{}",
            MOUNTS.replace("NAMESPACE", &namespace)
        );
        std::fs::write(&config, text).unwrap();
        let nodes = names
            .iter()
            .map(|name| Node {
                name: (*name).to_owned(),
                port: free_port(),
                state: dir.path().join(format!("state-{name}")),
                child: None,
                served: false,
            })
            .collect();
        Cluster {
            binary: PathBuf::from(binary),
            dir,
            root,
            kind: if s3.is_some() { Kind::S3 } else { Kind::Fs },
            s3,
            config,
            nodes,
            client: crate::client_builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            schema: schema.to_owned(),
            database: url.to_owned(),
            _schema: None,
        }
    }

    /// Starts every instance (`wrapper`: a program and arguments to start them under).
    pub async fn start_all(&mut self, wrapper: &[&str]) {
        for index in 0..self.nodes.len() {
            self.start_node(index, wrapper).await;
        }
    }

    /// Starts the instance `index` on its port, under `wrapper` (`["faketime", "-f",
    /// "+5m"]`) if given, and waits until it serves.
    pub async fn start_node(&mut self, index: usize, wrapper: &[&str]) {
        loop {
            let starting = self.spawn_node(index, wrapper);
            match self.wait_serving(index, starting).await {
                Ok(()) => return,
                Err(log) => self.port_taken_or_panic(index, log),
            }
        }
    }

    /// After a start that failed with `log`: the port was chosen free when the cluster was
    /// made, but a server of another test may have been given it since. An instance that
    /// never served takes another port (its name, if derived from the port, is not yet in
    /// use); anything else fails the test with the instance's log.
    fn port_taken_or_panic(&mut self, index: usize, log: String) {
        let node = &mut self.nodes[index];
        if log.contains("Address already in use") && !node.served {
            node.port = free_port();
            return;
        }
        panic!("instance {} did not start:\n{log}", node.name);
    }

    /// Starts every instance at the same moment, then waits until each serves: what a
    /// deployment does when it starts them all at once.
    pub async fn start_together(&mut self) {
        let starting: Vec<_> = (0..self.nodes.len())
            .map(|index| self.spawn_node(index, &[]))
            .collect();
        for (index, starting) in starting.into_iter().enumerate() {
            if let Err(log) = self.wait_serving(index, starting).await {
                self.port_taken_or_panic(index, log);
                self.start_node(index, &[]).await;
            }
        }
    }

    /// Starts the process of the instance `index`, and the thread that reads its log.
    fn spawn_node(&self, index: usize, wrapper: &[&str]) -> Starting {
        let node = &self.nodes[index];
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--state")
            .arg(&node.state)
            .args(["--listen", &format!("127.0.0.1:{}", node.port)])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            // faketime: shift the wall clock only; timers keep the real pace.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // A group of its own, so that a kill reaches the instance under a wrapper too.
            .process_group(0);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Starting { child, log: rx }
    }

    /// Waits until the instance `index` says it serves, and keeps it; its log if it ended or
    /// did not serve within a minute.
    async fn wait_serving(&mut self, index: usize, starting: Starting) -> Result<(), String> {
        let Starting { mut child, log: rx } = starting;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut log = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains("davd serving http://") => break,
                Ok(line) => log.push(line),
                Err(_) => {
                    kill_group(&mut child);
                    return Err(log.join("\n"));
                }
            }
        }
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in rx {});
        self.nodes[index].child = Some(child);
        self.nodes[index].served = true;
        // The executive runs blocking work elsewhere; a first request makes sure it answers.
        let _ = self.request(index, "OPTIONS", "/").send().await;
        Ok(())
    }

    /// Kills the instance `index` with SIGKILL, as a crash would, and waits for it to end.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            kill_group(&mut child);
        }
    }

    pub fn url(&self, index: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nodes[index].port)
    }

    pub fn request(&self, index: usize, method: &str, path: &str) -> RequestBuilder {
        self.client.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            self.url(index, path),
        )
    }

    /// The process id of the instance `index` while it runs (for a test that reads its
    /// memory in `/proc`); started under a wrapper, the wrapper's.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// The state directory of the instance `index`.
    pub fn state(&self, index: usize) -> &Path {
        &self.nodes[index].state
    }

    /// A connection to the cluster's database (in its schema), for looking at what davd
    /// keeps there.
    pub async fn database(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.database, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        if !self.schema.is_empty() {
            client
                .batch_execute(&format!("SET search_path = {}", self.schema))
                .await
                .unwrap();
        }
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

/// Kills an instance's process group with SIGKILL and reaps the process started. A wrapper
/// such as `faketime` forks the instance and waits for it: killing the wrapper alone left the
/// instance serving, on its port, after its test had ended.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// A database of the test's own on the test server, empty, dropped with the value: for what
/// only a fresh database shows (the first migration, raced by instances starting together).
pub struct FreshDatabase {
    server: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl FreshDatabase {
    /// `None` after the loud skip line when there is no test database.
    pub async fn create() -> Option<FreshDatabase> {
        let server = test_database()?;
        let name = fresh_schema();
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name} ENCODING 'UTF8'"))
            .await
            .unwrap();
        let url = with_database(&server, &name);
        Some(FreshDatabase { server, name, url })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of its own on a thread of its own: a Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// `url` (`postgres://user@host:port/db?options`) naming the database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// True if `program` can be run (it is on the `PATH`).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes each `async fn NAME(kind: Kind)` of a test file two tests, `NAME::fs` and
/// `NAME::s3`, one per [`Kind`]: one body checks both deployments, and
/// `cargo test --test cluster s3` picks out the s3 ones.
#[macro_export]
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn fs() {
                super::$name($crate::cluster::Kind::Fs).await
            }

            #[tokio::test]
            async fn s3() {
                super::$name($crate::cluster::Kind::S3).await
            }
        }
    )*};
}
