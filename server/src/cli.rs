//! The command line, and how it combines with a configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{FileConfig, NamespaceKind};
use crate::settings::{Settings, TlsFiles};

/// davd: a WebDAV server for Office, Windows, macOS, Linux clients and browsers.
///
/// With no arguments it serves ./dav-root on http://127.0.0.1:8080/, keeping properties and
/// locks in ./dav-state, and creates both directories if they are missing.
#[derive(Debug, Parser)]
#[command(name = "davd", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Directory to serve at / [default: ./dav-root]. With --config, replaces the root of the
    /// "/" mount (which must then be of kind "fs").
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Directory for davd's own state (dead properties, locks, sled namespaces) [default:
    /// ./dav-state]. Keep it outside the served directory.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Address and port to listen on [default: 127.0.0.1:8080]. Use 0.0.0.0:8080 (or
    /// [::]:8080) to serve the network.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// A TOML configuration file: mounts (which subsystem serves which URL scope) and limits.
    /// Flags given on the command line override it. See docs/configuration.md.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log verbosity: error, warn, info, debug (one line per request) or trace. The RUST_LOG
    /// environment variable, if set, takes precedence.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// fdatasync every upload before acknowledging it (slower, survives power loss).
    #[arg(long)]
    pub fsync: bool,

    /// Turn on HTTP Basic authentication against this users file (create it with
    /// `davd user add`). Access rules per scope go in the configuration file.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). HTTP/2 is offered too.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Threads that serve connections, each with its own event loop [default: two per core].
    /// 0 serves them on one shared work-stealing runtime instead.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=crate::config::MAX_THREADS as i64))]
    pub threads: Option<u16>,

    /// Serve a non-loopback address without authentication. Without it davd refuses to start
    /// when --listen is not a loopback address and no users file is given.
    #[arg(long)]
    pub allow_anonymous: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the users file.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user (or change their password). Prompts for the password on a terminal, reads it
    /// from standard input otherwise. Only the Argon2id hash is written.
    Add {
        /// The user name.
        name: String,
        /// The users file to create or update.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

impl Cli {
    /// The settings: defaults, then the configuration file, then the flags.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut settings = Settings::default();
        if let Some(path) = &self.config {
            let file = FileConfig::load(path).map_err(|e| e.to_string())?;
            apply_file(&mut settings, file);
        }
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(state) = &self.state {
            settings.state = state.clone();
        }
        if self.fsync {
            settings.fsync = true;
        }
        if let Some(users) = &self.users {
            settings.users = Some(users.clone());
        }
        if self.allow_anonymous {
            settings.allow_anonymous = true;
        }
        if let Some(threads) = self.threads {
            settings.connection_threads = usize::from(threads);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            settings.tls = Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if let Some(root) = &self.root {
            settings.root = root.clone();
            if let Some(mount) = settings.mounts.iter_mut().find(|m| m.scope.is_root()) {
                match &mut mount.namespace {
                    Some(NamespaceKind::Fs { root: configured }) => *configured = root.clone(),
                    None => {}
                    Some(_) => {
                        return Err(format!(
                            "{}: --root applies only when \"/\" is served by kind = \"fs\"",
                            mount.origin
                        ));
                    }
                }
            }
        }
        Ok(settings)
    }
}

fn apply_file(settings: &mut Settings, file: FileConfig) {
    if let Some(listen) = file.listen {
        settings.listen = listen;
    }
    if let Some(state) = file.state {
        settings.state = state;
    }
    if let Some(fsync) = file.fsync {
        settings.fsync = fsync;
    }
    if let Some(inline) = file.fs_inline_io {
        settings.fs_inline_io = inline;
    }
    if let Some(threads) = file.threads {
        settings.connection_threads = threads;
    }
    if let Some(users) = file.users {
        settings.users = Some(users);
    }
    if let Some(realm) = file.realm {
        settings.realm = realm;
    }
    if let Some(agents) = file.omit_lockroot_for {
        settings.executive.omit_lockroot_for = agents;
    }
    let l = file.limits;
    let exec = &mut settings.executive;
    if let Some(v) = l.xml_max_bytes {
        exec.xml_limits.max_bytes = v;
    }
    if let Some(v) = l.propfind_infinity {
        exec.propfind_infinity = v;
    }
    if let Some(v) = l.lock_timeout_default {
        exec.default_lock_timeout = v;
    }
    if let Some(v) = l.lock_timeout_max {
        exec.max_lock_timeout = v;
    }
    if let Some(v) = l.max_locks_per_user {
        exec.max_locks_per_principal = v;
    }
    let conn = &mut settings.limits;
    if let Some(v) = l.header_read_timeout_secs {
        conn.header_read_timeout = Duration::from_secs(v);
    }
    if let Some(v) = l.body_idle_timeout_secs {
        conn.body_idle_timeout = Duration::from_secs(v);
    }
    if let Some(v) = l.max_headers {
        conn.max_headers = v;
    }
    if let Some(v) = l.max_header_bytes {
        conn.max_header_bytes = v;
    }
    if let Some(v) = l.max_connections {
        conn.max_connections = v;
    }
    if let Some(v) = l.min_free_mib {
        settings.min_free_bytes = v.saturating_mul(1024 * 1024);
    }
    settings.mounts = file.mounts;
}
