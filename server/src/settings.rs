//! Everything the server is configured with, from flags (and, later, a configuration file).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use davd_executive::ExecutiveConfig;
use davd_subsystems::catalog::Catalog;

use crate::access_log::AccessLogTarget;
use crate::config::MountConfig;

/// Limits on connections, enforced by the HTTP layer.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A client must finish sending its request headers within this time.
    pub header_read_timeout: Duration,
    /// A request body that delivers nothing for this long is abandoned (its upload undone).
    pub body_idle_timeout: Duration,
    /// Most request headers; more is answered 431.
    pub max_headers: usize,
    /// Largest request head in bytes; larger is answered 431.
    pub max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory served at `/`.
    pub root: PathBuf,
    /// Where properties and locks are kept (outside the served tree).
    pub state: PathBuf,
    pub listen: SocketAddr,
    pub executive: ExecutiveConfig,
    pub limits: ConnectionLimits,
    /// fdatasync uploads before acknowledging them.
    pub fsync: bool,
    /// fs namespaces run single stats and small reads inline (ADR 0011); off for slow or
    /// network file systems.
    pub fs_inline_io: bool,
    /// Mounts from a configuration file; empty means the embedded default (the file system at
    /// `root`, sled properties and locks in `state`: the catalog's root defaults).
    pub mounts: Vec<MountConfig>,
    /// The storage kinds and live handlers the mounts were read with; its root defaults fill
    /// in what the `/` mount leaves out.
    pub catalog: Catalog,
    /// Top-level tables of the configuration file that kinds read (`[cluster]`).
    pub tables: BTreeMap<String, toml::Table>,
    /// The users file; `Some` turns HTTP Basic authentication on.
    pub users: Option<PathBuf>,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
    /// Serve a non-loopback address without authentication (refused by default).
    pub allow_anonymous: bool,
    /// Certificate chain and private key (PEM files): serve HTTPS (HTTP/1.1 and HTTP/2).
    pub tls: Option<TlsFiles>,
    /// Threads that serve connections, each with its own event loop (ADR 0016); 0 serves them
    /// as tasks on the runtime that calls [`crate::serve`].
    pub connection_threads: usize,
    /// Writes are refused with 507 while fewer bytes than this are free on the disk of the
    /// served root or of the state directory, so that a full disk never breaks the state
    /// database (`davd_subsystems::space`).
    pub min_free_bytes: u64,
    /// `--keep-history`: the time the "/" mount keeps history for (docs/history.md).
    pub keep_history: Option<Duration>,
    /// Where the access log goes. Off in a library's default; the `davd` binary writes it to
    /// standard output unless told otherwise.
    pub access_log: AccessLogTarget,
    /// Serve Prometheus metrics on this address (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
}

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            root: PathBuf::from("./dav-root"),
            state: PathBuf::from("./dav-state"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            executive: ExecutiveConfig::default(),
            limits: ConnectionLimits::default(),
            fsync: false,
            fs_inline_io: true,
            mounts: Vec::new(),
            catalog: Catalog::builtin(),
            tables: BTreeMap::new(),
            users: None,
            realm: "davd".to_owned(),
            allow_anonymous: false,
            tls: None,
            connection_threads: crate::threads::default_count(),
            min_free_bytes: davd_subsystems::space::DEFAULT_RESERVE,
            keep_history: None,
            access_log: AccessLogTarget::Off,
            metrics_listen: None,
        }
    }
}
