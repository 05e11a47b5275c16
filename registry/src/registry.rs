//! The URL-scoped subsystem registry: (subsystem kind, URL) -> implementation, longest scope
//! wins, each kind registered per scope on its own.

use std::sync::Arc;

use davd_protocol::DavPath;

use crate::live::{LivePropertyHandler, Subsystems};
use crate::lock::LockManager;
use crate::namespace::NamespaceManager;
use crate::property::PropertyManager;

/// What one scope registers. Any kind left `None` is inherited from the nearest enclosing
/// scope that has it.
#[derive(Clone, Default)]
pub struct Mount {
    pub namespace: Option<Arc<dyn NamespaceManager>>,
    pub properties: Option<Arc<dyn PropertyManager>>,
    pub locks: Option<Arc<dyn LockManager>>,
    /// Added to the handlers of enclosing scopes (a nearer handler wins for the same name).
    pub live: Vec<Arc<dyn LivePropertyHandler>>,
}

/// Why a registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("scope {0} is registered twice")]
    DuplicateScope(String),
    #[error("the root scope / must register a namespace, property and lock manager")]
    IncompleteRoot,
}

/// The registry: immutable once built, shared by every request.
#[derive(Clone)]
pub struct Registry {
    /// Sorted deepest scope first, so the first match is the longest.
    scopes: Vec<(DavPath, Mount)>,
}

impl Registry {
    /// Builds a registry. The root scope must provide all three managers so every path
    /// resolves.
    pub fn new(mounts: Vec<(DavPath, Mount)>) -> Result<Registry, RegistryError> {
        let mut scopes = mounts;
        scopes.sort_by(|a, b| b.0.depth().cmp(&a.0.depth()).then(a.0.cmp(&b.0)));
        for pair in scopes.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(RegistryError::DuplicateScope(pair[0].0.to_string()));
            }
        }
        let root_complete = scopes.iter().any(|(scope, m)| {
            scope.is_root() && m.namespace.is_some() && m.properties.is_some() && m.locks.is_some()
        });
        if !root_complete {
            return Err(RegistryError::IncompleteRoot);
        }
        Ok(Registry { scopes })
    }

    /// Scopes containing `path`, nearest (longest) first.
    fn chain<'s, 'p>(
        &'s self,
        path: &'p DavPath,
    ) -> impl Iterator<Item = &'s (DavPath, Mount)> + use<'s, 'p> {
        self.scopes
            .iter()
            .filter(move |(scope, _)| path.is_within(scope))
    }

    /// The namespace manager for `path` and the scope it is mounted at.
    pub fn namespace(&self, path: &DavPath) -> (&DavPath, &Arc<dyn NamespaceManager>) {
        self.chain(path)
            .find_map(|(scope, m)| m.namespace.as_ref().map(|ns| (scope, ns)))
            .expect("the root scope registers a namespace manager (checked in Registry::new)")
    }

    /// The property manager for `path`.
    pub fn properties(&self, path: &DavPath) -> &Arc<dyn PropertyManager> {
        self.chain(path)
            .find_map(|(_, m)| m.properties.as_ref())
            .expect("the root scope registers a property manager (checked in Registry::new)")
    }

    /// The lock manager that stores new locks on `path` (the nearest one).
    pub fn lock_manager(&self, path: &DavPath) -> &Arc<dyn LockManager> {
        self.chain(path)
            .find_map(|(_, m)| m.locks.as_ref())
            .expect("the root scope registers a lock manager (checked in Registry::new)")
    }

    /// Every distinct lock manager whose scope contains `path`, nearest first. A deep lock taken
    /// on `/` lives in the root's manager and still covers `/db/x` when `/db` has its own.
    pub fn lock_managers(&self, path: &DavPath) -> Vec<Arc<dyn LockManager>> {
        let mut out: Vec<Arc<dyn LockManager>> = Vec::new();
        for (_, m) in self.chain(path) {
            if let Some(locks) = &m.locks
                && !out.iter().any(|l| Arc::ptr_eq(l, locks))
            {
                out.push(locks.clone());
            }
        }
        out
    }

    /// Every distinct lock manager of a scope inside `path` (for depth-infinity checks that
    /// must see locks in mounted sub-scopes).
    pub fn lock_managers_below(&self, path: &DavPath) -> Vec<Arc<dyn LockManager>> {
        let mut out = self.lock_managers(path);
        for (scope, m) in &self.scopes {
            if let Some(locks) = &m.locks
                && scope.is_strictly_within(path)
                && !out.iter().any(|l| Arc::ptr_eq(l, locks))
            {
                out.push(locks.clone());
            }
        }
        out
    }

    /// Live-property handlers in force for `path`, nearest scope first.
    pub fn live_handlers(&self, path: &DavPath) -> Vec<Arc<dyn LivePropertyHandler>> {
        self.chain(path)
            .flat_map(|(_, m)| m.live.iter().cloned())
            .collect()
    }

    /// Everything that serves `path`, resolved once.
    pub fn resolve(&self, path: &DavPath) -> Subsystems {
        let (scope, namespace) = self.namespace(path);
        Subsystems {
            namespace: namespace.clone(),
            scope: scope.clone(),
            properties: self.properties(path).clone(),
            locks: self.lock_managers(path),
            live: self.live_handlers(path),
        }
    }

    /// Scopes with their own namespace directly inside the collection `path` (they appear as
    /// members of it), by member name.
    pub fn child_mounts(&self, path: &DavPath) -> Vec<(String, DavPath)> {
        self.scopes
            .iter()
            .filter(|(scope, m)| m.namespace.is_some() && scope.parent().as_ref() == Some(path))
            .filter_map(|(scope, _)| scope.name().map(|n| (n.to_owned(), scope.clone())))
            .collect()
    }

    /// Scopes with their own namespace strictly inside `path` (so a DELETE or MOVE of `path`
    /// would take a mount point with it).
    pub fn mounts_below(&self, path: &DavPath) -> Vec<DavPath> {
        self.scopes
            .iter()
            .filter(|(scope, m)| m.namespace.is_some() && scope.is_strictly_within(path))
            .map(|(scope, _)| scope.clone())
            .collect()
    }

    /// True if `path` is a scope with its own namespace other than `/`.
    pub fn is_mount_point(&self, path: &DavPath) -> bool {
        !path.is_root()
            && self
                .scopes
                .iter()
                .any(|(scope, m)| scope == path && m.namespace.is_some())
    }

    /// All registered scopes, nearest-first order, for diagnostics.
    pub fn scopes(&self) -> impl Iterator<Item = &DavPath> {
        self.scopes.iter().map(|(s, _)| s)
    }
}
