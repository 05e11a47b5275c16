//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::settings::Settings;

/// davd: a WebDAV server for Office, Windows, macOS, Linux clients and browsers.
///
/// With no arguments it serves ./dav-root on http://127.0.0.1:8080/, keeping properties and
/// locks in ./dav-state, and creates both directories if they are missing.
#[derive(Debug, Parser)]
#[command(name = "davd", version, about, long_about)]
pub struct Cli {
    /// Directory to serve at /.
    #[arg(long, value_name = "DIR", default_value = "./dav-root")]
    pub root: PathBuf,

    /// Directory for davd's own state (dead properties and locks, in a sled database). Keep it
    /// outside the served directory.
    #[arg(long, value_name = "DIR", default_value = "./dav-state")]
    pub state: PathBuf,

    /// Address and port to listen on. Use 0.0.0.0:8080 (or [::]:8080) to serve the network.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A TOML configuration file (mounts, limits); flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log verbosity: error, warn, info, debug (one line per request) or trace. The RUST_LOG
    /// environment variable, if set, takes precedence.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// fdatasync every upload before acknowledging it (slower, survives power loss).
    #[arg(long)]
    pub fsync: bool,
}

impl Cli {
    pub fn settings(&self) -> Settings {
        Settings {
            root: self.root.clone(),
            state: self.state.clone(),
            listen: self.listen,
            fsync: self.fsync,
            ..Settings::default()
        }
    }
}
