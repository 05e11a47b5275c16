//! The local file-system namespace manager.
//!
//! All access goes through a `cap_std::fs::Dir` opened on the root, so no path, however it is
//! spelled and whatever symlinks lie on it, can reach outside the root: a symlink pointing out
//! of the tree is refused by the operating system (openat2 `RESOLVE_BENEATH`), not by string
//! checks. Uploads are staged in a hidden directory inside the root (so the final rename stays
//! on one file system) that never appears in listings and cannot be addressed by a URL. Names
//! that other programs stored in NFD are found under their NFC spelling ([`spelling`]).
//!
//! This file is the [`NamespaceManager`] itself; where a URL path lands in the root is
//! [`resolve`], writing a PUT's body into staging [`upload`], putting it in place [`publish`].

mod chunk_pool;
mod content;
mod cycles;
#[cfg(target_os = "linux")]
mod direct;
mod history;
mod landing;
mod meta;
mod publish;
mod resolve;
mod segment;
mod special;
mod spelling;
mod staging;
mod sync;
mod times;
mod upload;
#[cfg(target_os = "linux")]
mod watch;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use futures_util::StreamExt;

use davd_registry::{
    ByteStream, DavPath, Detached, ListingVersion, Member, MemberStream, NamespaceManager, Opened,
    ResourceMeta, Staged, StatusCode, SubsystemError, SubsystemResult, WriteMode, WriteReceipt,
};

use self::content::{LargeContent, SMALL_FILE, SmallContent, read_small};
pub use self::history::HISTORY;
use self::meta::resource_meta;
use self::resolve::{
    directly_openable, is_reserved, locate_or_reserved, metadata_any_spelling, not_found_is_none,
    open_directly, relative, relative_or_reserved, respellable, stat_directly,
};
use self::special::{is_resource, read_without_waiting};
pub use self::staging::{STAGING, staged_leftovers};
use crate::blocking::blocking;
use crate::space::SpaceGuard;
use crate::stream::receiver_stream;

/// Members are listed in batches of this many.
const LIST_BATCH: usize = 512;

/// Options for [`FsNamespace`].
#[derive(Debug, Clone)]
pub struct FsOptions {
    /// `fdatasync` every uploaded file before it replaces the old one. Off by default, like
    /// Apache and nginx; turn it on where a power cut must not lose an acknowledged PUT.
    pub fsync: bool,
    /// Run a single `stat`, and the open + read of a small file, on the calling task instead
    /// of the blocking pool (ADR 0011). Right for local disks, where these calls take
    /// microseconds and the hand-off to another thread costs more; turn it off for slow or
    /// network file systems. Listings and writes always use the blocking pool; a large
    /// file's chunks are read inline only while the page cache holds them (ADR 0011).
    pub inline_io: bool,
    /// Writes are refused with 507 while less than this many bytes are free on the root's
    /// file system (`crate::space`).
    pub reserve: u64,
    /// The name of this process among several serving the same root (a cluster): it stages
    /// in `.davd-staging/<instance>`, and discards only what is there. `None` for the only
    /// process serving the root.
    pub instance: Option<String>,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            fsync: false,
            inline_io: true,
            reserve: crate::space::DEFAULT_RESERVE,
            instance: None,
        }
    }
}

/// Serves a directory tree.
pub struct FsNamespace {
    dir: Arc<Dir>,
    root: PathBuf,
    options: FsOptions,
    guard: SpaceGuard,
    staging: staging::Staging,
    /// Versions of listings, for the executive's listing cache.
    #[cfg(target_os = "linux")]
    watcher: Arc<watch::Watcher>,
}

impl FsNamespace {
    /// Opens (creating if missing) the tree at `root`. What interrupted requests left in the
    /// staging directory stays until [`NamespaceManager::discard_leftovers`]: recovery may
    /// need it.
    pub fn open(root: &Path, options: FsOptions) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let ns = FsNamespace::open_view(root, options)?;
        ns.staging.ensure(&ns.dir)?;
        Ok(ns)
    }

    /// Opens the existing tree at `root` to be read: nothing is created in it (the views of
    /// a history area, which are served read-only).
    fn open_view(root: &Path, options: FsOptions) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())?;
        let staging = staging::Staging::new(options.instance.as_deref())?;
        Ok(FsNamespace {
            #[cfg(target_os = "linux")]
            watcher: Arc::new(watch::Watcher::new(&dir)),
            dir: Arc::new(dir),
            root: root.to_path_buf(),
            guard: SpaceGuard::new(root, options.reserve),
            options,
            staging,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Runs short file-system work inline or on the blocking pool, as configured.
async fn quick<T, F>(inline: bool, f: F) -> SubsystemResult<T>
where
    F: FnOnce() -> SubsystemResult<T> + Send + 'static,
    T: Send + 'static,
{
    if inline { f() } else { blocking(f).await }
}

fn onto_collection() -> SubsystemError {
    SubsystemError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "cannot PUT onto a collection",
    )
}

fn is_dir(dir: &Dir, rel: &Path) -> bool {
    dir.symlink_metadata(rel).is_ok_and(|m| m.is_dir())
}

/// Removes a file or a whole directory.
fn remove_any(dir: &Dir, rel: &Path) -> io::Result<()> {
    match dir.symlink_metadata(rel) {
        Ok(m) if m.is_dir() => dir.remove_dir_all(rel),
        Ok(_) => dir.remove_file(rel),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The parent of `rel` must be an existing directory: otherwise 409 (RFC 4918 §9.7.1).
fn require_parent_collection(dir: &Dir, rel: &Path) -> SubsystemResult<()> {
    let parent = rel.parent().unwrap_or(Path::new("."));
    match not_found_is_none(dir.metadata(parent))? {
        Some(m) if m.is_dir() => Ok(()),
        _ => Err(SubsystemError::conflict(
            "the parent collection does not exist",
        )),
    }
}

#[async_trait]
impl NamespaceManager for FsNamespace {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        let Some(rel) = relative(path) else {
            return Ok(None);
        };
        let dir = self.dir.clone();
        let respellable = respellable(path);
        let direct = directly_openable(path);
        quick(self.options.inline_io, move || {
            if let Some(found) = direct.then(|| stat_directly(&dir, &rel)).flatten() {
                return Ok(found?);
            }
            Ok(metadata_any_spelling(&dir, &rel, respellable.as_ref())?
                .filter(is_resource)
                .map(|m| resource_meta(&m)))
        })
        .await
    }

    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        relative_or_reserved(path)?;
        let at_root = path.is_root();
        let dir = self.dir.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (rel, entries) = {
            let dir = dir.clone();
            let path = path.clone();
            blocking(move || {
                let rel = locate_or_reserved(&dir, &path)?;
                let entries = dir.read_dir(&rel)?;
                Ok((rel, entries))
            })
            .await?
        };
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(LIST_BATCH);
            for entry in entries {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.into()));
                        return;
                    }
                };
                let Ok(name) = entry.file_name().into_string() else {
                    continue; // not UTF-8: cannot be named by a URL
                };
                if at_root && is_reserved(&name) {
                    continue;
                }
                let meta = match entry.file_type() {
                    Ok(t) if t.is_symlink() => dir.metadata(rel.join(&name)),
                    _ => entry.metadata(),
                };
                let Some(name) = spelling::listed_name(&dir, &rel, name) else {
                    continue; // an NFD twin of a name listed in NFC
                };
                // A member that vanished meanwhile, or a symlink out of the root, is left out.
                let Ok(meta) = meta else { continue };
                if !is_resource(&meta) {
                    continue;
                }
                batch.push(Member {
                    name,
                    meta: resource_meta(&meta),
                });
                if batch.len() == LIST_BATCH
                    && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err()
                {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(Ok(batch));
            }
        });
        Ok(receiver_stream(rx).boxed())
    }

    #[cfg(target_os = "linux")]
    async fn listing_version(&self, path: &DavPath) -> SubsystemResult<Option<ListingVersion>> {
        relative_or_reserved(path)?;
        let (dir, watcher, path) = (self.dir.clone(), self.watcher.clone(), path.clone());
        quick(self.options.inline_io, move || {
            let rel = locate_or_reserved(&dir, &path)?;
            let collection = dir.open_dir(&rel)?;
            Ok(watcher.version(&collection, path.is_root()))
        })
        .await
    }

    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        let rel = relative(path).ok_or_else(SubsystemError::not_found)?;
        let dir = self.dir.clone();
        let respellable = respellable(path);
        let direct = directly_openable(path);
        let inline = self.options.inline_io;
        quick(inline, move || {
            let options = read_without_waiting();
            let opened = match direct.then(|| open_directly(&dir, &rel)).flatten() {
                Some(opened) => opened,
                None => dir.open_with(&rel, &options),
            };
            let file = match (opened, respellable) {
                (Err(e), Some(path)) if e.kind() == io::ErrorKind::NotFound => {
                    dir.open_with(spelling::locate(&dir, &path).ok_or(e)?, &options)?
                }
                (opened, _) => opened?,
            };
            let meta = file.metadata()?;
            if !is_resource(&meta) {
                return Err(SubsystemError::not_found());
            }
            if meta.is_dir() {
                return Err(SubsystemError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "a collection has no content to read",
                ));
            }
            let mut resource = resource_meta(&meta);
            let mut file = file.into_std();
            if resource.len <= SMALL_FILE {
                let bytes = read_small(&mut file, resource.len)?;
                resource.len = bytes.len() as u64;
                Ok(Opened {
                    meta: resource,
                    content: Box::new(SmallContent(bytes)),
                })
            } else {
                Ok(Opened {
                    meta: resource,
                    content: Box::new(LargeContent { file, inline }),
                })
            }
        })
        .await
    }

    async fn stage(&self, path: &DavPath, body: ByteStream) -> SubsystemResult<Staged> {
        self.stage_body(path, body).await
    }

    /// Publishing is two operations: a hard link keeps the old content for undo (and tells
    /// whether there was any), a rename puts the new one in place (`publish.rs`).
    async fn publish(&self, staged: Staged) -> SubsystemResult<WriteReceipt> {
        let rel = relative_or_reserved(&staged.path)?;
        let dir = self.dir.clone();
        let (fsync, inline) = (self.options.fsync, self.options.inline_io);
        let staging = self.staging.clone();
        quick(inline, move || {
            publish::publish(&dir, &staging, &rel, staged, fsync, inline)
        })
        .await
    }

    async fn discard(&self, staged: Staged) -> SubsystemResult<()> {
        let dir = self.dir.clone();
        let temp = self.staging.path_of(&staged.handle)?;
        quick(self.options.inline_io, move || {
            match dir.remove_file(&temp) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn write(
        &self,
        path: &DavPath,
        body: ByteStream,
        mode: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        let rel = relative_or_reserved(path)?;
        if path.is_root() {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "the root is a collection",
            ));
        }
        let dir = self.dir.clone();
        match mode {
            WriteMode::Replace => {
                let staged = self.stage(path, body).await?;
                self.publish(staged).await
            }
            WriteMode::Segment { offset, total } => {
                self.guard.check(0)?;
                segment::write(dir, rel, body, offset, total, self.options.fsync).await
            }
        }
    }

    async fn create_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        relative_or_reserved(path)?;
        self.guard.check(0)?;
        let dir = self.dir.clone();
        let fsync = self.options.fsync;
        let path = path.clone();
        blocking(
            move || match dir.create_dir(locate_or_reserved(&dir, &path)?) {
                Ok(()) if fsync => Ok(sync::entries(&dir, &[&locate_or_reserved(&dir, &path)?])?),
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(SubsystemError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "something already exists at this URL",
                )),
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.kind() == io::ErrorKind::NotADirectory =>
                {
                    Err(SubsystemError::conflict(
                        "the parent collection does not exist",
                    ))
                }
                Err(e) => Err(e.into()),
            },
        )
        .await
    }

    async fn set_modified(
        &self,
        path: &DavPath,
        modified: std::time::SystemTime,
    ) -> SubsystemResult<std::time::SystemTime> {
        relative_or_reserved(path)?;
        let dir = self.dir.clone();
        let path = path.clone();
        blocking(move || times::set_modified(&dir, &locate_or_reserved(&dir, &path)?, modified))
            .await
    }

    async fn detach(&self, path: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        relative_or_reserved(path)?;
        if path.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be removed"));
        }
        let dir = self.dir.clone();
        let path = path.clone();
        let handle = tag.to_owned();
        let aside = self.staging.path_of(&handle)?;
        let fsync = self.options.fsync;
        let staging = self.staging.clone();
        blocking(move || {
            let rel = locate_or_reserved(&dir, &path)?;
            staging.with_staging(&dir, &aside, || dir.rename(&rel, &dir, &aside))?;
            if fsync {
                sync::entries(&dir, &[&rel, &aside])?;
            }
            // Remember the spelling it had on disk, so that a restore puts it back as it was.
            Ok(Detached {
                path: spelling::dav_path(&rel)?,
                handle,
            })
        })
        .await
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        relative_or_reserved(&detached.path)?;
        let aside = self.staging.path_of(&detached.handle)?;
        let dir = self.dir.clone();
        let fsync = self.options.fsync;
        let staging = self.staging.clone();
        blocking(move || {
            if !staging.holds(&dir, &detached.handle)? {
                return Err(SubsystemError::not_found());
            }
            let rel = locate_or_reserved(&dir, &detached.path)?;
            remove_any(&dir, &rel)?;
            dir.rename(&aside, &dir, &rel)?;
            if fsync {
                sync::entries(&dir, &[&rel, &aside])?;
            }
            Ok(())
        })
        .await
    }

    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        let dir = self.dir.clone();
        let handle = handle.to_owned();
        let staging = self.staging.clone();
        quick(self.options.inline_io, move || staging.holds(&dir, &handle)).await
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        // Usually a file (the old content of a PUT): one unlink, inline. A whole tree (a
        // DELETE) goes to the blocking pool.
        let dir = self.dir.clone();
        let aside = self.staging.path_of(&detached.handle)?;
        let file = aside.clone();
        let unlinked = quick(self.options.inline_io, move || {
            match dir.remove_file(&file) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                Err(_) => Ok(false),
            }
        })
        .await?;
        if unlinked {
            return Ok(());
        }
        let dir = self.dir.clone();
        blocking(move || Ok(remove_any(&dir, &aside)?)).await
    }

    async fn sync(&self, path: &DavPath) -> SubsystemResult<()> {
        relative_or_reserved(path)?;
        let dir = self.dir.clone();
        let path = path.clone();
        blocking(move || Ok(sync::subtree(&dir, &locate_or_reserved(&dir, &path)?)?)).await
    }

    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        let dir = self.dir.clone();
        let staging = self.staging.clone();
        blocking(move || Ok(staging.empty(&dir)?)).await
    }

    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        relative_or_reserved(from)?;
        relative_or_reserved(to)?;
        let (from, to) = (from.clone(), to.clone());
        let dir = self.dir.clone();
        let guard = self.guard.clone();
        let fsync = self.options.fsync;
        let staging = self.staging.clone();
        blocking(move || {
            let from = locate_or_reserved(&dir, &from)?;
            let to = locate_or_reserved(&dir, &to)?;
            require_parent_collection(&dir, &to)?;
            guard.check(0)?;
            let temp = staging.path_of(&staging::fresh("copy"))?;
            // A copy that fails part way (a full disk) leaves nothing behind in staging.
            let copied = staging
                .with_staging(&dir, &temp, || dir.copy(&from, &dir, &temp))
                .and_then(|_| {
                    if fsync {
                        sync::subtree(&dir, &temp)
                    } else {
                        Ok(())
                    }
                })
                .and_then(|_| dir.rename(&temp, &dir, &to))
                .and_then(|_| {
                    if fsync {
                        sync::entries(&dir, &[&to])
                    } else {
                        Ok(())
                    }
                });
            if let Err(e) = copied {
                let _ = dir.remove_file(&temp);
                return Err(e.into());
            }
            Ok(())
        })
        .await
    }

    async fn rename(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        relative_or_reserved(from)?;
        relative_or_reserved(to)?;
        let (from, to) = (from.clone(), to.clone());
        let dir = self.dir.clone();
        let fsync = self.options.fsync;
        blocking(move || {
            let from = locate_or_reserved(&dir, &from)?;
            let to = locate_or_reserved(&dir, &to)?;
            require_parent_collection(&dir, &to)?;
            dir.rename(&from, &dir, &to)?;
            if fsync {
                sync::entries(&dir, &[&from, &to])?;
            }
            Ok(())
        })
        .await
    }

    async fn stored_spelling(&self, path: &DavPath) -> SubsystemResult<DavPath> {
        if path.as_str().is_ascii() {
            return Ok(path.clone());
        }
        let dir = self.dir.clone();
        let path = path.clone();
        quick(self.options.inline_io, move || {
            Ok(spelling::stored_path(&dir, &path)?)
        })
        .await
    }

    async fn revisits_ancestor(&self, path: &DavPath) -> SubsystemResult<bool> {
        let (dir, path) = (self.dir.clone(), path.clone());
        quick(self.options.inline_io, move || {
            match spelling::locate(&dir, &path) {
                Some(rel) => Ok(cycles::revisits_ancestor(&dir, &rel)?),
                None => Ok(false),
            }
        })
        .await
    }

    async fn quota(&self, _path: &DavPath) -> SubsystemResult<Option<(u64, u64)>> {
        let root = self.root.clone();
        blocking(move || {
            let stats = fs4::statvfs(&root)?;
            let used = stats.total_space().saturating_sub(stats.free_space());
            Ok(Some((used, stats.available_space())))
        })
        .await
    }

    async fn history_area(&self) -> SubsystemResult<Arc<dyn davd_registry::HistoryArea>> {
        let dir = self.dir.clone();
        let root = self.root.clone();
        let staging = self.staging.clone();
        let options = self.options.clone();
        let area =
            blocking(move || Ok(history::FsHistory::open(dir, &root, staging, &options)?)).await?;
        Ok(Arc::new(area))
    }
}

#[cfg(test)]
mod tests;
