//! The tree in PostgreSQL: one row per resource in `davd_s3_tree` (migration 2), keyed by
//! the namespace's `store`, the parent's path (`dir`) and the name, as the property rows are
//! (`postgres/paths.rs`): a collection's members are the rows of one `dir`, a subtree the
//! range of `dir` below it, in byte order. `$1` is always the store. A history shelf's rows
//! are in the same table and store, with a letter before their `dir` (`history.rs`): every
//! query that asks whether a blob is still named counts them.

use std::time::SystemTime;

use tokio_postgres::Row;

use davd_registry::{ResourceMeta, SubsystemError, SubsystemResult};

/// One resource: `$2`, `$3` its place.
pub const STAT: &str = "SELECT blob, len, etag, created, modified FROM davd_s3_tree \
                        WHERE store = $1 AND dir = $2 AND name = $3";

/// A page of a collection's members (`dir` `$2`), after the name `$3`, at most `$4`.
pub const LIST_PAGE: &str = "SELECT name, blob, len, etag, created, modified FROM davd_s3_tree \
                             WHERE store = $1 AND dir = $2 AND name > $3 ORDER BY name LIMIT $4";

/// The root collection of the key space `$3` (`''`, the live tree, or a history shelf's),
/// made once by whichever instance opens the store first.
pub const MAKE_ROOT: &str = "INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, \
                             created, modified) VALUES ($1, $3, '', NULL, 0, $2, now(), now()) \
                             ON CONFLICT DO NOTHING";

/// A collection at `$2`, `$3` under the collection `$4`, `$5`; a row if it was made.
pub const MKCOL: &str = "INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, created, \
                         modified) SELECT $1, $2, $3, NULL, 0, $6, now(), now() \
                         WHERE EXISTS (SELECT 1 FROM davd_s3_tree WHERE store = $1 \
                         AND dir = $4 AND name = $5 AND blob IS NULL) \
                         ON CONFLICT DO NOTHING RETURNING 1";

/// Records the staged blob `$2` as unreferenced, before a byte of it is sent: whatever
/// happens next, the collector can find it. Never in the latches' transaction, whose
/// rollback would take the record with it.
pub const STAGE: &str = "INSERT INTO davd_s3_unreferenced (store, blob) VALUES ($1, $2)";

/// Forgets a staged blob that will not be published; a row if it was still unclaimed. A
/// record a publish is claiming (locked by a transaction still open) is skipped, not waited
/// for: that transaction may be the caller's own latches'.
pub const UNSTAGE: &str = "DELETE FROM davd_s3_unreferenced WHERE (store, blob) IN \
                           (SELECT store, blob FROM davd_s3_unreferenced \
                           WHERE store = $1 AND blob = $2 FOR UPDATE SKIP LOCKED) RETURNING 1";

/// Publishes the staged blob `$6` (length `$7`, entity tag `$8`) at `$2`, `$3`, whose parent
/// is `$4`, `$5`, in one statement, so that it can ride the latches' transaction: claims the
/// blob from the unreferenced ones, keeps the replaced row detached under the tag `$9` (with
/// the instance `$10`), or when `$9` is NULL records its blob as unreferenced unless another
/// row still names it (a copy), and writes the row. Answers whether the parent is a
/// collection, whether the target is one, whether the blob was claimed, whether the target
/// existed, and the row's times.
pub const PUBLISH: &str = "\
WITH parent AS (SELECT 1 FROM davd_s3_tree WHERE store = $1 AND dir = $4 AND name = $5 \
                AND blob IS NULL), \
old AS (SELECT blob, len, etag, created, modified FROM davd_s3_tree \
        WHERE store = $1 AND dir = $2 AND name = $3), \
allowed AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM parent) \
            AND NOT EXISTS (SELECT 1 FROM old WHERE blob IS NULL)), \
claimed AS (DELETE FROM davd_s3_unreferenced WHERE store = $1 AND blob = $6 \
            AND EXISTS (SELECT 1 FROM allowed) RETURNING blob), \
kept AS (INSERT INTO davd_s3_detached (store, tag, instance, dir, name, blob, len, etag, \
         created, modified) SELECT $1, $9, $10, $2, $3, old.blob, old.len, old.etag, \
         old.created, old.modified FROM old, claimed WHERE $9::text IS NOT NULL RETURNING 1), \
released AS (INSERT INTO davd_s3_unreferenced (store, blob) SELECT $1, old.blob \
             FROM old, claimed WHERE $9::text IS NULL \
             AND NOT EXISTS (SELECT 1 FROM davd_s3_tree t WHERE t.store = $1 \
                 AND t.blob = old.blob AND NOT (t.dir = $2 AND t.name = $3)) \
             AND NOT EXISTS (SELECT 1 FROM davd_s3_detached d WHERE d.store = $1 \
                 AND d.blob = old.blob) \
             ON CONFLICT DO NOTHING RETURNING 1), \
written AS (INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, created, modified) \
            SELECT $1, $2, $3, $6, $7, $8, coalesce((SELECT created FROM old), now()), now() \
            FROM claimed ON CONFLICT (store, dir, name) DO UPDATE SET blob = EXCLUDED.blob, \
            len = EXCLUDED.len, etag = EXCLUDED.etag, modified = EXCLUDED.modified \
            RETURNING created, modified) \
SELECT EXISTS (SELECT 1 FROM parent), EXISTS (SELECT 1 FROM old WHERE blob IS NULL), \
       EXISTS (SELECT 1 FROM claimed), EXISTS (SELECT 1 FROM old), \
       (SELECT created FROM written), (SELECT modified FROM written), \
       (SELECT count(*) FROM kept) + (SELECT count(*) FROM released)";

/// Moves the subtree at `$2`, `$3` (range `$4`..`$5` below it) into the detached rows under
/// the tag `$6`, for the instance `$7`; one row per resource moved.
pub const DETACH: &str = "\
WITH moved AS (DELETE FROM davd_s3_tree WHERE store = $1 \
               AND ((dir = $2 AND name = $3) OR (dir >= $4 AND dir < $5)) \
               RETURNING dir, name, blob, len, etag, created, modified) \
INSERT INTO davd_s3_detached (store, tag, instance, dir, name, blob, len, etag, created, \
modified) SELECT $1, $6, $7, dir, name, blob, len, etag, created, modified FROM moved \
RETURNING 1";

/// Removes the subtree at `$2`, `$3` (range `$4`..`$5`); the blobs its rows named.
pub const REMOVE_TREE: &str = "DELETE FROM davd_s3_tree WHERE store = $1 \
                               AND ((dir = $2 AND name = $3) OR (dir >= $4 AND dir < $5)) \
                               RETURNING blob";

/// Removes the file at `$2`, `$3` (a copy's target); the blob it named.
pub const REMOVE_FILE: &str = "DELETE FROM davd_s3_tree WHERE store = $1 AND dir = $2 \
                               AND name = $3 AND blob IS NOT NULL RETURNING blob";

/// Puts the rows detached under `$2` back where they were; one row per resource.
pub const RESTORE: &str = "\
WITH back AS (DELETE FROM davd_s3_detached WHERE store = $1 AND tag = $2 \
              RETURNING dir, name, blob, len, etag, created, modified) \
INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, created, modified) \
SELECT $1, dir, name, blob, len, etag, created, modified FROM back RETURNING 1";

pub const IS_DETACHED: &str =
    "SELECT 1 FROM davd_s3_detached WHERE store = $1 AND tag = $2 LIMIT 1";

/// Forgets the rows detached under `$2`; the blobs they named.
pub const PURGE: &str = "DELETE FROM davd_s3_detached WHERE store = $1 AND tag = $2 \
                         RETURNING blob";

/// [`PURGE`] and [`RELEASE`] as one statement, for a request that carries the latches'
/// transaction (a PUT purging the row its publish detached there). The outer query sees the
/// tables as they were before the deletion, so the rows being purged do not count as naming
/// their own blobs.
pub const PURGE_CARRIED: &str = "\
WITH gone AS (DELETE FROM davd_s3_detached WHERE store = $1 AND tag = $2 RETURNING blob) \
INSERT INTO davd_s3_unreferenced (store, blob) \
SELECT DISTINCT $1, g.blob FROM gone g WHERE g.blob IS NOT NULL \
AND NOT EXISTS (SELECT 1 FROM davd_s3_tree t WHERE t.store = $1 AND t.blob = g.blob) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_detached d WHERE d.store = $1 AND d.blob = g.blob \
                AND d.tag <> $2) \
ON CONFLICT DO NOTHING";

/// Forgets every row this instance (`$2`) detached; the blobs they named.
pub const PURGE_MINE: &str = "DELETE FROM davd_s3_detached WHERE store = $1 AND instance = $2 \
                              RETURNING blob";

/// Records as unreferenced those of the blobs `$2` that no row names any more (run after
/// the statement that removed the rows, in the same transaction).
pub const RELEASE: &str = "\
INSERT INTO davd_s3_unreferenced (store, blob) \
SELECT $1, b FROM unnest($2::text[]) AS b \
WHERE NOT EXISTS (SELECT 1 FROM davd_s3_tree WHERE store = $1 AND blob = b) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_detached WHERE store = $1 AND blob = b) \
ON CONFLICT DO NOTHING";

/// A new row at `$4`, `$5` (parent `$6`, `$7`) naming the blob of the file at `$2`, `$3`,
/// with the entity tag `$8`; a row if it was made. Replaces a file already there, whose
/// blob the caller releases.
pub const COPY_FILE: &str = "\
INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, created, modified) \
SELECT $1, $4, $5, s.blob, s.len, $8, now(), now() FROM davd_s3_tree s \
WHERE s.store = $1 AND s.dir = $2 AND s.name = $3 AND s.blob IS NOT NULL \
AND EXISTS (SELECT 1 FROM davd_s3_tree p WHERE p.store = $1 AND p.dir = $6 AND p.name = $7 \
            AND p.blob IS NULL) \
RETURNING 1";

/// Rewrites the prefix `$2` (range `$2`..`$3`) of every `dir` below the source to `$4`;
/// `$5` is the position after the old prefix, in characters.
pub const MOVE_BELOW: &str = "UPDATE davd_s3_tree SET dir = $4 || substr(dir, $5) \
                              WHERE store = $1 AND dir >= $2 AND dir < $3";
pub const MOVE_ROOT: &str = "UPDATE davd_s3_tree SET dir = $4, name = $5 \
                             WHERE store = $1 AND dir = $2 AND name = $3 RETURNING 1";

/// Sets the time `$4` and a new entity tag `$5`; the time before.
pub const SET_MODIFIED: &str = "\
WITH old AS (SELECT modified FROM davd_s3_tree WHERE store = $1 AND dir = $2 AND name = $3) \
UPDATE davd_s3_tree SET modified = $4, etag = $5 WHERE store = $1 AND dir = $2 AND name = $3 \
RETURNING (SELECT modified FROM old)";

/// A fresh opaque entity tag: every write, copy and new time gets one.
pub fn fresh_etag() -> String {
    format!("s{}", uuid::Uuid::new_v4().simple())
}

/// A row's metadata, from its columns `blob, len, etag, created, modified` starting at
/// column `first`, and its blob.
pub fn meta(row: &Row, first: usize) -> SubsystemResult<(ResourceMeta, Option<String>)> {
    let read = || -> Result<_, tokio_postgres::Error> {
        let blob: Option<String> = row.try_get(first)?;
        let len: i64 = row.try_get(first + 1)?;
        let etag: String = row.try_get(first + 2)?;
        let created: SystemTime = row.try_get(first + 3)?;
        let modified: SystemTime = row.try_get(first + 4)?;
        Ok((blob, len, etag, created, modified))
    };
    let (blob, len, etag, created, modified) = read()
        .map_err(|e| SubsystemError::internal(format!("an unreadable row of the tree: {e}")))?;
    Ok((
        ResourceMeta {
            collection: blob.is_none(),
            len: u64::try_from(len).unwrap_or(0),
            modified,
            created: Some(created),
            etag,
            content_type: None,
        },
        blob,
    ))
}
