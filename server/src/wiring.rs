//! Builds the registry from the settings: which subsystem serves which scope.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use davd_executive::Executive;
use davd_protocol::DavPath;
use davd_registry::{Mount, Registry, RegistryError};
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::sled_store::{SledLocks, SledProperties};

use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the served directory {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("cannot open the state database in {path}: {source}")]
    State { path: PathBuf, source: sled::Error },
    #[error("{0}")]
    Registry(#[from] RegistryError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: io::Error },
    #[error("{0}")]
    Config(String),
}

/// The assembled server: the executive and what must be closed on shutdown.
pub struct App {
    pub executive: Arc<Executive>,
    pub settings: Settings,
    db: sled::Db,
}

impl App {
    /// Opens the stores and builds the registry for the embedded default: the file system at
    /// `root`, dead properties and locks in sled under `state`.
    pub fn build(settings: Settings) -> Result<App, StartError> {
        std::fs::create_dir_all(&settings.state).map_err(|source| StartError::Root {
            path: settings.state.clone(),
            source,
        })?;
        let db_path = settings.state.join("db");
        let db = sled::Config::new()
            .path(&db_path)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|source| StartError::State {
                path: db_path.clone(),
                source,
            })?;
        let namespace = FsNamespace::open(
            &settings.root,
            FsOptions {
                fsync: settings.fsync,
            },
        )
        .map_err(|source| StartError::Root {
            path: settings.root.clone(),
            source,
        })?;
        let properties = SledProperties::open(&db).map_err(|source| StartError::State {
            path: db_path.clone(),
            source,
        })?;
        let locks = SledLocks::open(&db).map_err(|source| StartError::State {
            path: db_path.clone(),
            source,
        })?;
        let registry = Registry::new(vec![(
            DavPath::root(),
            Mount {
                namespace: Some(Arc::new(namespace)),
                properties: Some(Arc::new(properties)),
                locks: Some(Arc::new(locks)),
                live: standard_handlers(),
            },
        )])?;
        Ok(Self::with_registry(registry, settings, db))
    }

    /// Assembles an app around a registry built elsewhere (library users, tests that inject
    /// their own subsystems). `db` is the state database to flush on shutdown.
    pub fn with_registry(registry: Registry, settings: Settings, db: sled::Db) -> App {
        let executive = Executive::new(Arc::new(registry), settings.executive.clone());
        App {
            executive,
            settings,
            db,
        }
    }

    /// Removes expired locks from every lock manager.
    pub async fn sweep_locks(&self) {
        let mut seen: Vec<Arc<dyn davd_registry::LockManager>> = Vec::new();
        for scope in self.executive.registry.scopes() {
            for manager in self.executive.registry.lock_managers(scope) {
                if seen.iter().any(|m| Arc::ptr_eq(m, &manager)) {
                    continue;
                }
                match manager.sweep().await {
                    Ok(0) => {}
                    Ok(n) => info!(expired = n, "removed expired locks"),
                    Err(e) => warn!(error = %e, "lock sweep failed"),
                }
                seen.push(manager);
            }
        }
    }

    /// Flushes the state database (on shutdown).
    pub async fn close(&self) {
        if let Err(e) = self.db.flush_async().await {
            warn!(error = %e, "flushing the state database failed");
        }
    }
}

/// How often expired locks are swept.
pub const LOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
