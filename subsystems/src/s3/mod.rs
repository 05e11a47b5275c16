//! Kind `s3`: a namespace whose tree lives in the cluster's PostgreSQL database and whose
//! bytes live in S3-compatible object storage, so that several instances serve one namespace
//! without a shared file system (docs/scaling.md, docs/adr/0019-s3-client.md).
//!
//! | piece | file | job |
//! |-------|------|-----|
//! | [`S3Namespace`] | `mod.rs` | the [`NamespaceManager`] contract over the two |
//! | the tree | `tree.rs` | rows of `davd_s3_tree`: names, sizes, times, entity tags, blob ids |
//! | [`Blobs`] | `blobs.rs` | immutable objects named by fresh UUIDs; streaming, multipart |
//! | uploads | `upload.rs` | a body read part by part, each part under the mount's budget |
//! | [`UploadBudget`] | `budget.rs` | the part buffers a mount's uploads share (memory bound) |
//! | deadlines | `deadlines.rs` | how long a call may wait for the store (503, not a hang) |
//! | [`S3Settings`] | `settings.rs` | bucket, endpoint, region, prefix, keys (never logged) |
//! | transactions | `transaction.rs` | changes of several rows or whole trees, as one unit |
//! | segments | `segment.rs` | a partial PUT composes a new blob from the old one |
//! | collector | `collector.rs` | removes blobs unreferenced past the grace period |
//! | history | `history.rs` | versions and trash: key spaces of the tree's rows, no bytes copied |
//! | orphan scan | `orphans.rs` | removes objects under the prefix that nothing names |
//! | fail points | `failpoint.rs` | where the crash tests abort the process (debug builds) |
//! | [`Audit`] | `audit.rs` | for tests: blobs rows name against blobs the bucket holds |
//!
//! The order that keeps the tree from ever naming a missing object: a blob is recorded as
//! unreferenced, then written whole to S3 (`stage`), and only then does one statement make
//! a row name it (`publish`), claiming it from the unreferenced ones; inside the latches'
//! transaction when the request carries it, so an instance that lost its latch cannot
//! publish. MOVE and DELETE change rows only; COPY shares the blob. A blob no row names any
//! more is recorded in `davd_s3_unreferenced` with the time; the collector (`collector.rs`)
//! removes such blobs from S3 after a grace period.
//!
//! Every other change of the tree (MKCOL, DELETE, MOVE, COPY, their undo, a new time) is
//! fenced the same way: a single statement goes through `Cluster::query`, which rides the
//! carried transaction, and a change of several rows is a unit (`transaction.rs`), a
//! savepoint in that transaction, so that one that fails takes back only itself. The
//! executive commits the transaction before it acknowledges the change.

#[cfg(any(test, feature = "testing"))]
mod audit;
mod blobs;
mod budget;
mod collector;
mod deadlines;
mod failpoint;
mod history;
mod orphans;
mod segment;
mod settings;
mod transaction;
mod tree;
mod upload;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures_util::StreamExt;

use davd_registry::{
    ByteStream, DavPath, Detached, Member, MemberStream, NamespaceManager, Opened, ResourceMeta,
    Staged, StatusCode, SubsystemError, SubsystemResult, WriteMode, WriteReceipt,
};

#[cfg(any(test, feature = "testing"))]
pub use audit::Audit;
use blobs::BlobContent;
pub use blobs::{Blobs, PART_SIZE, PARTS_IN_FLIGHT};
pub use budget::UploadBudget;
pub use collector::{ROUND_EVERY, SCAN_EVERY_ROUNDS};
pub use settings::{
    ACCESS_KEY_VARIABLE, Credentials, DEFAULT_GRACE_SECS, DEFAULT_REGION,
    DEFAULT_UPLOAD_BUFFER_MIB, S3Settings, S3Table, SECRET_KEY_VARIABLE,
};

use crate::postgres::Cluster;
use transaction::ReleaseFrom;

/// Members read from the database per batch of a listing.
const LIST_BATCH: i64 = 1000;

/// A namespace of the tree in PostgreSQL and the bytes in S3.
pub struct S3Namespace {
    cluster: Cluster,
    blobs: Blobs,
    /// The tree's name in the tables: bucket and prefix.
    store: String,
    /// How long an unreferenced blob is kept before the collector removes it.
    grace: std::time::Duration,
    /// The key space of the rows this namespace serves: `""` for the live tree, or a history
    /// shelf's ([`history::VERSIONS`], [`history::TRASH`]), put before every `dir`.
    space: &'static str,
}

impl S3Namespace {
    /// Opens the namespace (making its root collection if no instance has yet).
    pub async fn open(cluster: Cluster, settings: &S3Settings) -> SubsystemResult<S3Namespace> {
        let namespace = S3Namespace {
            blobs: Blobs::new(settings)?,
            store: settings.store(),
            grace: settings.grace,
            space: "",
            cluster,
        };
        namespace.make_root().await?;
        Ok(namespace)
    }

    /// Starts the collector for as long as the namespace is open.
    pub fn collect_in_background(self: &Arc<Self>) {
        collector::run(Arc::downgrade(self));
    }

    async fn row(&self, path: &DavPath) -> SubsystemResult<Option<(ResourceMeta, Option<String>)>> {
        let (dir, name) = self.split(path);
        let rows = self
            .cluster
            .query(tree::STAT, &[&self.store, &dir, &name])
            .await?;
        rows.first().map(|row| tree::meta(row, 0)).transpose()
    }

    /// 409 unless the parent of `path` is a collection.
    async fn parent_is_collection(&self, path: &DavPath) -> SubsystemResult<bool> {
        let Some(parent) = path.parent() else {
            return Ok(false);
        };
        Ok(matches!(self.row(&parent).await?, Some((meta, _)) if meta.collection))
    }
}

fn is_collection_error() -> SubsystemError {
    SubsystemError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "a collection has no content",
    )
}

fn no_parent() -> SubsystemError {
    SubsystemError::conflict("the parent collection does not exist")
}

#[async_trait]
impl NamespaceManager for S3Namespace {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        Ok(self.row(path).await?.map(|(meta, _)| meta))
    }

    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        match self.row(path).await? {
            Some((meta, _)) if meta.collection => {}
            Some(_) => {
                return Err(SubsystemError::conflict("not a collection"));
            }
            None => return Err(SubsystemError::not_found()),
        }
        let dir = self.children(path);
        let cluster = self.cluster.clone();
        let store = self.store.clone();
        // Pages of members after the last name seen; `None` once a short page came.
        let pages = futures_util::stream::unfold(Some(String::new()), move |after| {
            let (cluster, store, dir) = (cluster.clone(), store.clone(), dir.clone());
            async move {
                let after = after?;
                let rows = match cluster
                    .query(tree::LIST_PAGE, &[&store, &dir, &after, &LIST_BATCH])
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => return Some((Err(e), None)),
                };
                let full = rows.len() as i64 == LIST_BATCH;
                let mut members = Vec::with_capacity(rows.len());
                for row in &rows {
                    let member = row
                        .try_get::<_, String>(0)
                        .map_err(|e| SubsystemError::internal(format!("an unreadable row: {e}")))
                        .and_then(|name| {
                            Ok(Member {
                                name,
                                meta: tree::meta(row, 1)?.0,
                            })
                        });
                    match member {
                        Ok(member) => members.push(member),
                        Err(e) => return Some((Err(e), None)),
                    }
                }
                let next = match members.last() {
                    Some(last) if full => Some(last.name.clone()),
                    _ => None,
                };
                if members.is_empty() && next.is_none() && !after.is_empty() {
                    return None;
                }
                Some((Ok(members), next))
            }
        });
        Ok(pages.boxed())
    }

    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        let (meta, blob) = self
            .row(path)
            .await?
            .ok_or_else(SubsystemError::not_found)?;
        let blob = blob.ok_or_else(is_collection_error)?;
        Ok(Opened {
            content: Box::new(BlobContent {
                blobs: self.blobs.clone(),
                blob,
                len: meta.len,
            }),
            meta,
        })
    }

    async fn write(
        &self,
        path: &DavPath,
        body: ByteStream,
        mode: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        match mode {
            WriteMode::Replace => {
                let staged = self.stage(path, body).await?;
                self.publish(staged).await
            }
            WriteMode::Segment { offset, total } => {
                // A segment makes a new blob of the old content with the body laid over it:
                // blobs are never changed in place.
                let old = match self.row(path).await? {
                    Some((_, None)) => {
                        return Err(SubsystemError::new(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "cannot PUT onto a collection",
                        ));
                    }
                    Some((meta, Some(blob))) => Some((meta.len, blob)),
                    None => None,
                };
                if !self.parent_is_collection(path).await? {
                    return Err(no_parent());
                }
                let composed = self.compose(old, body, offset, total).await?;
                let mut staged = self.stage(path, composed).await?;
                staged.keep_previous = false;
                let mut receipt = self.publish(staged).await?;
                receipt.previous = None;
                Ok(receipt)
            }
        }
    }

    async fn stage(&self, path: &DavPath, body: ByteStream) -> SubsystemResult<Staged> {
        let blob = uuid::Uuid::new_v4().to_string();
        self.cluster
            .query_alone(tree::STAGE, &[&self.store, &blob])
            .await?;
        // At every part, the record is touched so that the collector, which removes blobs
        // unreferenced for longer than the grace period, leaves a long upload alone.
        let (cluster, store, id) = (self.cluster.clone(), self.store.clone(), blob.clone());
        let mut since_touch = 0usize;
        let body: ByteStream = Box::pin(body.inspect(move |chunk| {
            since_touch += chunk.as_ref().map_or(0, |c| c.len());
            if since_touch >= PART_SIZE {
                since_touch = 0;
                let (cluster, store, id) = (cluster.clone(), store.clone(), id.clone());
                tokio::spawn(async move {
                    let _ = cluster.query_alone(collector::TOUCH, &[&store, &id]).await;
                });
            }
        }));
        let len = match self.blobs.upload(&blob, body).await {
            Ok(len) => len,
            Err(e) => {
                // Best effort: what is left is recorded, and collectable.
                let _ = self.discard_blob(&blob).await;
                return Err(e);
            }
        };
        // The blob is whole in S3 and recorded, and no row names it yet.
        failpoint::boundary("uploaded");
        Ok(Staged {
            path: path.clone(),
            handle: blob,
            len,
            meta: None,
            keep_previous: true,
            backup_tag: None,
            buffered: None,
        })
    }

    async fn publish(&self, staged: Staged) -> SubsystemResult<WriteReceipt> {
        let path = &staged.path;
        if path.is_root() {
            return Err(is_collection_error());
        }
        let (dir, name) = self.split(path);
        let (parent_dir, parent_name) = path.parent().map(|p| self.split(&p)).unwrap_or_default();
        let tag = staged.keep_previous.then(|| {
            staged
                .backup_tag
                .clone()
                .unwrap_or_else(|| format!("prev-{}", uuid::Uuid::new_v4()))
        });
        let len = i64::try_from(staged.len)
            .map_err(|_| SubsystemError::insufficient_storage("the content is too large"))?;
        let etag = tree::fresh_etag();
        let instance = self.cluster.instance().to_owned();
        let rows = self
            .cluster
            .query(
                tree::PUBLISH,
                &[
                    &self.store,
                    &dir,
                    &name,
                    &parent_dir,
                    &parent_name,
                    &staged.handle,
                    &len,
                    &etag,
                    &tag,
                    &instance,
                ],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| SubsystemError::internal("publishing returned no row"))?;
        let answer = || -> Result<_, tokio_postgres::Error> {
            Ok((
                row.try_get::<_, bool>(0)?,
                row.try_get::<_, bool>(1)?,
                row.try_get::<_, bool>(2)?,
                row.try_get::<_, bool>(3)?,
                row.try_get::<_, Option<SystemTime>>(4)?,
                row.try_get::<_, Option<SystemTime>>(5)?,
            ))
        };
        let (parent, collection, claimed, existed, created, modified) =
            answer().map_err(|e| SubsystemError::internal(format!("an unreadable answer: {e}")))?;
        if collection {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "cannot PUT onto a collection",
            ));
        }
        if !parent {
            return Err(no_parent());
        }
        let (Some(created), Some(modified), true) = (created, modified, claimed) else {
            return Err(SubsystemError::unavailable(
                "the uploaded content was collected before it could be published; send it again",
            ));
        };
        Ok(WriteReceipt {
            created: !existed,
            previous: match (existed, tag) {
                (true, Some(handle)) => Some(Detached {
                    path: path.clone(),
                    handle,
                }),
                _ => None,
            },
            meta: ResourceMeta {
                collection: false,
                len: staged.len,
                modified,
                created: Some(created),
                etag,
                content_type: None,
            },
            replaced: None,
        })
    }

    async fn discard(&self, staged: Staged) -> SubsystemResult<()> {
        self.discard_blob(&staged.handle).await
    }

    async fn create_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        let exists = || {
            SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "something already exists at this URL",
            )
        };
        let Some(parent) = path.parent() else {
            return Err(exists());
        };
        let (dir, name) = self.split(path);
        let (parent_dir, parent_name) = self.split(&parent);
        let made = self
            .cluster
            .query(
                tree::MKCOL,
                &[
                    &self.store,
                    &dir,
                    &name,
                    &parent_dir,
                    &parent_name,
                    &tree::fresh_etag(),
                ],
            )
            .await?;
        if !made.is_empty() {
            return Ok(());
        }
        if self.row(path).await?.is_some() {
            Err(exists())
        } else {
            Err(no_parent())
        }
    }

    async fn detach(&self, path: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        if path.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be removed"));
        }
        let (dir, name) = self.split(path);
        let (from, to) = self.below(path);
        let instance = self.cluster.instance().to_owned();
        let tag = tag.to_owned();
        let answers = self
            .transaction(
                &[(tree::DETACH, &[&dir, &name, &from, &to, &tag, &instance])],
                ReleaseFrom::Nothing,
            )
            .await?;
        if answers.first().is_none_or(Vec::is_empty) {
            return Err(SubsystemError::not_found());
        }
        Ok(Detached {
            path: path.clone(),
            handle: tag,
        })
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        if !self.is_detached(&detached.handle).await? {
            return Err(SubsystemError::not_found());
        }
        let (dir, name) = self.split(&detached.path);
        let (from, to) = self.below(&detached.path);
        self.transaction(
            &[
                (tree::REMOVE_TREE, &[&dir, &name, &from, &to]),
                (tree::RESTORE, &[&detached.handle]),
            ],
            ReleaseFrom::Statement(0),
        )
        .await?;
        Ok(())
    }

    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        let rows = self
            .cluster
            .query(tree::IS_DETACHED, &[&self.store, &handle])
            .await?;
        Ok(!rows.is_empty())
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        // A PUT's publish detached the replaced row inside the latches' transaction, which
        // has not committed yet: a transaction of its own would not see the row, and it
        // would stay detached (its blob never recorded for the collector) after the commit.
        if self.cluster.carries() {
            self.cluster
                .query(tree::PURGE_CARRIED, &[&self.store, &detached.handle])
                .await?;
            return Ok(());
        }
        self.transaction(
            &[(tree::PURGE, &[&detached.handle])],
            ReleaseFrom::Statement(0),
        )
        .await?;
        Ok(())
    }

    /// Forgets what this instance detached; other instances' detached trees are theirs to
    /// restore or purge.
    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        let instance = self.cluster.instance().to_owned();
        self.transaction(
            &[(tree::PURGE_MINE, &[&instance])],
            ReleaseFrom::Statement(0),
        )
        .await?;
        Ok(())
    }

    /// The copy names the same blob: nothing is copied in S3.
    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        let (from_dir, from_name) = self.split(from);
        let (to_dir, to_name) = self.split(to);
        let (parent_dir, parent_name) = to.parent().map(|p| self.split(&p)).unwrap_or_default();
        let etag = tree::fresh_etag();
        let answers = self
            .transaction(
                &[
                    (tree::REMOVE_FILE, &[&to_dir, &to_name]),
                    (
                        tree::COPY_FILE,
                        &[
                            &from_dir,
                            &from_name,
                            &to_dir,
                            &to_name,
                            &parent_dir,
                            &parent_name,
                            &etag,
                        ],
                    ),
                ],
                ReleaseFrom::Statement(0),
            )
            .await;
        match answers {
            Ok(answers) if answers.get(1).is_some_and(|rows| !rows.is_empty()) => Ok(()),
            Ok(_) => match self.row(from).await? {
                None => Err(SubsystemError::not_found()),
                Some((meta, _)) if meta.collection => Err(is_collection_error()),
                Some(_) => Err(no_parent()),
            },
            Err(e) => Err(e),
        }
    }

    async fn rename(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        if from.is_root() || to.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be moved"));
        }
        if !self.parent_is_collection(to).await? {
            return Err(no_parent());
        }
        let (old_prefix, old_end) = self.below(from);
        let new_prefix = self.children(to);
        let after_prefix = old_prefix.chars().count() as i32 + 1;
        let (from_dir, from_name) = self.split(from);
        let (to_dir, to_name) = self.split(to);
        let answers = self
            .transaction(
                &[
                    (tree::MOVE_ROOT, &[&from_dir, &from_name, &to_dir, &to_name]),
                    (
                        tree::MOVE_BELOW,
                        &[&old_prefix, &old_end, &new_prefix, &after_prefix],
                    ),
                ],
                ReleaseFrom::Nothing,
            )
            .await?;
        if answers.first().is_none_or(Vec::is_empty) {
            return Err(SubsystemError::not_found());
        }
        Ok(())
    }

    async fn set_modified(
        &self,
        path: &DavPath,
        modified: SystemTime,
    ) -> SubsystemResult<SystemTime> {
        let (dir, name) = self.split(path);
        let rows = self
            .cluster
            .query(
                tree::SET_MODIFIED,
                &[&self.store, &dir, &name, &modified, &tree::fresh_etag()],
            )
            .await?;
        let row = rows.first().ok_or_else(SubsystemError::not_found)?;
        row.try_get::<_, SystemTime>(0)
            .map_err(|e| SubsystemError::internal(format!("an unreadable row: {e}")))
    }

    /// History in key spaces of the same rows (`history.rs`): filing moves rows, and the
    /// blobs they name stay where they are.
    async fn history_area(&self) -> SubsystemResult<Arc<dyn davd_registry::HistoryArea>> {
        Ok(Arc::new(history::S3History::open(self).await?))
    }
}

impl S3Namespace {
    /// Removes a staged blob that no row names: its record, then the object. A blob a
    /// publish claimed meanwhile is left alone.
    async fn discard_blob(&self, blob: &str) -> SubsystemResult<()> {
        let unclaimed = self
            .cluster
            .query_alone(tree::UNSTAGE, &[&self.store, &blob])
            .await?;
        if !unclaimed.is_empty() {
            self.blobs.delete(blob).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod orphan_tests;
#[cfg(test)]
mod tests;
