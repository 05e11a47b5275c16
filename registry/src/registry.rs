//! The URL-scoped subsystem registry: (subsystem kind, URL) -> implementation, longest scope
//! wins, each kind registered per scope on its own.

use std::sync::Arc;

use davd_protocol::DavPath;

use crate::access::AccessRule;
use crate::history::{History, HistoryMount};
use crate::latch::SharedLatches;
use crate::live::{LivePropertyHandler, Subsystems};
use crate::live_handlers::LiveHandlers;
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
    /// Who may read and write here; `None` inherits the enclosing scope's rule.
    pub access: Option<AccessRule>,
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
    /// Per scope (same order): the live handlers in force there, with their name index.
    /// Built once here rather than on every request.
    live: Vec<LiveHandlers>,
    /// Latches shared with the other processes serving the same storage, if there are any.
    shared_latches: Option<Arc<dyn SharedLatches>>,
    /// Scopes whose namespace keeps history, with it.
    histories: Vec<(DavPath, History)>,
    /// Where each of those histories is browsed.
    history_mounts: Vec<HistoryMount>,
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
        let mut registry = Registry {
            scopes,
            live: Vec::new(),
            shared_latches: None,
            histories: Vec::new(),
            history_mounts: Vec::new(),
        };
        registry.live = registry
            .scopes
            .iter()
            .map(|(scope, _)| LiveHandlers::new(registry.live_handlers(scope)))
            .collect();
        Ok(registry)
    }

    /// The registry with write latches shared by several processes (a cluster): the executive
    /// takes them after its own, for every request that changes state.
    pub fn with_shared_latches(mut self, latches: Option<Arc<dyn SharedLatches>>) -> Registry {
        self.shared_latches = latches;
        self
    }

    /// The latches shared with other processes, if this server is one of several.
    pub fn shared_latches(&self) -> Option<&Arc<dyn SharedLatches>> {
        self.shared_latches.as_ref()
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

    /// The access rule in force at `path` (the nearest scope that has one), if any.
    pub fn access(&self, path: &DavPath) -> Option<&AccessRule> {
        self.chain(path).find_map(|(_, m)| m.access.as_ref())
    }

    /// True if any scope registers an access rule.
    pub fn has_access_rules(&self) -> bool {
        self.scopes.iter().any(|(_, m)| m.access.is_some())
    }

    /// Scopes with an access rule strictly inside `path`, in path order: the rules a tree
    /// operation on `path` must also satisfy.
    pub fn rules_below(&self, path: &DavPath) -> Vec<(&DavPath, &AccessRule)> {
        let mut rules: Vec<_> = self
            .scopes
            .iter()
            .filter(|(scope, _)| scope.is_strictly_within(path))
            .filter_map(|(scope, m)| Some((scope, m.access.as_ref()?)))
            .collect();
        rules.sort_by(|a, b| a.0.cmp(b.0));
        rules
    }

    /// Scopes with an access rule directly inside the collection `path`, by member name (so a
    /// listing can leave out the ones the user may not read).
    pub fn child_rules(&self, path: &DavPath) -> Vec<(String, &AccessRule)> {
        self.scopes
            .iter()
            .filter(|(scope, _)| scope.parent().as_ref() == Some(path))
            .filter_map(|(scope, m)| Some((scope.name()?.to_owned(), m.access.as_ref()?)))
            .collect()
    }

    /// True if any live-property handler in force at `path` satisfies `test` (no allocation,
    /// for questions asked on every request).
    pub fn any_live_handler(
        &self,
        path: &DavPath,
        test: impl Fn(&dyn LivePropertyHandler) -> bool,
    ) -> bool {
        self.chain(path)
            .any(|(_, m)| m.live.iter().any(|h| test(h.as_ref())))
    }

    /// Everything that serves `path`, resolved once.
    pub fn resolve(&self, path: &DavPath) -> Subsystems {
        let (scope, namespace) = self.namespace(path);
        // The nearest scope's chain is the path's chain.
        let nearest = self
            .scopes
            .iter()
            .position(|(scope, _)| path.is_within(scope));
        Subsystems {
            namespace: namespace.clone(),
            scope: scope.clone(),
            properties: self.properties(path).clone(),
            locks: self.lock_managers(path),
            live: nearest.map(|i| self.live[i].clone()).unwrap_or_default(),
            history: self
                .histories
                .iter()
                .find(|(kept, _)| kept == scope)
                .map(|(_, history)| history.clone()),
        }
    }

    /// The histories kept, by the scope of the namespace that keeps each.
    pub fn histories(&self) -> impl Iterator<Item = &(DavPath, History)> {
        self.histories.iter()
    }

    /// The registry with `history` kept for the namespace mounted at `scope` (whose store
    /// gave the area), browsed at `views`. The views are mounted like any other scope, by the
    /// caller; they are named here so that pages can offer to restore from them.
    pub fn with_history(
        mut self,
        scope: DavPath,
        history: History,
        views: Vec<(DavPath, crate::Shelf)>,
    ) -> Registry {
        self.histories.retain(|(kept, _)| kept != &scope);
        self.history_mounts.retain(|m| m.live != scope);
        self.history_mounts
            .extend(views.into_iter().map(|(view, shelf)| HistoryMount {
                view,
                shelf,
                live: scope.clone(),
            }));
        self.histories.push((scope, history));
        self
    }

    /// The history view `path` is in, if any (the deepest: the trash's below the versions').
    pub fn history_mount(&self, path: &DavPath) -> Option<&HistoryMount> {
        self.history_mounts
            .iter()
            .filter(|m| path.is_within(&m.view))
            .max_by_key(|m| m.view.depth())
    }

    /// Where the history of the live scope `scope` is browsed on `shelf`, if it keeps one.
    pub fn history_view_of(&self, scope: &DavPath, shelf: crate::Shelf) -> Option<&DavPath> {
        self.history_mounts
            .iter()
            .find(|m| &m.live == scope && m.shelf == shelf)
            .map(|m| &m.view)
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

    /// True if any mount is registered at exactly `path` (so it may resolve differently from
    /// its parent).
    pub fn is_scope(&self, path: &DavPath) -> bool {
        self.scopes.iter().any(|(scope, _)| scope == path)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use async_trait::async_trait;

    use crate::error::{SubsystemError, SubsystemResult};
    use crate::lock::LockRecord;
    use crate::namespace::{Detached, MemberStream, Opened, WriteMode, WriteReceipt};
    use crate::property::{PropsByPath, StoredProp};
    use crate::resource::ResourceMeta;
    use davd_protocol::{ByteStream, PropName};

    /// Stand-ins whose only job is to be told apart by pointer.
    struct Ns;
    struct Props;
    struct Locks;

    fn nope<T>() -> SubsystemResult<T> {
        Err(SubsystemError::internal("stub"))
    }

    #[async_trait]
    impl NamespaceManager for Ns {
        fn kind(&self) -> &'static str {
            "stub"
        }
        async fn stat(&self, _: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
            nope()
        }
        async fn list(&self, _: &DavPath) -> SubsystemResult<MemberStream> {
            nope()
        }
        async fn open(&self, _: &DavPath) -> SubsystemResult<Opened> {
            nope()
        }
        async fn write(
            &self,
            _: &DavPath,
            _: ByteStream,
            _: WriteMode,
        ) -> SubsystemResult<WriteReceipt> {
            nope()
        }
        async fn create_collection(&self, _: &DavPath) -> SubsystemResult<()> {
            nope()
        }
        async fn detach(&self, _: &DavPath, _: &str) -> SubsystemResult<Detached> {
            nope()
        }
        async fn restore(&self, _: Detached) -> SubsystemResult<()> {
            nope()
        }
        async fn purge(&self, _: Detached) -> SubsystemResult<()> {
            nope()
        }
        async fn copy_file(&self, _: &DavPath, _: &DavPath) -> SubsystemResult<()> {
            nope()
        }
        async fn rename(&self, _: &DavPath, _: &DavPath) -> SubsystemResult<()> {
            nope()
        }
    }

    #[async_trait]
    impl PropertyManager for Props {
        fn kind(&self) -> &'static str {
            "stub"
        }
        async fn get(&self, _: &DavPath, _: &PropName) -> SubsystemResult<Option<StoredProp>> {
            nope()
        }
        async fn get_all(&self, _: &DavPath) -> SubsystemResult<Vec<StoredProp>> {
            nope()
        }
        async fn get_children(
            &self,
            _: &DavPath,
            _: usize,
        ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
            nope()
        }
        async fn get_members(
            &self,
            _: &DavPath,
            _: &[&str],
        ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>> {
            nope()
        }
        async fn set(&self, _: &DavPath, _: StoredProp) -> SubsystemResult<Option<StoredProp>> {
            nope()
        }
        async fn remove(&self, _: &DavPath, _: &PropName) -> SubsystemResult<Option<StoredProp>> {
            nope()
        }
        async fn get_tree(&self, _: &DavPath) -> SubsystemResult<PropsByPath> {
            nope()
        }
        async fn remove_tree(&self, _: &DavPath) -> SubsystemResult<PropsByPath> {
            nope()
        }
        async fn put_many(&self, _: PropsByPath) -> SubsystemResult<()> {
            nope()
        }
        async fn move_tree(&self, _: &DavPath, _: &DavPath) -> SubsystemResult<()> {
            nope()
        }
    }

    #[async_trait]
    impl LockManager for Locks {
        fn kind(&self) -> &'static str {
            "stub"
        }
        async fn insert(&self, _: LockRecord) -> SubsystemResult<()> {
            nope()
        }
        async fn update(&self, _: LockRecord) -> SubsystemResult<()> {
            nope()
        }
        async fn remove(&self, _: &str) -> SubsystemResult<Option<LockRecord>> {
            nope()
        }
        async fn get(&self, _: &str) -> SubsystemResult<Option<LockRecord>> {
            nope()
        }
        async fn covering(&self, _: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
            nope()
        }
        async fn below(&self, _: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
            nope()
        }
        async fn held_by(&self, _: Option<&str>) -> SubsystemResult<usize> {
            nope()
        }
        async fn sweep(&self) -> SubsystemResult<usize> {
            nope()
        }
    }

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    fn full_mount() -> Mount {
        Mount {
            namespace: Some(Arc::new(Ns)),
            properties: Some(Arc::new(Props)),
            locks: Some(Arc::new(Locks)),
            live: vec![],
            access: None,
        }
    }

    #[test]
    fn longest_scope_on_segment_boundaries_wins() {
        let root = full_mount();
        let docs_ns: Arc<dyn NamespaceManager> = Arc::new(Ns);
        let docs = Mount {
            namespace: Some(docs_ns.clone()),
            ..Mount::default()
        };
        let registry =
            Registry::new(vec![(DavPath::root(), root.clone()), (p("/docs"), docs)]).unwrap();
        let root_ns = root.namespace.clone().unwrap();

        let (scope, ns) = registry.namespace(&p("/docs/a/b"));
        assert_eq!(scope, &p("/docs"));
        assert!(Arc::ptr_eq(ns, &docs_ns));
        assert!(Arc::ptr_eq(registry.namespace(&p("/docs")).1, &docs_ns));
        assert!(
            Arc::ptr_eq(registry.namespace(&p("/docsx")).1, &root_ns),
            "not a segment boundary"
        );
        assert!(Arc::ptr_eq(registry.namespace(&p("/other")).1, &root_ns));
        assert!(Arc::ptr_eq(
            registry.namespace(&DavPath::root()).1,
            &root_ns
        ));
    }

    #[test]
    fn each_kind_is_inherited_on_its_own() {
        let root = full_mount();
        let docs_props: Arc<dyn PropertyManager> = Arc::new(Props);
        let registry = Registry::new(vec![
            (DavPath::root(), root.clone()),
            (
                p("/docs"),
                Mount {
                    namespace: Some(Arc::new(Ns)),
                    ..Mount::default()
                },
            ),
            (
                p("/docs/meta"),
                Mount {
                    properties: Some(docs_props.clone()),
                    ..Mount::default()
                },
            ),
        ])
        .unwrap();
        // /docs has its own namespace but shares the root's properties and locks.
        assert!(Arc::ptr_eq(
            registry.properties(&p("/docs/x")),
            root.properties.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            registry.lock_manager(&p("/docs/x")),
            root.locks.as_ref().unwrap()
        ));
        // /docs/meta changes only the property manager; the namespace is still /docs's.
        assert!(Arc::ptr_eq(
            registry.properties(&p("/docs/meta/y")),
            &docs_props
        ));
        assert_eq!(registry.namespace(&p("/docs/meta/y")).0, &p("/docs"));
    }

    #[test]
    fn lock_managers_of_every_enclosing_scope() {
        let root = full_mount();
        let db_locks: Arc<dyn LockManager> = Arc::new(Locks);
        let registry = Registry::new(vec![
            (DavPath::root(), root.clone()),
            (
                p("/db"),
                Mount {
                    namespace: Some(Arc::new(Ns)),
                    locks: Some(db_locks.clone()),
                    ..Mount::default()
                },
            ),
        ])
        .unwrap();
        let chain = registry.lock_managers(&p("/db/x"));
        assert_eq!(chain.len(), 2);
        assert!(Arc::ptr_eq(&chain[0], &db_locks), "nearest first");
        assert_eq!(registry.lock_managers(&p("/other")).len(), 1);
        assert_eq!(registry.lock_managers_below(&DavPath::root()).len(), 2);
    }

    #[test]
    fn mounts_and_children() {
        let registry = Registry::new(vec![
            (DavPath::root(), full_mount()),
            (
                p("/db"),
                Mount {
                    namespace: Some(Arc::new(Ns)),
                    ..Mount::default()
                },
            ),
            (
                p("/a/b"),
                Mount {
                    namespace: Some(Arc::new(Ns)),
                    ..Mount::default()
                },
            ),
            (
                p("/props-only"),
                Mount {
                    properties: Some(Arc::new(Props)),
                    ..Mount::default()
                },
            ),
        ])
        .unwrap();
        let names: Vec<String> = registry
            .child_mounts(&DavPath::root())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            vec!["db".to_owned()],
            "only namespaces appear as members"
        );
        assert_eq!(registry.child_mounts(&p("/a")).len(), 1);
        assert!(registry.is_mount_point(&p("/db")));
        assert!(!registry.is_mount_point(&p("/props-only")));
        assert_eq!(registry.mounts_below(&p("/a")), vec![p("/a/b")]);
    }

    /// The rules a tree operation must also satisfy: those of scopes strictly inside the tree,
    /// at any depth, in path order; not the tree's own, not a sibling's that shares a prefix.
    #[test]
    fn rules_below_a_tree() {
        let rule = |user: &str| Mount {
            access: Some(AccessRule {
                read: vec![],
                write: vec![crate::access::Grantee::parse(user)],
            }),
            ..Mount::default()
        };
        let registry = Registry::new(vec![
            (DavPath::root(), full_mount()),
            (p("/team"), rule("a")),
            (p("/team/z/deep"), rule("b")),
            (p("/team/private"), rule("c")),
            (p("/teamwork"), rule("d")),
            (p("/team/plain"), Mount::default()),
        ])
        .unwrap();
        let below: Vec<&str> = registry
            .rules_below(&p("/team"))
            .into_iter()
            .map(|(scope, _)| scope.as_str())
            .collect();
        assert_eq!(below, ["/team/private", "/team/z/deep"]);
        assert_eq!(registry.rules_below(&DavPath::root()).len(), 4);
        assert!(registry.rules_below(&p("/team/private")).is_empty());
    }

    #[test]
    fn construction_errors() {
        assert_eq!(
            Registry::new(vec![(p("/x"), full_mount())]).err(),
            Some(RegistryError::IncompleteRoot)
        );
        assert_eq!(
            Registry::new(vec![
                (DavPath::root(), full_mount()),
                (DavPath::root(), full_mount())
            ])
            .err(),
            Some(RegistryError::DuplicateScope("/".into()))
        );
    }
}
