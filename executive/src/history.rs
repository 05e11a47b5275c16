//! History policy (issue 22, docs/history.md): what a mount that keeps history files away,
//! under which name, and when it is pruned. The store's [`HistoryArea`] only files and
//! removes; the names and the retention are decided here.
//!
//! - A write that replaces a file's content keeps the old content as a version of that path:
//!   `/docs/report.docx/2026-12-04T10-15-03Z.docx` on the versions shelf, the time it was
//!   replaced in UTC, with the file's extension so that a download opens in the right program.
//!   Where the store can ([`keep_current`]: the fs kind's hard link) the version is made just
//!   before the write, which then needs no journal; elsewhere the write's set-aside old
//!   content is filed at commit, and the write is journaled.
//! - A DELETE keeps what it removed, file or tree, on the trash shelf under the time and the
//!   path it was removed from: `/2026-12-04T10-15-03Z/docs/report.docx`.
//! - A COPY or MOVE onto an existing resource keeps what it replaced: a file as a version, a
//!   collection in the trash.
//!
//! Versions of a path beyond the mount's `max_versions` are pruned when the next one is kept;
//! versions and trash entries older than `keep` are pruned by [`sweep`], which the server runs
//! at startup and every hour. Keeping happens at commit, after the change is done: if it fails
//! the change stands and the old content is purged as it would be without history (logged).
//! A crash before it is kept leaves it detached under the request's journal record, and
//! recovery, which finishes the request, keeps it then (`recovery::kept_as`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tracing::warn;

use davd_protocol::DavPath;
use davd_registry::{Detached, History, Kept, NamespaceManager, Shelf, SubsystemResult};

/// `time` as the history names it: `2026-12-04T10-15-03Z` (UTC, no colons, which Windows
/// does not allow in names).
pub fn stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The counter a history name carries after its stamp when it was kept within the same second
/// as others (`2026-12-04T10-15-03Z~2.docx`); 1 without one.
fn counter(name: &str) -> u32 {
    name.get(20..)
        .and_then(|rest| rest.strip_prefix('~'))
        .map(|rest| rest.split('.').next().unwrap_or(rest))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The time a history name begins with, if it begins with a [`stamp`].
pub fn stamped_at(name: &str) -> Option<SystemTime> {
    let s = name.get(..20)?;
    let b = s.as_bytes();
    let fixed = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b'-'),
        (16, b'-'),
        (19, b'Z'),
    ];
    if fixed.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(y as i64, mo as i64, d as i64)).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + se))
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day count.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The name of a version of `path` kept at `now`: the stamp, with the path's extension.
fn version_at(path: &DavPath, now: SystemTime) -> Option<DavPath> {
    let name = path.name()?;
    let mut version = stamp(now);
    if let Some((stem, ext)) = name.rsplit_once('.')
        && !stem.is_empty()
        && !ext.is_empty()
    {
        version.push('.');
        version.push_str(ext);
    }
    path.join(&version).ok()
}

/// Where a resource removed from `path` at `now` goes in the trash.
fn trash_at(path: &DavPath, now: SystemTime) -> Option<DavPath> {
    let mut at = DavPath::root().join(&stamp(now)).ok()?;
    for segment in path.segments() {
        at = at.join(segment).ok()?;
    }
    Some(at)
}

/// What became of a detached resource at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Replaced by other content (a write, or a COPY or MOVE onto it).
    Replaced { collection: bool },
    /// Deleted.
    Deleted,
}

/// Files `detached`, removed from `path` (relative to the namespace's scope), in the
/// history; falls back to purging it if that fails, so that commit never leaves it behind.
pub async fn keep(
    history: &History,
    namespace: &dyn NamespaceManager,
    detached: Detached,
    path: &DavPath,
    removal: Removal,
) -> SubsystemResult<()> {
    let now = SystemTime::now();
    let (shelf, at) = match removal {
        Removal::Replaced { collection: false } => (Shelf::Versions, version_at(path, now)),
        Removal::Replaced { collection: true } | Removal::Deleted => {
            (Shelf::Trash, trash_at(path, now))
        }
    };
    let Some(at) = at else {
        return namespace.purge(detached).await;
    };
    crate::failpoint::boundary("HISTORY", "keep");
    let kept = match history.area.keep(shelf, detached.clone(), &at).await {
        Ok(kept) => kept,
        Err(e) => {
            warn!(path = %path, error = %e, "could not keep history; the old content is removed");
            return namespace.purge(detached).await;
        }
    };
    crate::failpoint::boundary("HISTORY", "kept");
    if shelf == Shelf::Versions {
        prune_versions(history, path, &kept.siblings, SystemTime::now()).await?;
    }
    Ok(())
}

/// Before a write replaces the file at `path` (relative to the namespace's scope): files what
/// is there now as a version, where the area can without a journal
/// ([`davd_registry::HistoryArea::keep_current`]). `None` if nothing was there.
pub async fn keep_current(history: &History, path: &DavPath) -> SubsystemResult<Option<Kept>> {
    let Some(at) = version_at(path, SystemTime::now()) else {
        return Ok(None);
    };
    let kept = history.area.keep_current(path, &at).await?;
    if kept.is_some() {
        crate::failpoint::boundary("HISTORY", "linked");
    }
    Ok(kept)
}

/// After the write that [`keep_current`] kept a version for: prunes the versions of `path`.
pub async fn pruned(history: &History, path: &DavPath, kept: &Kept) -> SubsystemResult<()> {
    crate::failpoint::boundary("HISTORY", "written");
    prune_versions(history, path, &kept.siblings, SystemTime::now()).await
}

/// Removes the versions of `path` beyond the retention: the oldest past `max_versions`, and
/// any older than `keep`. `members` are those of its versions collection, as keeping found
/// them: files with stamped names are its versions; collections are the versions of paths
/// below it, whatever their names.
async fn prune_versions(
    history: &History,
    path: &DavPath,
    members: &[(String, bool)],
    now: SystemTime,
) -> SubsystemResult<()> {
    let mut versions: Vec<(SystemTime, u32, &String)> = members
        .iter()
        .filter(|(_, collection)| !collection)
        .filter_map(|(name, _)| Some((stamped_at(name)?, counter(name), name)))
        .collect();
    // Newest first; within one second, the higher counter came later.
    versions.sort_by(|a, b| b.cmp(a));
    let cutoff = now.checked_sub(history.retention.keep);
    for (index, (at, _, name)) in versions.iter().enumerate() {
        let too_many = index >= history.retention.max_versions;
        let too_old = cutoff.is_some_and(|cutoff| *at < cutoff);
        if too_many || too_old {
            let Ok(version) = path.join(name) else {
                continue;
            };
            history.area.remove(Shelf::Versions, &version).await?;
        }
    }
    Ok(())
}

/// Prunes everything older than the retention's `keep`: versions anywhere on the versions
/// shelf, and trash entries. Returns how many were removed.
pub async fn sweep(history: &History, now: SystemTime) -> SubsystemResult<usize> {
    let Some(cutoff) = now.checked_sub(history.retention.keep) else {
        return Ok(0);
    };
    let mut removed = 0;
    // The trash: one stamped collection per removal, directly below its root.
    let trash = history.area.view(Shelf::Trash);
    for name in stamped_members(trash.as_ref(), &DavPath::root(), cutoff, None).await? {
        if let Ok(entry) = DavPath::root().join(&name) {
            history.area.remove(Shelf::Trash, &entry).await?;
            removed += 1;
        }
    }
    // The versions: files with a stamp, in collections named after the paths they were
    // versions of. Walked depth first, with a bounded stack of paths still to list.
    let versions = history.area.view(Shelf::Versions);
    let mut pending = vec![DavPath::root()];
    while let Some(collection) = pending.pop() {
        for name in
            stamped_members(versions.as_ref(), &collection, cutoff, Some(&mut pending)).await?
        {
            if let Ok(version) = collection.join(&name) {
                history.area.remove(Shelf::Versions, &version).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The members of `collection` whose stamp is older than `cutoff`: collections on the trash
/// (`subcollections` is `None`), files on the versions shelf, whose subcollections are added to
/// `subcollections` to be walked next.
async fn stamped_members(
    view: &dyn NamespaceManager,
    collection: &DavPath,
    cutoff: SystemTime,
    mut subcollections: Option<&mut Vec<DavPath>>,
) -> SubsystemResult<Vec<String>> {
    let mut old = Vec::new();
    let mut members = match view.list(collection).await {
        Ok(members) => members,
        Err(e) if e.status == http::StatusCode::NOT_FOUND => return Ok(old),
        Err(e) => return Err(e),
    };
    while let Some(batch) = members.next().await {
        for member in batch? {
            let on_trash = subcollections.is_none();
            if member.meta.collection && !on_trash {
                if let (Some(pending), Ok(path)) =
                    (subcollections.as_deref_mut(), collection.join(&member.name))
                {
                    pending.push(path);
                }
                continue;
            }
            if member.meta.collection != on_trash {
                continue;
            }
            if stamped_at(&member.name).is_some_and(|at| at < cutoff) {
                old.push(member.name);
            }
        }
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn stamps_read_back_to_the_second() {
        for secs in [0u64, 951_782_400, 1_764_842_103, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(stamped_at(&stamp(t)), Some(t), "{}", stamp(t));
        }
        let t = UNIX_EPOCH + Duration::from_secs(1_764_843_303);
        assert_eq!(stamp(t), "2025-12-04T10-15-03Z");
        assert_eq!(
            stamped_at("2025-12-04T10-15-03Z~2.docx"),
            Some(t),
            "a numbered name keeps its time"
        );
        assert_eq!(counter("2025-12-04T10-15-03Z~12.docx"), 12);
        assert_eq!(counter("2025-12-04T10-15-03Z~3"), 3);
        assert_eq!(counter("2025-12-04T10-15-03Z.docx"), 1);
        assert_eq!(stamped_at("2025-13-04T10-15-03Z"), None);
        assert_eq!(stamped_at("report.docx"), None);
        assert_eq!(stamped_at("2025-12-04"), None);
    }

    #[test]
    fn versions_keep_the_extension_and_the_trash_the_path() {
        let t = UNIX_EPOCH + Duration::from_secs(1_764_843_303);
        assert_eq!(
            version_at(&p("/docs/report.docx"), t).unwrap().as_str(),
            "/docs/report.docx/2025-12-04T10-15-03Z.docx"
        );
        assert_eq!(
            version_at(&p("/Makefile"), t).unwrap().as_str(),
            "/Makefile/2025-12-04T10-15-03Z"
        );
        assert_eq!(
            version_at(&p("/.bashrc"), t).unwrap().as_str(),
            "/.bashrc/2025-12-04T10-15-03Z"
        );
        assert_eq!(
            trash_at(&p("/docs/old"), t).unwrap().as_str(),
            "/2025-12-04T10-15-03Z/docs/old"
        );
        assert!(version_at(&DavPath::root(), t).is_none());
    }
}
