//! Builds the registry from the settings: which subsystem serves which scope.
//!
//! Every storage kind comes from the catalog (`davd_subsystems::catalog`): the configuration
//! named it, the kind read its table, and here it opens with the server's [`OpenContext`].
//! Nothing in this file knows a kind by name.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use davd_executive::Executive;
use davd_registry::{
    LivePropertyHandler, LockManager, Mount, PropertyManager, Registry, RegistryError,
};
use davd_subsystems::catalog::{Close, OpenContext, OpenError};
use davd_subsystems::live::{LockDiscoveryOptions, standard_handlers_with};

use crate::auth::{Authenticator, Users};
use crate::config::MountConfig;
use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A store did not open: `origin` is where its mount was written (`davd.toml line 12: `),
    /// empty for the embedded default.
    #[error("{origin}{source}")]
    Open { origin: String, source: OpenError },
    #[error("{0}")]
    Registry(#[from] RegistryError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// The assembled server: the executive and what must be closed on shutdown.
pub struct App {
    pub executive: Arc<Executive>,
    pub settings: Settings,
    /// `Some` when authentication is on.
    pub auth: Option<Authenticator>,
    /// What the kinds asked to finish when the server stops (flush the state database...).
    closers: Vec<Arc<dyn Close>>,
}

/// Opens the managers one mount names, with the kinds it chose.
async fn open_mount(
    cx: &OpenContext,
    config: &MountConfig,
    settings: &Settings,
) -> Result<Mount, StartError> {
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
        standard_handlers_with(LockDiscoveryOptions {
            omit_lockroot_for: settings.executive.omit_lockroot_for.clone(),
        })
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
fn effective_mounts(settings: &Settings) -> Result<Vec<MountConfig>, StartError> {
    let mut mounts = settings.mounts.clone();
    if mounts.is_empty() {
        mounts.push(MountConfig::new(davd_protocol::DavPath::root()));
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
        // What the server keeps in its state directory for itself, rather than for one store,
        // opens here, before any store does. Each kind creates the directory if it needs it.
        let mut cx = OpenContext::new(&settings.state)
            .with_fsync(settings.fsync)
            .with_fs_inline_io(settings.fs_inline_io);
        for (name, table) in &settings.tables {
            cx = cx.with_table(name.clone(), table.clone());
        }
        let mut mounts = Vec::new();
        for config in effective_mounts(&settings)? {
            let mount = open_mount(&cx, &config, &settings).await?;
            info!(
                scope = %config.scope,
                namespace = mount.namespace.as_ref().map_or("inherited", |n| n.kind()),
                properties = mount.properties.as_ref().map_or("inherited", |p| p.kind()),
                locks = mount.locks.as_ref().map_or("inherited", |l| l.kind()),
                "mounted"
            );
            mounts.push((config.scope, mount));
        }
        let registry = Registry::new(mounts)?;
        let mut app = Self::with_registry(registry, settings);
        app.closers = cx.closers();
        Ok(app)
    }

    /// Assembles an app around a registry built elsewhere (library users, tests that inject
    /// their own subsystems). On shutdown its property and lock managers are flushed.
    pub fn with_registry(registry: Registry, mut settings: Settings) -> App {
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
        let executive = Executive::new(Arc::new(registry), settings.executive.clone());
        App {
            executive,
            settings,
            auth,
            closers: Vec::new(),
        }
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

    /// On shutdown: flushes every property and lock manager, then finishes what the kinds
    /// registered (the state database, which also holds sled namespaces).
    pub async fn close(&self) {
        for store in self.property_stores() {
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
    }
}

/// How often expired locks are swept.
pub const LOCK_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

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
        assert!(!dir.path().join("state").exists());
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
