//! What a kind gets when the server opens it: the server's settings, the configuration's
//! top-level tables, and a place for instances that several mounts share.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;

use davd_registry::{SharedLatches, SubsystemResult};

/// Why a store could not be opened (a directory that cannot be used, a database that does
/// not open). The server prefixes the mount's place in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    message: String,
}

impl OpenError {
    pub fn new(message: impl fmt::Display) -> Self {
        OpenError {
            message: message.to_string(),
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpenError {}

/// Something to finish when the server stops (flush a database, close a connection pool),
/// registered by a kind with [`OpenContext::on_close`].
#[async_trait]
pub trait Close: Send + Sync {
    /// What it is, for the log.
    fn what(&self) -> String;
    async fn close(&self) -> SubsystemResult<()>;
}

type Instance = Arc<dyn Any + Send + Sync>;

/// One per server start: kinds read the server's settings from it and keep in it what their
/// mounts share (one state database, one connection pool, one property store for every scope
/// that names it).
pub struct OpenContext {
    state: PathBuf,
    fsync: bool,
    fs_inline_io: bool,
    reserve: u64,
    listen: Option<SocketAddr>,
    tables: BTreeMap<String, toml::Table>,
    shared: Mutex<Vec<(String, TypeId, Instance)>>,
    closers: Mutex<Vec<Arc<dyn Close>>>,
    instance: OnceLock<String>,
    shared_latches: OnceLock<Arc<dyn SharedLatches>>,
}

impl OpenContext {
    /// A context for a server keeping its state in `state`, with fsync off, inline I/O on and
    /// the default free-space reserve (the defaults of the settings of the same names).
    pub fn new(state: impl Into<PathBuf>) -> Self {
        OpenContext {
            state: state.into(),
            fsync: false,
            fs_inline_io: true,
            reserve: crate::space::DEFAULT_RESERVE,
            listen: None,
            tables: BTreeMap::new(),
            shared: Mutex::new(Vec::new()),
            closers: Mutex::new(Vec::new()),
            instance: OnceLock::new(),
            shared_latches: OnceLock::new(),
        }
    }

    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    pub fn with_fs_inline_io(mut self, inline: bool) -> Self {
        self.fs_inline_io = inline;
        self
    }

    /// Bytes to keep free on a store's disk (`limits.min_free_mib`).
    pub fn with_reserve(mut self, bytes: u64) -> Self {
        self.reserve = bytes;
        self
    }

    /// The address the server listens on (`listen`, `--listen`).
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = Some(listen);
        self
    }

    /// Adds a top-level table of the configuration file (`[cluster]`).
    pub fn with_table(mut self, name: impl Into<String>, table: toml::Table) -> Self {
        self.tables.insert(name.into(), table);
        self
    }

    /// The state directory (`state`, `--state`): the server's own data, outside every served
    /// tree. Nothing creates it in advance; a kind that keeps something there creates it.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Flush uploads to disk before acknowledging them (`fsync`, `--fsync`).
    pub fn fsync(&self) -> bool {
        self.fsync
    }

    /// Run single stats and small reads on the request's thread (`fs_inline_io`, ADR 0011).
    pub fn fs_inline_io(&self) -> bool {
        self.fs_inline_io
    }

    /// Writes are refused with 507 while fewer bytes than this are free on a store's disk
    /// (`limits.min_free_mib`, `crate::space`), so that a full disk never breaks a store.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// The address the server listens on, if the server said (a kind that names this process
    /// among others uses its port).
    pub fn listen(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// Names this process among several serving the same storage (a cluster). Set once, by
    /// the kind that knows the cluster, before the stores open; a second, different name is
    /// refused.
    pub fn set_instance(&self, name: &str) -> Result<(), OpenError> {
        let set = self.instance.get_or_init(|| name.to_owned());
        if set != name {
            return Err(OpenError::new(format!(
                "this server is already the instance \"{set}\", not \"{name}\""
            )));
        }
        Ok(())
    }

    /// The name of this process among several serving the same storage, if it is one of
    /// several: stores that share a directory with the others keep their working files
    /// (uploads in flight, backups for undo) apart under it.
    pub fn instance(&self) -> Option<&str> {
        self.instance.get().map(String::as_str)
    }

    /// Offers the write latches shared by the processes of a cluster; the server hands them
    /// to the executive, which takes them after its own. Only one service may be offered.
    pub fn offer_shared_latches(&self, latches: Arc<dyn SharedLatches>) -> Result<(), OpenError> {
        self.shared_latches
            .set(latches)
            .map_err(|_| OpenError::new("two kinds offer shared write latches"))
    }

    /// The shared write latches a kind offered, if any.
    pub fn shared_latches(&self) -> Option<Arc<dyn SharedLatches>> {
        self.shared_latches.get().cloned()
    }

    /// A top-level table of the configuration file, already checked by the kinds that read
    /// it when the file was loaded.
    pub fn table(&self, name: &str) -> Option<&toml::Table> {
        self.tables.get(name)
    }

    /// The instance kept under `key`, opened by `open` the first time it is asked for. Every
    /// mount that asks for the same key gets the same instance: that is what makes all
    /// scopes with `sled` properties share one store, so a MOVE between them stays one
    /// atomic change.
    pub fn shared<T: Any + Send + Sync>(
        &self,
        key: &str,
        open: impl FnOnce() -> Result<T, OpenError>,
    ) -> Result<Arc<T>, OpenError> {
        if let Some(found) = self.find::<T>(key) {
            return Ok(found);
        }
        // Not held while opening: `open` may ask for other shared instances (a store asks
        // for the database it lives in).
        let opened = Arc::new(open()?);
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.push((key.to_owned(), TypeId::of::<T>(), opened.clone()));
        Ok(opened)
    }

    /// Like [`OpenContext::shared`], for an instance that opens asynchronously (a connection
    /// pool that connects, a client that checks its bucket).
    pub async fn shared_async<T, F, Fut>(&self, key: &str, open: F) -> Result<Arc<T>, OpenError>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, OpenError>>,
    {
        if let Some(found) = self.find::<T>(key) {
            return Ok(found);
        }
        let opened = Arc::new(open().await?);
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.push((key.to_owned(), TypeId::of::<T>(), opened.clone()));
        Ok(opened)
    }

    fn find<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared
            .iter()
            .find(|(k, t, _)| k == key && *t == TypeId::of::<T>())
            .and_then(|(_, _, instance)| instance.clone().downcast::<T>().ok())
    }

    /// Registers something to finish when the server stops; run in the order registered.
    pub fn on_close(&self, closer: Arc<dyn Close>) {
        self.closers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(closer);
    }

    /// What was registered with [`OpenContext::on_close`].
    pub fn closers(&self) -> Vec<Arc<dyn Close>> {
        self.closers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for OpenContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenContext")
            .field("state", &self.state)
            .field("fsync", &self.fsync)
            .field("fs_inline_io", &self.fs_inline_io)
            .field("reserve", &self.reserve)
            .field("listen", &self.listen)
            .field("instance", &self.instance.get())
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_instances_are_opened_once_per_key_and_type() {
        let cx = OpenContext::new("/nowhere");
        let opened = std::sync::atomic::AtomicUsize::new(0);
        let open = || {
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(String::from("db"))
        };
        let one = cx.shared("k", open).unwrap();
        let two = cx.shared("k", || Ok(String::from("other"))).unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another type under the same key is another instance.
        assert_eq!(*cx.shared("k", || Ok(7u32)).unwrap(), 7);
        // Opening may ask for another shared instance.
        let nested = cx
            .shared("outer", || Ok(cx.shared("inner", || Ok(1u8))?.as_ref() + 1))
            .unwrap();
        assert_eq!(*nested, 2);
        // A failure is not kept: the next call tries again.
        assert!(cx.shared::<u64>("f", || Err(OpenError::new("no"))).is_err());
        assert_eq!(*cx.shared("f", || Ok(3u64)).unwrap(), 3);
    }

    #[tokio::test]
    async fn shared_instances_may_open_asynchronously() {
        let cx = OpenContext::new("/nowhere");
        let one = cx
            .shared_async("pool", || async {
                tokio::task::yield_now().await;
                Ok(String::from("connected"))
            })
            .await
            .unwrap();
        let two = cx
            .shared_async("pool", || async { Ok(String::from("again")) })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        // Both ways of opening share one table.
        assert!(Arc::ptr_eq(
            &one,
            &cx.shared("pool", || Ok(String::new())).unwrap()
        ));
    }
}
