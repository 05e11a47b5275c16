//! The command line, and how it combines with a configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use davd_subsystems::catalog::Catalog;

use crate::access_log::AccessLogTarget;
use crate::config::FileConfig;
use crate::logging::LogFormat;
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

    /// Directory to serve at / [default: ./dav-root]. With --config, replaces the directory the
    /// "/" mount serves: its namespace must then be of a kind that serves a directory ("fs").
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

    /// Diagnostic log format: text (coloured only on a terminal without NO_COLOR) or json (one
    /// object per line, for log shippers).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Access log (Combined Log Format plus the duration in microseconds): a file to append
    /// to, "-" for standard output, or "off" [default: -]. Independent of --log-level;
    /// SIGHUP reopens the file.
    #[arg(long, value_name = "FILE|-|off")]
    pub access_log: Option<String>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, on a listener of its own
    /// [default: off]. Not authenticated: keep it on a loopback or private address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,

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

    /// Keep earlier versions of replaced files and a trash of deleted ones for this long
    /// ("30d", "12h"), browsable read-only at /.history [default: off]. In a configuration
    /// file, a mount's `history = { keep = "30d", max_versions = 50 }`; this flag sets the
    /// time for the "/" mount. See docs/history.md.
    #[arg(long, value_name = "TIME", value_parser = crate::config_history::parse_duration)]
    pub keep_history: Option<std::time::Duration>,

    /// Serve a non-loopback address without authentication. Without it davd refuses to start
    /// when --listen is not a loopback address and no users file is given.
    #[arg(long)]
    pub allow_anonymous: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration file and exit (like `nginx -t`): reports every problem with its
    /// line, opens nothing for writing, exits 1 if there is any problem.
    CheckConfig {
        /// The configuration file to check.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
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
        self.settings_with(Catalog::builtin())
    }

    /// Like [`Cli::settings`], for a server whose configuration may name the kinds and live
    /// handlers of `catalog`.
    pub fn settings_with(&self, catalog: Catalog) -> Result<Settings, String> {
        let mut settings = Settings {
            // On for the binary unless the file or a flag says otherwise.
            access_log: AccessLogTarget::Stdout,
            ..Settings::default()
        };
        if let Some(path) = &self.config {
            let file = FileConfig::load_with(path, &catalog).map_err(|e| e.to_string())?;
            file.apply(&mut settings);
        }
        settings.catalog = catalog;
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
        if let Some(keep) = self.keep_history {
            settings.keep_history = Some(keep);
        }
        if let Some(target) = &self.access_log {
            settings.access_log = AccessLogTarget::parse(target)?;
        }
        if let Some(addr) = self.metrics_listen {
            settings.metrics_listen = Some(addr);
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
            if let Some(mount) = settings.mounts.iter_mut().find(|m| m.scope.is_root())
                && let Some(namespace) = &mut mount.namespace
            {
                *namespace = namespace.serving_directory(root).ok_or_else(|| {
                    format!(
                        "{}: --root applies only when \"/\" is served by a directory, and kind = \"{}\" serves none",
                        mount.origin,
                        namespace.kind()
                    )
                })?;
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path, config: &str, flags: &[&str]) -> Result<Settings, String> {
        let file = dir.join("davd.toml");
        std::fs::write(&file, config).unwrap();
        let mut args = vec!["davd", "--config", file.to_str().unwrap()];
        args.extend_from_slice(flags);
        Cli::parse_from(args).settings()
    }

    #[tokio::test]
    async fn root_replaces_the_directory_of_the_root_mount() {
        let dir = tempfile::tempdir().unwrap();
        let config = "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"from-file\" }\nproperties = { kind = \"memory\" }\nlocks = { kind = \"memory\" }\n";
        let flag = dir.path().join("from-flag");
        let settings = settings(dir.path(), config, &["--root", flag.to_str().unwrap()]).unwrap();
        crate::App::build(settings).await.unwrap();
        assert!(flag.is_dir());
        assert!(!dir.path().join("from-file").exists());
    }

    #[test]
    fn root_is_refused_when_the_root_mount_serves_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = "\n[[mount]]\nscope = \"/\"\nnamespace = { kind = \"memory\" }\n";
        let e = settings(dir.path(), config, &["--root", "elsewhere"]).unwrap_err();
        assert!(e.ends_with("davd.toml line 3: --root applies only when \"/\" is served by a directory, and kind = \"memory\" serves none"), "{e}");
        // Without --root the same file is fine.
        assert!(settings(dir.path(), config, &[]).is_ok());
    }
}
