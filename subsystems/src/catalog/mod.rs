//! The catalog: the storage kinds and live-property handlers that a configuration file names.
//!
//! A `[[mount]]` says `namespace = { kind = "fs", root = "/srv/dav" }`. The server looks the
//! kind up here and hands it its table; the kind checks its own keys ([`KindConfig`]) and
//! returns an [`Open`] that opens the manager when the server starts, with the server's
//! [`OpenContext`]. The server knows no kind by name. Apache's mod_dav registers its
//! providers the same way: a name, and optional hooks for the repository, the property
//! database and the locks.
//!
//! Adding a kind is one file in this directory (its keys and how it opens) and one line in
//! [`BUILTIN_KINDS`]; a program that embeds davd adds its own with [`Catalog::with_kind`].

mod config;
mod context;
mod fs;
mod live;
mod memory;
mod postgres;
mod s3;
mod sled;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use toml::de::DeValue;

use davd_registry::{DavPath, LivePropertyHandler, LockManager, NamespaceManager, PropertyManager};

pub use config::{ConfigProblem, ConfigSource, KindConfig, TableConfig};
pub use context::{Close, OpenContext, OpenError};

// ANCHOR: builtin-kinds
/// The storage kinds davd knows, one line each.
pub const BUILTIN_KINDS: &[Kind] = &[fs::KIND, sled::KIND, memory::KIND, postgres::KIND, s3::KIND];
// ANCHOR_END: builtin-kinds

/// The opt-in live-property handlers a mount can name in `live = [...]`.
pub const BUILTIN_LIVE: &[LiveKind] = &[live::READ_ONLY, live::HIT_COUNTER];

/// What a mount asks of a kind: the key it is named under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Namespace,
    Properties,
    Locks,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Namespace, Role::Properties, Role::Locks];

    /// The key of a `[[mount]]` that names a kind for this role.
    pub fn key(self) -> &'static str {
        match self {
            Role::Namespace => "namespace",
            Role::Properties => "properties",
            Role::Locks => "locks",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Opens a manager `M` for the mount at `scope` when the server starts: what a kind made of
/// its table.
///
/// Opening is async, so a kind can reach its database or its bucket at startup and fail there
/// rather than on the first request. A plain function or closure
/// `Fn(&OpenContext, &DavPath) -> Result<Arc<M>, OpenError>` is an `Open` that needs no
/// waiting; implement the trait yourself to wait, or to offer [`Open::serving_directory`].
#[async_trait]
pub trait Open<M: ?Sized>: Send + Sync {
    async fn open(&self, cx: &OpenContext, scope: &DavPath) -> Result<Arc<M>, OpenError>;

    /// For a kind that serves a directory of the local file system: the directory (the
    /// server refuses a state directory inside it).
    fn served_directory(&self) -> Option<&Path> {
        None
    }

    /// For a kind that serves a directory of the local file system: the same, serving `dir`
    /// instead. `--root` replaces the directory served at `/` this way.
    fn serving_directory(&self, _dir: &Path) -> Option<Opener<M>> {
        None
    }
}

#[async_trait]
impl<M: ?Sized, F> Open<M> for F
where
    F: Fn(&OpenContext, &DavPath) -> Result<Arc<M>, OpenError> + Send + Sync,
{
    async fn open(&self, cx: &OpenContext, scope: &DavPath) -> Result<Arc<M>, OpenError> {
        self(cx, scope)
    }
}

/// A shared [`Open`].
pub type Opener<M> = Arc<dyn Open<M>>;

/// An [`Opener`] from a function or closure that opens a manager:
/// `opener(|cx, scope| Ok(MyNamespace::new()))`, the manager's contract taken from where it
/// is used.
pub fn opener<M, T, F>(open: F) -> Opener<M>
where
    M: ?Sized + FromManager<T> + 'static,
    F: Fn(&OpenContext, &DavPath) -> Result<T, OpenError> + Send + Sync + 'static,
{
    Arc::new(
        move |cx: &OpenContext, scope: &DavPath| -> Result<Arc<M>, OpenError> {
            open(cx, scope).map(M::from_manager)
        },
    )
}

/// A contract (`dyn NamespaceManager`, ...) made from one of its implementations, for
/// [`opener`].
pub trait FromManager<T> {
    fn from_manager(manager: T) -> Arc<Self>;
}

impl<T: NamespaceManager + 'static> FromManager<T> for dyn NamespaceManager {
    fn from_manager(manager: T) -> Arc<Self> {
        Arc::new(manager)
    }
}

impl<T: PropertyManager + 'static> FromManager<T> for dyn PropertyManager {
    fn from_manager(manager: T) -> Arc<Self> {
        Arc::new(manager)
    }
}

impl<T: LockManager + 'static> FromManager<T> for dyn LockManager {
    fn from_manager(manager: T) -> Arc<Self> {
        Arc::new(manager)
    }
}

/// A kind's constructor for one role: reads the kind's table, says what is wrong with it
/// (at its line), and returns what opens the manager.
pub type Configure<M> = fn(&KindConfig<'_>) -> Result<Opener<M>, ConfigProblem>;

/// Checks a top-level table a kind reads (`[cluster]`) when the file is loaded, whether or
/// not a mount names the kind, so that a mistake in it is reported at its line.
pub type CheckTable = fn(&TableConfig<'_>) -> Result<(), ConfigProblem>;

/// What a future returned by a kind's [`Start`] is.
pub type StartFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), OpenError>> + Send + 'a>>;

/// Runs when the server starts, before any store opens, for a kind whose top-level table is
/// in the file (whether or not a mount names it): a cluster kind connects to its database
/// there, names the instance ([`OpenContext::set_instance`]) and offers its shared latches.
pub type Start = for<'a> fn(&'a OpenContext) -> StartFuture<'a>;

/// One storage kind: its name and a constructor for each role it can fill.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The name written as `kind = "..."`.
    pub name: &'static str,
    pub namespace: Option<Configure<dyn NamespaceManager>>,
    pub properties: Option<Configure<dyn PropertyManager>>,
    pub locks: Option<Configure<dyn LockManager>>,
    /// Top-level tables of the configuration file this kind reads (`[cluster]`): the file may
    /// contain them only when a kind of the catalog reads them. Not one of the server's own
    /// keys (`listen`, `limits`, `mount`...), which the server reads.
    pub tables: &'static [&'static str],
    /// Checks those tables when the file is loaded.
    pub check_table: Option<CheckTable>,
    /// Runs at startup when one of those tables is in the file.
    pub start: Option<Start>,
}

impl Kind {
    /// A kind that fills no role yet; add them with [`Kind::namespace`] and the others.
    pub const fn new(name: &'static str) -> Kind {
        Kind {
            name,
            namespace: None,
            properties: None,
            locks: None,
            tables: &[],
            check_table: None,
            start: None,
        }
    }

    pub const fn namespace(mut self, configure: Configure<dyn NamespaceManager>) -> Kind {
        self.namespace = Some(configure);
        self
    }

    pub const fn properties(mut self, configure: Configure<dyn PropertyManager>) -> Kind {
        self.properties = Some(configure);
        self
    }

    pub const fn locks(mut self, configure: Configure<dyn LockManager>) -> Kind {
        self.locks = Some(configure);
        self
    }

    pub const fn reads_tables(mut self, tables: &'static [&'static str]) -> Kind {
        self.tables = tables;
        self
    }

    /// Checks each of its top-level tables present in the file, when the file is loaded.
    pub const fn checks_tables(mut self, check: CheckTable) -> Kind {
        self.check_table = Some(check);
        self
    }

    /// Runs `start` when the server starts, if one of its top-level tables is in the file.
    pub const fn starts(mut self, start: Start) -> Kind {
        self.start = Some(start);
        self
    }

    /// True if the kind can fill `role`.
    pub fn fills(&self, role: Role) -> bool {
        match role {
            Role::Namespace => self.namespace.is_some(),
            Role::Properties => self.properties.is_some(),
            Role::Locks => self.locks.is_some(),
        }
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|r| self.fills(*r))
            .map(Role::key)
            .collect();
        f.debug_struct("Kind")
            .field("name", &self.name)
            .field("roles", &roles)
            .field("tables", &self.tables)
            .finish()
    }
}

/// A kind chosen for a role of a mount, its table read: opens the manager when the server
/// starts.
pub struct Configured<M: ?Sized> {
    kind: &'static str,
    opener: Opener<M>,
}

impl<M: ?Sized> Configured<M> {
    pub fn new(kind: &'static str, opener: Opener<M>) -> Self {
        Configured { kind, opener }
    }

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub async fn open(&self, cx: &OpenContext, scope: &DavPath) -> Result<Arc<M>, OpenError> {
        self.opener.open(cx, scope).await
    }

    /// The directory it serves, if it serves one ([`Open::served_directory`]).
    pub fn served_directory(&self) -> Option<PathBuf> {
        self.opener.served_directory().map(Path::to_path_buf)
    }

    /// The same kind serving `dir`, if it serves a directory ([`Open::serving_directory`]).
    pub fn serving_directory(&self, dir: &Path) -> Option<Configured<M>> {
        self.opener
            .serving_directory(dir)
            .map(|opener| Configured::new(self.kind, opener))
    }
}

impl<M: ?Sized> Clone for Configured<M> {
    fn clone(&self) -> Self {
        Configured::new(self.kind, self.opener.clone())
    }
}

impl<M: ?Sized> fmt::Debug for Configured<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kind {:?}", self.kind)
    }
}

/// An opt-in live-property handler that a mount names in `live = [...]`.
#[derive(Clone, Copy)]
pub struct LiveKind {
    pub name: &'static str,
    pub new: fn() -> Arc<dyn LivePropertyHandler>,
}

impl fmt::Debug for LiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "live handler {:?}", self.name)
    }
}

/// What `/` gets for each role its mount leaves out, and what a server without a
/// configuration file serves.
#[derive(Clone, Copy)]
pub struct RootDefaults {
    /// Serves the directory given by `--root` (`./dav-root` by default).
    pub namespace: fn(&Path) -> Configured<dyn NamespaceManager>,
    pub properties: fn() -> Configured<dyn PropertyManager>,
    pub locks: fn() -> Configured<dyn LockManager>,
}

/// The table of named constructors: every kind and live handler a configuration may name.
#[derive(Clone)]
pub struct Catalog {
    kinds: Vec<Kind>,
    live: Vec<LiveKind>,
    defaults: RootDefaults,
}

impl Catalog {
    /// davd's own kinds and handlers; the root defaults to the file system at `--root`, with
    /// properties and locks in the state database.
    pub fn builtin() -> Catalog {
        Catalog {
            kinds: BUILTIN_KINDS.to_vec(),
            live: BUILTIN_LIVE.to_vec(),
            defaults: RootDefaults {
                namespace: fs::serving,
                properties: sled::default_properties,
                locks: sled::default_locks,
            },
        }
    }

    /// Adds a kind, replacing a kind of the same name.
    pub fn with_kind(mut self, kind: Kind) -> Catalog {
        self.kinds.retain(|k| k.name != kind.name);
        self.kinds.push(kind);
        self
    }

    /// Adds a live handler, replacing one of the same name.
    pub fn with_live(mut self, live: LiveKind) -> Catalog {
        self.live.retain(|l| l.name != live.name);
        self.live.push(live);
        self
    }

    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    pub fn kind(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub fn live(&self, name: &str) -> Option<&LiveKind> {
        self.live.iter().find(|l| l.name == name)
    }

    /// The names a `live = [...]` list may contain, for messages.
    pub fn live_names(&self) -> String {
        one_of(self.live.iter().map(|l| l.name))
    }

    pub fn defaults(&self) -> &RootDefaults {
        &self.defaults
    }

    /// True if some kind reads the top-level table `name`.
    pub fn reads_table(&self, name: &str) -> bool {
        self.kinds.iter().any(|k| k.tables.contains(&name))
    }

    /// Checks the top-level table `table` (`[cluster]`) with every kind that reads it.
    pub fn check_table(&self, name: &str, table: &TableConfig<'_>) -> Result<(), ConfigProblem> {
        for kind in &self.kinds {
            if let Some(check) = kind.check_table
                && kind.tables.contains(&name)
            {
                check(table)?;
            }
        }
        Ok(())
    }

    /// Runs, once each, the start of every kind whose top-level table is in `cx`
    /// ([`Kind::starts`]). The server calls it before it opens any store.
    pub async fn start(&self, cx: &OpenContext) -> Result<(), OpenError> {
        for kind in &self.kinds {
            if let Some(start) = kind.start
                && kind.tables.iter().any(|t| cx.table(t).is_some())
            {
                start(cx).await?;
            }
        }
        Ok(())
    }

    /// Reads a `namespace = { kind = ... }` table.
    pub fn namespace(
        &self,
        table: TableConfig<'_>,
    ) -> Result<Configured<dyn NamespaceManager>, ConfigProblem> {
        self.configure(table, Role::Namespace, |k| k.namespace)
    }

    /// Reads a `properties = { kind = ... }` table.
    pub fn properties(
        &self,
        table: TableConfig<'_>,
    ) -> Result<Configured<dyn PropertyManager>, ConfigProblem> {
        self.configure(table, Role::Properties, |k| k.properties)
    }

    /// Reads a `locks = { kind = ... }` table.
    pub fn locks(
        &self,
        table: TableConfig<'_>,
    ) -> Result<Configured<dyn LockManager>, ConfigProblem> {
        self.configure(table, Role::Locks, |k| k.locks)
    }

    fn configure<M: ?Sized>(
        &self,
        table: TableConfig<'_>,
        role: Role,
        constructor: impl Fn(&Kind) -> Option<Configure<M>>,
    ) -> Result<Configured<M>, ConfigProblem> {
        let expected = one_of(self.kinds.iter().filter(|k| k.fills(role)).map(|k| k.name));
        let DeValue::Table(entries) = table.value().get_ref() else {
            return Err(ConfigProblem::new(
                Some(table.span()),
                format!("{role} must be a table such as {{ kind = \"...\" }} ({expected})"),
            ));
        };
        let Some(written) = entries.get("kind") else {
            return Err(ConfigProblem::new(
                Some(table.span()),
                format!("{role} needs kind = \"...\" ({expected})"),
            ));
        };
        let Some(name) = written.get_ref().as_str() else {
            return Err(ConfigProblem::new(
                Some(written.span()),
                format!("{role}: kind must be a string ({expected})"),
            ));
        };
        let Some(kind) = self.kind(name) else {
            return Err(ConfigProblem::new(
                Some(written.span()),
                format!("unknown {role} kind \"{name}\" (expected {expected})"),
            ));
        };
        let Some(configure) = constructor(kind) else {
            return Err(ConfigProblem::new(
                Some(written.span()),
                format!("kind \"{name}\" cannot serve as {role} (expected {expected})"),
            ));
        };
        let opener = configure(&KindConfig::new(name, role, table))?;
        Ok(Configured::new(kind.name, opener))
    }
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("kinds", &self.kinds)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

/// `a, b or c`.
fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        None => "none".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests;
