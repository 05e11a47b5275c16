//! Builds the registry from the settings: which subsystem serves which scope.
//!
//! Every storage kind comes from the catalog (`davd_subsystems::catalog`): the configuration
//! named it, the kind read its table, and here it opens with the server's [`OpenContext`].
//! Nothing in this file knows a kind by name.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use davd_executive::Executive;
use davd_registry::{
    Journal, LivePropertyHandler, LockManager, Mount, PropertyManager, Registry, RegistryError,
};
use davd_subsystems::catalog::{Close, OpenContext, OpenError};
use davd_subsystems::journal::{DirJournal, MemoryJournal};
use davd_subsystems::live::standard_handlers;

use crate::access_log::AccessLog;
use crate::auth::{Authenticator, Users};
use crate::config::MountConfig;
use crate::config_history::HistoryConfig;
use crate::history_views;
use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A store did not open: `origin` is where its mount was written (`davd.toml line 12: `),
    /// empty for the embedded default.
    #[error("{origin}{source}")]
    Open { origin: String, source: OpenError },
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
    #[error("cannot open the {0}")]
    AccessLog(io::Error),
}

/// The assembled server: the executive and what must be closed on shutdown.
pub struct App {
    pub executive: Arc<Executive>,
    pub settings: Settings,
    /// `Some` when authentication is on.
    pub auth: Option<Authenticator>,
    /// `Some` when the access log is on.
    pub access_log: Option<AccessLog>,
    /// What is served where, for the startup line: `/ = ./dav-root, /db = sled`.
    pub served: String,
    /// What the kinds asked to finish when the server stops (flush the state database...).
    closers: Vec<Arc<dyn Close>>,
    /// Set once [`App::recover`] has run: it runs once per process, before serving.
    recovered: tokio::sync::OnceCell<()>,
}

/// Opens the managers one mount names, with the kinds it chose.
async fn open_mount(cx: &OpenContext, config: &MountConfig) -> Result<Mount, StartError> {
    let failed = |source: OpenError| StartError::Open {
        origin: if config.origin.is_empty() {
            String::new()
        } else {
            format!("{}: ", config.origin)
        },
        source,
    };
    let scope = &config.scope;
    let namespace = match &config.namespace {
        Some(kind) => Some(kind.open(cx, scope).await.map_err(failed)?),
        None => None,
    };
    let properties = match &config.properties {
        Some(kind) => Some(kind.open(cx, scope).await.map_err(failed)?),
        None => None,
    };
    let locks = match &config.locks {
        Some(kind) => Some(kind.open(cx, scope).await.map_err(failed)?),
        None => None,
    };
    let mut live: Vec<Arc<dyn LivePropertyHandler>> = if config.scope.is_root() {
        standard_handlers()
    } else {
        Vec::new()
    };
    live.extend(config.live.iter().map(|handler| (handler.new)()));
    Ok(Mount {
        namespace,
        properties,
        locks,
        live,
        access: config.access.clone(),
    })
}

/// The mounts to build: the configured ones with the root completed, or the embedded default
/// (the catalog's root defaults: the directory `root` with properties and locks in `state`).
pub(crate) fn effective_mounts(settings: &Settings) -> Result<Vec<MountConfig>, StartError> {
    let mut mounts = settings.mounts.clone();
    if mounts.is_empty() {
        mounts.push(MountConfig::new(davd_protocol::DavPath::root()));
    }
    if let Some(keep) = settings.keep_history
        && let Some(root) = mounts.iter_mut().find(|m| m.scope.is_root())
    {
        match &mut root.history {
            Some(history) => history.retention.keep = keep,
            None => root.history = Some(HistoryConfig::keeping(keep)),
        }
    }
    let root = mounts
        .iter_mut()
        .find(|m| m.scope.is_root())
        .ok_or_else(|| StartError::Config("the configuration must mount the scope \"/\"".into()))?;
    let defaults = settings.catalog.defaults();
    root.namespace
        .get_or_insert_with(|| (defaults.namespace)(&settings.root));
    root.properties.get_or_insert_with(defaults.properties);
    root.locks.get_or_insert_with(defaults.locks);
    Ok(mounts)
}

impl App {
    /// Opens the stores and builds the registry: the configured mounts, or the embedded
    /// default (the file system at `root`, properties and locks in sled under `state`).
    pub async fn build(settings: Settings) -> Result<App, StartError> {
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
        let served = describe_served(&mounts);
        let access_log = AccessLog::open(&settings.access_log).map_err(StartError::AccessLog)?;
        // What the server keeps in its state directory for itself, rather than for one store,
        // opens here, before any store does: the journal of requests in flight.
        let journal_dir = settings.state.join("journal");
        let journal: Arc<dyn Journal> = Arc::new(
            DirJournal::open(&journal_dir, settings.fsync, settings.min_free_bytes).map_err(
                |source| StartError::Journal {
                    path: journal_dir.clone(),
                    source,
                },
            )?,
        );
        let mut cx = OpenContext::new(&settings.state)
            .with_fsync(settings.fsync)
            .with_fs_inline_io(settings.fs_inline_io)
            .with_reserve(settings.min_free_bytes)
            .with_listen(settings.listen);
        for (name, table) in &settings.tables {
            cx = cx.with_table(name.clone(), table.clone());
        }
        // Kinds that the file's top-level tables bring in start first (a cluster's database:
        // it names this instance before the stores that share a directory with others open).
        settings
            .catalog
            .start(&cx)
            .await
            .map_err(|source| StartError::Open {
                origin: String::new(),
                source,
            })?;
        let mut built = Vec::new();
        let mut histories = Vec::new();
        let authentication = settings.users.is_some();
        for config in &mounts {
            let mount = open_mount(&cx, config).await?;
            if let Some(opened) =
                history_views::open(config, &mount, &mounts, authentication).await?
            {
                info!(
                    scope = %config.scope,
                    versions = %opened.views[0].0,
                    keep_secs = opened.history.retention.keep.as_secs(),
                    max_versions = opened.history.retention.max_versions,
                    "keeping history"
                );
                built.extend(opened.views);
                histories.push((opened.scope, opened.history, opened.shelves));
            }
            info!(
                scope = %config.scope,
                namespace = mount.namespace.as_ref().map_or("inherited", |n| n.kind()),
                properties = mount.properties.as_ref().map_or("inherited", |p| p.kind()),
                locks = mount.locks.as_ref().map_or("inherited", |l| l.kind()),
                "mounted"
            );
            built.push((config.scope.clone(), mount));
        }
        let mut registry = Registry::new(built)?.with_shared_latches(cx.shared_latches());
        for (scope, history, views) in histories {
            registry = registry.with_history(scope, history, views);
        }
        let mut app = Self::assemble(registry, settings, journal);
        app.closers = cx.closers();
        app.access_log = access_log;
        app.served = served;
        Ok(app)
    }

    /// Assembles an app around a registry built elsewhere (library users, tests that inject
    /// their own subsystems). On shutdown its property and lock managers are flushed. Its
    /// journal is kept in memory: nothing such an app keeps survives a crash, unless its stores
    /// do, and then [`App::build`] is the way.
    pub fn with_registry(registry: Registry, settings: Settings) -> App {
        let access_log = AccessLog::open(&settings.access_log).unwrap_or_else(|e| {
            warn!(error = %e, "the access log is off: it cannot be opened");
            None
        });
        let mut app = Self::assemble(registry, settings, Arc::new(MemoryJournal::new()));
        app.access_log = access_log;
        app
    }

    fn assemble(registry: Registry, mut settings: Settings, journal: Arc<dyn Journal>) -> App {
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
            served: settings.root.display().to_string(),
            settings,
            auth,
            access_log: None,
            closers: Vec::new(),
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

    /// Every distinct property manager of the registry, each once.
    fn property_stores(&self) -> Vec<Arc<dyn PropertyManager>> {
        let registry = &self.executive.registry;
        let mut stores: Vec<Arc<dyn PropertyManager>> = Vec::new();
        for scope in registry.scopes() {
            let store = registry.properties(scope);
            if !stores.iter().any(|p| Arc::ptr_eq(p, store)) {
                stores.push(store.clone());
            }
        }
        stores
    }

    /// Every distinct lock manager of the registry, each once.
    fn lock_tables(&self) -> Vec<Arc<dyn LockManager>> {
        let registry = &self.executive.registry;
        let mut tables: Vec<Arc<dyn LockManager>> = Vec::new();
        for scope in registry.scopes() {
            for manager in registry.lock_managers(scope) {
                if !tables.iter().any(|l| Arc::ptr_eq(l, &manager)) {
                    tables.push(manager);
                }
            }
        }
        tables
    }

    /// How many unexpired locks each distinct lock table holds, summed by kind (for the
    /// metrics; a table that cannot be asked is left out).
    pub async fn locks_held(&self) -> Vec<(&'static str, usize)> {
        let root = davd_protocol::DavPath::root();
        let mut held: Vec<(&'static str, usize)> = Vec::new();
        for table in self.lock_tables() {
            let (Ok(at), Ok(below)) = (table.covering(&root).await, table.below(&root).await)
            else {
                continue;
            };
            let count = at.len() + below.len();
            match held.iter_mut().find(|(kind, _)| *kind == table.kind()) {
                Some((_, n)) => *n += count,
                None => held.push((table.kind(), count)),
            }
        }
        held
    }

    /// Reopens the log files (SIGHUP, after logrotate moved them).
    pub fn reopen_logs(&self) {
        if let Some(log) = &self.access_log {
            log.reopen();
        }
    }

    /// Prunes every history of what is older than its retention allows (docs/history.md).
    pub async fn sweep_history(&self) {
        let now = std::time::SystemTime::now();
        for (scope, history) in self.executive.registry.histories() {
            match davd_executive::history::sweep(history, now).await {
                Ok(0) => {}
                Ok(n) => info!(scope = %scope, removed = n, "pruned old history"),
                Err(e) => warn!(scope = %scope, error = %e, "history sweep failed"),
            }
        }
    }

    /// Removes expired locks from every lock manager.
    pub async fn sweep_locks(&self) {
        for manager in self.lock_tables() {
            match manager.sweep().await {
                Ok(0) => {}
                Ok(n) => info!(expired = n, "removed expired locks"),
                Err(e) => warn!(error = %e, "lock sweep failed"),
            }
        }
    }

    /// On shutdown: closes the change logs, flushes every property and lock manager, then
    /// finishes what the kinds registered (the state database, which also holds sled
    /// namespaces). Bounded in time: a disk that no longer answers must not keep the process
    /// from exiting.
    pub async fn close(&self) {
        if tokio::time::timeout(CLOSE_TIMEOUT, self.flush_and_close())
            .await
            .is_err()
        {
            warn!("flushing the stores did not finish in time");
        }
    }

    async fn flush_and_close(&self) {
        for store in self.property_stores() {
            // A log that is not told of a clean stop starts a new epoch when davd starts
            // again, and every sync client starts over (`davd_registry::changes`).
            if let Some(log) = store.change_log()
                && let Err(e) = log.close().await
            {
                warn!(error = %e, kind = store.kind(), "closing a change log failed");
            }
            if let Err(e) = store.flush().await {
                warn!(error = %e, kind = store.kind(), "flushing a property store failed");
            }
        }
        for store in self.lock_tables() {
            if let Err(e) = store.flush().await {
                warn!(error = %e, kind = store.kind(), "flushing a lock table failed");
            }
        }
        for closer in &self.closers {
            if let Err(e) = closer.close().await {
                warn!(error = %e, "closing {} failed", closer.what());
            }
        }
        if let Some(log) = self.access_log.clone() {
            let _ = tokio::task::spawn_blocking(move || log.close()).await;
        }
    }
}

/// `/ = /srv/dav, /db = sled`: each mount that names a namespace, with the directory it
/// serves or, for a store that serves none, its kind. One mount at `/` is just its directory.
pub(crate) fn describe_served(mounts: &[MountConfig]) -> String {
    let each: Vec<(String, String)> = mounts
        .iter()
        .filter_map(|m| {
            let namespace = m.namespace.as_ref()?;
            let what = match namespace.served_directory() {
                Some(dir) => dir.display().to_string(),
                None => format!("{} namespace", namespace.kind()),
            };
            Some((m.scope.to_string(), what))
        })
        .collect();
    match each.as_slice() {
        [(scope, what)] if scope == "/" => what.clone(),
        _ => each
            .iter()
            .map(|(scope, what)| format!("{scope} = {what}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// How often expired locks are swept.
pub const LOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How often histories are pruned of what is older than their retention.
pub const HISTORY_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// How long shutdown waits for the stores' last flush.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A state directory inside a served root would be served to clients, who could read and
/// delete davd's own database: refused, with a message naming both.
pub(crate) fn refuse_state_inside_a_root(
    settings: &Settings,
    mounts: &[MountConfig],
) -> Result<(), StartError> {
    let state = absolute(&settings.state);
    for mount in mounts {
        let served = mount.namespace.as_ref().and_then(|n| n.served_directory());
        if let Some(root) = served {
            let root = absolute(&root);
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
    use std::path::Component;
    // Lexically first (`root/../root` is `root`, even before it exists), then with the
    // symbolic links of the part that exists resolved.
    let joined = match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    };
    let mut lexical = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.clone();
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
            _ => return lexical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;
    use davd_protocol::DavPath;

    fn settings(dir: &std::path::Path, config: &str) -> Settings {
        let file = FileConfig::parse(config, "davd.toml", dir).unwrap();
        let mut settings = Settings {
            root: dir.join("root"),
            state: dir.join("state"),
            ..Settings::default()
        };
        file.apply(&mut settings);
        settings
    }

    fn path(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[tokio::test]
    async fn a_memory_only_server_opens_no_state_database() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::build(settings(
            dir.path(),
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"memory\" }\nproperties = { kind = \"memory\" }\nlocks = { kind = \"memory\" }\n",
        ))
        .await
        .unwrap();
        assert!(app.closers.is_empty());
        app.close().await;
        assert!(
            !dir.path().join("state/db").exists(),
            "no state database (the journal of requests in flight is there all the same)"
        );
    }

    /// Scopes naming `sled` properties or locks share one store each, whether they name it or
    /// inherit it, so a MOVE between them moves properties natively; memory stores are not.
    #[tokio::test]
    async fn sled_stores_are_shared_between_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::build(settings(
            dir.path(),
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             [[mount]]\nscope = \"/a\"\nnamespace = { kind = \"sled\" }\nproperties = { kind = \"sled\" }\nlocks = { kind = \"sled\" }\n\
             [[mount]]\nscope = \"/m\"\nproperties = { kind = \"memory\" }\n",
        ))
        .await
        .unwrap();
        let registry = &app.executive.registry;
        assert!(Arc::ptr_eq(
            registry.properties(&path("/x")),
            registry.properties(&path("/a/x"))
        ));
        assert!(Arc::ptr_eq(
            registry.lock_manager(&path("/x")),
            registry.lock_manager(&path("/a/x"))
        ));
        assert_eq!(registry.lock_managers(&path("/a/x")).len(), 1);
        assert!(!Arc::ptr_eq(
            registry.properties(&path("/x")),
            registry.properties(&path("/m/x"))
        ));
        assert_eq!(app.closers.len(), 1, "one state database, flushed once");
        app.close().await;
        assert!(dir.path().join("state/db").is_dir());
    }

    #[tokio::test]
    async fn a_directory_that_cannot_be_served_names_its_mount() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let e = App::build(settings(
            dir.path(),
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"file\" }\n",
        ))
        .await
        .err()
        .expect("a file is no directory");
        assert!(
            e.to_string()
                .starts_with("davd.toml line 2: cannot use the served directory"),
            "{e}"
        );
    }
}
