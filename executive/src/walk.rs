//! Listing collections across scopes: a mounted scope appears as a member of its parent.

use std::pin::Pin;

use futures_util::stream::{self, Stream, StreamExt};
use http::StatusCode;

use davd_protocol::DavPath;
use davd_registry::ResourceMeta;

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::policy::access;

/// One member of a collection.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: DavPath,
    pub meta: ResourceMeta,
}

pub type ListedStream = Pin<Box<dyn Stream<Item = DavResult<Vec<Listed>>> + Send>>;

/// The members of the collection at `path`, in batches. Scopes mounted directly inside it are
/// listed as collections (and hide a same-named member of the parent's own store).
pub async fn members(ctx: &Ctx, path: &DavPath) -> DavResult<ListedStream> {
    let mounts = ctx.registry().child_mounts(path);
    let mut mounted = Vec::with_capacity(mounts.len());
    for (_, scope) in &mounts {
        if let Some(meta) = ctx.stat(scope).await? {
            mounted.push(Listed {
                path: scope.clone(),
                meta,
            });
        }
    }
    // Members in scopes the user may not read are left out, not just refused.
    let hidden: Vec<String> = ctx
        .registry()
        .child_rules(path)
        .into_iter()
        .filter_map(|(name, _)| {
            let member = path.join(&name).ok()?;
            (!access::may_read(ctx, &member)).then_some(name)
        })
        .collect();
    mounted.retain(|m| {
        m.path
            .name()
            .is_none_or(|n| !hidden.contains(&n.to_owned()))
    });
    let mut mount_names: Vec<String> = mounts.into_iter().map(|(name, _)| name).collect();
    mount_names.extend(hidden);
    let (scope, namespace) = ctx.registry().namespace(path);
    let relative = path.relative_to(scope).unwrap_or_else(DavPath::root);
    let own = namespace.list(&relative).await?;
    let parent = path.clone();
    let own = own.map(move |batch| {
        let batch = batch.map_err(DavError::from)?;
        Ok(batch
            .into_iter()
            .filter(|m| !mount_names.contains(&m.name))
            .filter_map(|m| {
                parent
                    .join(&m.name)
                    .ok()
                    .map(|path| Listed { path, meta: m.meta })
            })
            .collect())
    });
    let first = if mounted.is_empty() {
        None
    } else {
        Some(Ok(mounted))
    };
    Ok(stream::iter(first).chain(own).boxed())
}

/// True if the collection at `path` is one of its own ancestors (a symbolic link back up the
/// tree): a walk must not descend into it, or it would never end.
pub async fn revisits_ancestor(ctx: &Ctx, path: &DavPath) -> DavResult<bool> {
    let subsystems = ctx.resolve(path);
    Ok(subsystems
        .namespace
        .revisits_ancestor(&subsystems.relative(path))
        .await?)
}

/// The refusal of a request whose `Depth: infinity` walk would loop through `path` (RFC 5842
/// §7.2: 508 Loop Detected).
pub fn loop_detected(path: &DavPath) -> DavError {
    DavError::new(
        StatusCode::LOOP_DETECTED,
        format!(
            "{} leads back to a collection above it (a symbolic link cycle); a Depth: infinity walk would never end",
            path.to_href(true)
        ),
    )
}

/// Every resource below `path`, depth-first in walk order ([`TreeWalk`]), parents before
/// their members. A member that leads back to a collection above it fails the walk with 508.
pub async fn descendants(ctx: &Ctx, path: &DavPath) -> DavResult<Vec<Listed>> {
    let mut walk = TreeWalk::after(ctx, path, None).await?;
    let mut out = Vec::new();
    while let Some(member) = walk.next(|_| true).await? {
        out.push(member);
    }
    Ok(out)
}

/// Where a member stands against the last member an earlier page reported, in walk order.
#[derive(Debug, PartialEq, Eq)]
enum Against {
    /// Before it, and so is everything below it: skipped whole.
    Before,
    /// It, or a collection above it: not reported again, but its members may follow it.
    Above,
    /// After it: reported, and everything below it too.
    After,
}

/// Compares `member` with `last` in walk order: segment by segment, a collection before its
/// members and siblings by name. (Plain path order is not walk order: `/a-b` sorts before
/// `/a/c` because `-` comes before `/`, while a walk lists `/a/c` before it leaves `/a`.)
fn against(member: &DavPath, last: &DavPath) -> Against {
    let mut mine = member.segments();
    let mut theirs = last.segments();
    loop {
        match (mine.next(), theirs.next()) {
            (None, _) => return Against::Above,
            (Some(_), None) => return Against::After,
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) if a < b => return Against::Before,
            _ => return Against::After,
        }
    }
}

/// The resources below a collection, one at a time in walk order (a collection before its
/// members, siblings by name), from after a given member. Only the collections on the way
/// are held, each one's members at a time: a tree of a million files is walked in the
/// memory of its largest directory, and a page of a first `sync-collection` that starts
/// after the 500,000th member lists none of the directories before it.
pub struct TreeWalk<'a> {
    ctx: &'a Ctx,
    /// The members still to visit of each collection entered, innermost last, reversed.
    pending: Vec<Vec<Listed>>,
    last: Option<DavPath>,
}

impl<'a> TreeWalk<'a> {
    /// A walk below `root` that skips `last` and everything before it.
    pub async fn after(ctx: &'a Ctx, root: &DavPath, last: Option<DavPath>) -> DavResult<Self> {
        let mut walk = TreeWalk {
            ctx,
            pending: Vec::new(),
            last,
        };
        walk.enter(root).await?;
        Ok(walk)
    }

    async fn enter(&mut self, collection: &DavPath) -> DavResult<()> {
        let mut batches = members(self.ctx, collection).await?;
        let mut children = Vec::new();
        while let Some(batch) = batches.next().await {
            children.extend(batch?);
        }
        children.sort_by(|a, b| b.path.name().cmp(&a.path.name()));
        self.pending.push(children);
        Ok(())
    }

    /// The next resource, or `None` at the end. A collection is entered only if `enter`
    /// says so; one that leads back to a collection above it fails the walk with 508.
    pub async fn next(&mut self, enter: impl Fn(&DavPath) -> bool) -> DavResult<Option<Listed>> {
        loop {
            let Some(level) = self.pending.last_mut() else {
                return Ok(None);
            };
            let Some(member) = level.pop() else {
                self.pending.pop();
                continue;
            };
            let against = match &self.last {
                Some(last) => against(&member.path, last),
                None => Against::After,
            };
            if against == Against::Before {
                continue;
            }
            if member.meta.collection && enter(&member.path) {
                if revisits_ancestor(self.ctx, &member.path).await? {
                    return Err(loop_detected(&member.path));
                }
                self.enter(&member.path).await?;
            }
            if against == Against::After {
                return Ok(Some(member));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> DavPath {
        DavPath::parse_url_path(text).unwrap().0
    }

    #[test]
    fn walk_order_puts_a_collections_members_before_its_next_sibling() {
        // In plain path order "/a-b" < "/a/c"; a walk visits "/a/c" first.
        assert_eq!(against(&p("/a/c"), &p("/a-b")), Against::Before);
        assert_eq!(against(&p("/a-b"), &p("/a/c")), Against::After);
        assert_eq!(against(&p("/a"), &p("/a/c")), Against::Above);
        assert_eq!(against(&p("/a/c"), &p("/a/c")), Against::Above);
        assert_eq!(against(&p("/a/c/d"), &p("/a/c")), Against::After);
        assert_eq!(against(&p("/a/b/z"), &p("/a/c")), Against::Before);
        assert_eq!(against(&p("/b"), &p("/a/c/d")), Against::After);
    }
}
