//! The local file-system namespace manager.
//!
//! All access goes through a `cap_std::fs::Dir` opened on the root, so no path, however it is
//! spelled and whatever symlinks lie on it, can reach outside the root: a symlink pointing out
//! of the tree is refused by the operating system (openat2 `RESOLVE_BENEATH`), not by string
//! checks. Uploads are staged in a hidden directory inside the root (so the final rename stays
//! on one file system) that never appears in listings and cannot be addressed by a URL. Names
//! that other programs stored in NFD are found under their NFC spelling ([`spelling`]).

mod chunk_pool;
mod content;
mod cycles;
#[cfg(target_os = "linux")]
mod direct;
mod history;
mod landing;
mod meta;
mod publish;
mod segment;
mod special;
mod spelling;
mod staging;
mod sync;
mod times;
#[cfg(target_os = "linux")]
mod watch;

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use davd_registry::{
    ByteStream, DavPath, Detached, ListingVersion, Member, MemberStream, NamespaceManager, Opened,
    ResourceMeta, Staged, StatusCode, SubsystemError, SubsystemResult, WriteMode, WriteReceipt,
};

use self::content::{LargeContent, SMALL_FILE, SmallContent, read_small};
pub use self::history::HISTORY;
use self::meta::resource_meta;
use self::special::{is_resource, read_without_waiting};
pub use self::staging::{STAGING, staged_leftovers};
use crate::blocking::blocking;
use crate::space::{RECHECK_EVERY, SpaceGuard};
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

/// The directories below the root that the server keeps for itself: never listed, never
/// named by a URL.
pub(crate) fn is_reserved(name: &str) -> bool {
    name == STAGING || name == HISTORY
}

/// The path inside the root, or `None` for a path this tree cannot hold: the reserved staging
/// and history directories, or a name with a backslash where the host reads one as a
/// separator.
fn relative(path: &DavPath) -> Option<PathBuf> {
    let mut segments = path.segments().peekable();
    if segments.peek().is_some_and(|first| is_reserved(first)) || backslash_is_separator(path) {
        return None;
    }
    if cfg!(unix) && !path.is_root() {
        // The path's own text after `.`: what pushing each segment onto `.` gives on Unix
        // (segments hold no `/`), in one allocation instead of one push per segment, which
        // was a sixth of opening a file for a GET.
        let mut rel = String::with_capacity(1 + path.as_str().len());
        rel.push('.');
        rel.push_str(path.as_str());
        return Some(PathBuf::from(rel));
    }
    let mut rel = PathBuf::from(".");
    for segment in segments {
        rel.push(segment);
    }
    Some(rel)
}

/// [`spelling::locate`], or why the path cannot be held here ([`unaddressable`]). Blocking.
fn locate_or_reserved(dir: &Dir, path: &DavPath) -> SubsystemResult<PathBuf> {
    spelling::locate(dir, path).ok_or_else(|| unaddressable(path))
}

/// `path` when it could be stored under another spelling (it is not ASCII), for a fallback
/// lookup; `None`, and no copy, for the usual ASCII path.
fn respellable(path: &DavPath) -> Option<DavPath> {
    (!path.as_str().is_ascii()).then(|| path.clone())
}

/// Metadata of `rel`, the path as given; if it is missing, of the on-disk spelling of
/// `respellable` ([`spelling::locate`]). Blocking.
/// Whether `path` may be opened or stated straight from the root's descriptor ([`direct`]).
#[cfg(target_os = "linux")]
fn directly_openable(path: &DavPath) -> bool {
    direct::names_a_root_entry(path)
}

#[cfg(not(target_os = "linux"))]
fn directly_openable(_: &DavPath) -> bool {
    false
}

/// `rel` opened for reading straight from the root's descriptor; `None`: through cap-std.
#[cfg(target_os = "linux")]
fn open_directly(dir: &Dir, rel: &Path) -> Option<io::Result<cap_std::fs::File>> {
    direct::open_for_reading(dir, rel)
}

#[cfg(not(target_os = "linux"))]
fn open_directly(_: &Dir, _: &Path) -> Option<io::Result<cap_std::fs::File>> {
    None
}

/// `rel`'s metadata read straight from the root's descriptor (`Ok(None)`: not a file or a
/// directory); `None`: through cap-std.
#[cfg(target_os = "linux")]
fn stat_directly(dir: &Dir, rel: &Path) -> Option<io::Result<Option<ResourceMeta>>> {
    Some(direct::stat(dir, rel)?.map(|found| match found {
        direct::Found::Resource(meta) => Some(meta),
        direct::Found::Other => None,
    }))
}

#[cfg(not(target_os = "linux"))]
fn stat_directly(_: &Dir, _: &Path) -> Option<io::Result<Option<ResourceMeta>>> {
    None
}

fn metadata_any_spelling(
    dir: &Dir,
    rel: &Path,
    respellable: Option<&DavPath>,
) -> io::Result<Option<cap_std::fs::Metadata>> {
    match (not_found_is_none(dir.metadata(rel))?, respellable) {
        (None, Some(path)) => match spelling::locate(dir, path) {
            Some(found) if found != rel => not_found_is_none(dir.metadata(found)),
            _ => Ok(None),
        },
        (found, _) => Ok(found),
    }
}

/// True where the host's paths read `\\` as a separator (Windows): there `a\\b` would name
/// `b` inside `a`, one resource under two URLs that the access rules and locks see as two, so
/// such names are refused ([`unaddressable`]). On Unix hosts a backslash is an ordinary
/// character of a file name and is stored as it is (docs/clients.md, "Backslashes in names").
fn backslash_is_separator(path: &DavPath) -> bool {
    HOST_SPLITS_ON_BACKSLASH && path.as_str().contains('\\')
}

const HOST_SPLITS_ON_BACKSLASH: bool = !cfg!(unix);

/// Why [`relative`] refused `path`.
fn unaddressable(path: &DavPath) -> SubsystemError {
    if backslash_is_separator(path) {
        SubsystemError::new(
            StatusCode::BAD_REQUEST,
            "this server's file system reads a backslash as a separator; \
             a name containing one cannot be stored here",
        )
    } else {
        SubsystemError::forbidden(format!(
            "'{STAGING}' and '{HISTORY}' are reserved by the server"
        ))
    }
}

fn relative_or_reserved(path: &DavPath) -> SubsystemResult<PathBuf> {
    relative(path).ok_or_else(|| unaddressable(path))
}

fn not_found_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Starts the staged file's writeback before the latch (the `davd-writeback` crate says why);
/// a failure only leaves it to the kernel's own flush, as before.
fn start_writeback(file: &impl AsFd) {
    if let Err(e) = davd_writeback::start(file) {
        tracing::debug!(error = %e, "could not start a staged file's writeback");
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

    async fn stage(&self, path: &DavPath, mut body: ByteStream) -> SubsystemResult<Staged> {
        relative_or_reserved(path)?;
        if path.is_root() {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "the root is a collection",
            ));
        }
        self.guard.check(0)?;
        let handle = staging::fresh("put");
        let temp = self.staging.path_of(&handle)?;
        let staged = |meta: ResourceMeta| Staged {
            path: path.clone(),
            handle: handle.clone(),
            len: meta.len,
            meta: Some(meta),
            keep_previous: true,
            backup_tag: None,
            buffered: None,
        };
        // A small body is gathered in memory and written with one call; a large one is
        // streamed through a big buffer as it arrives.
        let mut head = bytes::BytesMut::new();
        let mut rest_follows = false;
        while let Some(chunk) = body.next().await {
            head.extend_from_slice(&chunk?);
            if head.len() as u64 > SMALL_FILE {
                rest_follows = true;
                break;
            }
        }
        let (dir, name, fsync) = (self.dir.clone(), temp.clone(), self.options.fsync);
        let staging = self.staging.clone();
        if !rest_follows {
            let meta = quick(self.options.inline_io, move || {
                let mut file = staging.create(&dir, &name)?;
                let written = std::io::Write::write_all(&mut file, &head)
                    .and_then(|()| match fsync {
                        true => file.sync_data(),
                        false => {
                            start_writeback(&file);
                            Ok(())
                        }
                    })
                    .and_then(|()| file.metadata());
                match written {
                    Ok(meta) => Ok(resource_meta(&meta)),
                    Err(e) => {
                        let _ = dir.remove_file(&name);
                        Err(e.into())
                    }
                }
            })
            .await?;
            return Ok(staged(meta));
        }
        let file = quick(self.options.inline_io, move || {
            Ok(staging.create(&dir, &name)?.into_std())
        })
        .await?;
        let mut writer = BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
        let guard = self.guard.clone();
        let streamed: SubsystemResult<std::fs::Metadata> = async {
            writer.write_all(&head).await?;
            // A large upload looks at the free space again as it grows, so that it stops at
            // the reserve instead of filling the disk (`crate::space`).
            let mut unchecked = head.len() as u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                unchecked += chunk.len() as u64;
                if unchecked >= RECHECK_EVERY {
                    guard.check(0)?;
                    unchecked = 0;
                }
                writer.write_all(&chunk).await?;
            }
            writer.flush().await?;
            if fsync {
                writer.get_ref().sync_data().await?;
            } else {
                // Submitting a large file's pages can wait for the block layer.
                let fd = writer.get_ref().as_fd().try_clone_to_owned()?;
                blocking(move || {
                    start_writeback(&fd);
                    Ok(())
                })
                .await?;
            }
            Ok(writer.get_ref().metadata().await?)
        }
        .await;
        drop(writer);
        match streamed {
            Ok(meta) => Ok(staged(resource_meta(
                &cap_std::fs::Metadata::from_just_metadata(meta),
            ))),
            Err(e) => {
                let dir = self.dir.clone();
                let _ = blocking(move || Ok(dir.remove_file(&temp)?)).await;
                Err(e)
            }
        }
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
