//! Everything the server is configured with, from flags (and, later, a configuration file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use davd_executive::ExecutiveConfig;

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
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
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
    /// Mounts from a configuration file; empty means the embedded default (the file system at
    /// `root`, sled properties and locks in `state`).
    pub mounts: Vec<MountConfig>,
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
            mounts: Vec::new(),
        }
    }
}
