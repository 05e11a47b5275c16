//! Builds the registry from the settings: which subsystem serves which scope.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use davd_executive::Executive;
use davd_protocol::DavPath;
use davd_registry::{
    Journal, LivePropertyHandler, LockManager, Mount, PropertyManager, Registry, RegistryError,
};
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::journal::{DirJournal, MemoryJournal};
use davd_subsystems::live::{HitCounter, ReadOnly, standard_handlers};
use davd_subsystems::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};
use davd_subsystems::sled_store::{
    SledLocks, SledNamespace, SledProperties, StateDb, StateError, StateOptions, open_state,
};

use crate::auth::{Authenticator, Users};
use crate::config::{ExtraHandler, MountConfig, NamespaceKind, StoreKind};
use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{origin}cannot use the served directory {path}: {source}")]
    Root {
        origin: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot open the state database in {path}: {source}")]
    State { path: PathBuf, source: sled::Error },
    #[error("{0}")]
    StateDb(#[from] StateError),
    #[error("cannot open the journal in {path}: {source}")]
    Journal { path: PathBuf, source: io::Error },
    #[error("recovering the requests a crash interrupted failed: {0}")]
    Recovery(String),
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
    /// `Some` when authentication is on.
    pub auth: Option<Authenticator>,
    state: StateDb,
    /// Set once [`App::recover`] has run: it runs once per process, before serving.
    recovered: tokio::sync::OnceCell<()>,
}

/// Opens subsystems, sharing one instance per sled store so that scopes using "sled"
/// properties or locks use the same manager (MOVE between them is then a native move).
struct Factory<'a> {
    settings: &'a Settings,
    db: &'a StateDb,
    db_path: PathBuf,
    sled_properties: Option<Arc<dyn PropertyManager>>,
    sled_locks: Option<Arc<dyn LockManager>>,
}

impl Factory<'_> {
    fn state_error(&self, source: sled::Error) -> StartError {
        StartError::State {
            path: self.db_path.clone(),
            source,
        }
    }

    fn properties(&mut self, kind: StoreKind) -> Result<Arc<dyn PropertyManager>, StartError> {
        Ok(match kind {
            StoreKind::Memory => Arc::new(MemoryProperties::new()),
            StoreKind::Sled => match &self.sled_properties {
                Some(p) => p.clone(),
                None => {
                    let p: Arc<dyn PropertyManager> =
                        Arc::new(SledProperties::open(self.db).map_err(|e| self.state_error(e))?);
                    self.sled_properties = Some(p.clone());
                    p
                }
            },
        })
    }

    fn locks(&mut self, kind: StoreKind) -> Result<Arc<dyn LockManager>, StartError> {
        Ok(match kind {
            StoreKind::Memory => Arc::new(MemoryLocks::new()),
            StoreKind::Sled => match &self.sled_locks {
                Some(l) => l.clone(),
                None => {
                    let l: Arc<dyn LockManager> =
                        Arc::new(SledLocks::open(self.db).map_err(|e| self.state_error(e))?);
                    self.sled_locks = Some(l.clone());
                    l
                }
            },
        })
    }

    fn mount(&mut self, config: &MountConfig) -> Result<Mount, StartError> {
        let origin = if config.origin.is_empty() {
            String::new()
        } else {
            format!("{}: ", config.origin)
        };
        let namespace: Option<Arc<dyn davd_registry::NamespaceManager>> = match &config.namespace {
            None => None,
            Some(NamespaceKind::Fs { root }) => Some(Arc::new(
                FsNamespace::open(
                    root,
                    FsOptions {
                        fsync: self.settings.fsync,
                        inline_io: self.settings.fs_inline_io,
                        reserve: self.settings.min_free_bytes,
                    },
                )
                .map_err(|source| StartError::Root {
                    origin,
                    path: root.clone(),
                    source,
                })?,
            )),
            Some(NamespaceKind::Sled) => Some(Arc::new(
                SledNamespace::open(self.db, config.scope.as_str())
                    .map_err(|e| self.state_error(e))?,
            )),
            Some(NamespaceKind::Memory) => Some(Arc::new(MemoryNamespace::new())),
        };
        let mut live: Vec<Arc<dyn LivePropertyHandler>> = if config.scope.is_root() {
            standard_handlers()
        } else {
            Vec::new()
        };
        for extra in &config.live {
            live.push(match extra {
                ExtraHandler::ReadOnly => Arc::new(ReadOnly::new()),
                ExtraHandler::HitCounter => Arc::new(HitCounter::new()),
            });
        }
        Ok(Mount {
            namespace,
            properties: config.properties.map(|k| self.properties(k)).transpose()?,
            locks: config.locks.map(|k| self.locks(k)).transpose()?,
            live,
            access: config.access.clone(),
        })
    }
}

/// The mounts to build: the configured ones with the root completed, or the embedded default.
fn effective_mounts(settings: &Settings) -> Result<Vec<MountConfig>, StartError> {
    let mut mounts = settings.mounts.clone();
    if mounts.is_empty() {
        mounts.push(MountConfig {
            origin: String::new(),
            scope: DavPath::root(),
            namespace: None,
            properties: None,
            locks: None,
            live: Vec::new(),
            access: None,
        });
    }
    let root = mounts
        .iter_mut()
        .find(|m| m.scope.is_root())
        .ok_or_else(|| StartError::Config("the configuration must mount the scope \"/\"".into()))?;
    root.namespace.get_or_insert_with(|| NamespaceKind::Fs {
        root: settings.root.clone(),
    });
    root.properties.get_or_insert(StoreKind::Sled);
    root.locks.get_or_insert(StoreKind::Sled);
    Ok(mounts)
}

impl App {
    /// Opens the stores and builds the registry: the configured mounts, or the embedded
    /// default (the file system at `root`, properties and locks in sled under `state`).
    pub fn build(settings: Settings) -> Result<App, StartError> {
        if let Some(path) = &settings.users {
            let users = Users::load(path).map_err(|e| StartError::Config(e.to_string()))?;
            if users.is_empty() {
                return Err(StartError::Config(format!(
                    "the users file {} has no users (add one with `davd user add NAME --users FILE`)",
                    path.display()
                )));
            }
        }
        let exposed = !settings.listen.ip().is_loopback();
        if exposed && settings.users.is_none() && !settings.allow_anonymous {
            return Err(StartError::Config(format!(
                "refusing to serve {} to the network without authentication: give --users FILE \
                 (see `davd user add`) or, to really serve everyone, --allow-anonymous",
                settings.listen
            )));
        }
        let mounts = effective_mounts(&settings)?;
        refuse_state_inside_a_root(&settings, &mounts)?;
        std::fs::create_dir_all(&settings.state).map_err(|source| StartError::Root {
            origin: String::new(),
            path: settings.state.clone(),
            source,
        })?;
        let db_path = settings.state.join("db");
        let db = open_state(
            &settings.state,
            &StateOptions {
                reserve: settings.min_free_bytes,
                // Enough for sled to open on a full disk; never more than a quarter of the
                // reserve, so a small test disk is not filled by it.
                ballast: (settings.min_free_bytes / 4).min(8 * 1024 * 1024),
            },
        )?;
        let journal_dir = settings.state.join("journal");
        let journal: Arc<dyn Journal> = Arc::new(
            DirJournal::open(&journal_dir, settings.fsync, settings.min_free_bytes).map_err(
                |source| StartError::Journal {
                    path: journal_dir.clone(),
                    source,
                },
            )?,
        );
        let mut factory = Factory {
            settings: &settings,
            db: &db,
            db_path,
            sled_properties: None,
            sled_locks: None,
        };
        let mut built = Vec::new();
        for config in mounts {
            let mount = factory.mount(&config)?;
            info!(
                scope = %config.scope,
                namespace = mount.namespace.as_ref().map_or("inherited", |n| n.kind()),
                properties = mount.properties.as_ref().map_or("inherited", |p| p.kind()),
                locks = mount.locks.as_ref().map_or("inherited", |l| l.kind()),
                "mounted"
            );
            built.push((config.scope, mount));
        }
        let registry = Registry::new(built)?;
        Ok(Self::assemble(registry, settings, db, journal))
    }

    /// Assembles an app around a registry built elsewhere (library users, tests that inject
    /// their own subsystems). `state` is the state database to flush on shutdown. Its journal
    /// is kept in memory: nothing such an app keeps survives a crash, unless its stores do, and
    /// then [`App::build`] is the way.
    pub fn with_registry(registry: Registry, settings: Settings, state: StateDb) -> App {
        Self::assemble(registry, settings, state, Arc::new(MemoryJournal::new()))
    }

    fn assemble(
        registry: Registry,
        mut settings: Settings,
        state: StateDb,
        journal: Arc<dyn Journal>,
    ) -> App {
        let auth = match &settings.users {
            Some(path) => match Users::load(path) {
                Ok(users) => Some(Authenticator::new(users, settings.realm.clone())),
                Err(e) => {
                    // Fail closed: nobody gets in with an unreadable users file.
                    warn!(error = %e, "authentication is on but the users file cannot be used");
                    Some(Authenticator::new(Users::default(), settings.realm.clone()))
                }
            },
            None => None,
        };
        settings.executive.authentication = auth.is_some();
        let executive = Executive::new(Arc::new(registry), settings.executive.clone(), journal);
        App {
            executive,
            settings,
            auth,
            state,
            recovered: tokio::sync::OnceCell::new(),
        }
    }

    /// Finishes or undoes every request a crash interrupted, then lets the stores discard
    /// what such requests left (docs/adr/0017-crash-safety.md). Must run before the first
    /// request is served, and runs only once: [`crate::serve`] calls it too, and a second
    /// call, with requests perhaps in flight, does nothing.
    pub async fn recover(&self) -> Result<(), StartError> {
        self.recovered
            .get_or_try_init(|| async {
                let recovered = davd_executive::recovery::recover(&self.executive)
                    .await
                    .map_err(|e| StartError::Recovery(e.message.into_owned()))?;
                if !recovered.is_empty() {
                    info!(
                        requests = recovered.len(),
                        "recovered the requests a crash had interrupted"
                    );
                }
                Ok::<(), StartError>(())
            })
            .await?;
        Ok(())
    }

    /// Removes expired locks from every lock manager.
    pub async fn sweep_locks(&self) {
        let mut seen: Vec<Arc<dyn LockManager>> = Vec::new();
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

    /// Flushes the state database (on shutdown). Bounded in time: a disk that no longer
    /// answers must not keep the process from exiting.
    pub async fn close(&self) {
        match tokio::time::timeout(CLOSE_TIMEOUT, self.state.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "flushing the state database failed"),
            Err(_) => warn!("flushing the state database did not finish in time"),
        }
    }
}

/// How often expired locks are swept.
pub const LOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How long shutdown waits for the state database's last flush.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A state directory inside a served root would be served to clients, who could read and
/// delete davd's own database: refused, with a message naming both.
fn refuse_state_inside_a_root(
    settings: &Settings,
    mounts: &[MountConfig],
) -> Result<(), StartError> {
    let state = absolute(&settings.state);
    for mount in mounts {
        if let Some(NamespaceKind::Fs { root }) = &mount.namespace {
            let root = absolute(root);
            if state.starts_with(&root) {
                let origin = if mount.origin.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", mount.origin)
                };
                return Err(StartError::Config(format!(
                    "the state directory {} is inside the served directory {}{origin}: clients \
                     could read and delete davd's own database. Keep --state outside the root",
                    settings.state.display(),
                    root.display()
                )));
            }
        }
    }
    Ok(())
}

/// `path` made absolute and, as far as it exists, with symbolic links resolved, so that two
/// spellings of one directory compare equal.
fn absolute(path: &std::path::Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(found) = existing.canonicalize() {
            return rest.into_iter().rev().fold(found, |p, s| p.join(s));
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => {
                return std::env::current_dir()
                    .map(|cwd| cwd.join(path))
                    .unwrap_or_else(|_| path.to_path_buf());
            }
        }
    }
}
