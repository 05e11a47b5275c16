//! Dead properties in the table `davd_props`, one row per property of a resource, keyed by
//! the resource's parent (`dir`), its name, and the property's namespace and local name
//! (`paths.rs`). Document ids and ResourceTags are dead properties in davd's internal
//! namespace, so they live here too and move with their resources.
//!
//! Every change of more than one row is one transaction: a PROPPATCH, and the removal, move
//! or copy of a property tree, through [`PropertyManager::apply`] with the request's marker
//! in the same transaction (`properties/transaction.rs`). Its COMMIT has returned before the
//! executive answers.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use davd_registry::{
    ChangeLog, DavPath, Marker, PropChange, PropName, PropPage, PropertyManager, PropsByPath,
    StoredProp, SubsystemError, SubsystemResult, prop_size,
};

use super::client::{Cluster, OPERATION_TIMEOUT, db_error};
use super::{PgChangeLog, markers, paths};

mod transaction;

const GET: &str =
    "SELECT xml FROM davd_props WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4";
const GET_ALL: &str =
    "SELECT ns, local, xml FROM davd_props WHERE dir = $1 AND name = $2 ORDER BY ns, local";
const CHILDREN: &str =
    "SELECT name, ns, local, xml FROM davd_props WHERE dir = $1 ORDER BY name, ns, local";
const MEMBERS: &str = "SELECT name, ns, local, xml FROM davd_props \
                       WHERE dir = $1 AND name = ANY($2) ORDER BY name, ns, local";

/// What a row counts against a budget, [`prop_size`] without the member's name, measured by
/// the database from the lengths alone, without reading the values.
macro_rules! row_cost {
    () => {
        "(octet_length(ns) + octet_length(local) + octet_length(xml) + 64)"
    };
}

/// One page of a resource's properties after the name (`$3`, `$4`), within the budget `$5`:
/// the rows that fit (the first always does), each with its value, then the first that does
/// not, without its value (it says more follow; `n <= 2` keeps it when the first row alone is
/// over the budget). A row's `ahead` is what the rows before it cost, so the rows after that
/// first misfit are left out without being sent; the candidates
/// are at most `$6` rows in name order (what fits in `$5` bytes at least), read by the primary
/// key's order and no further.
const PAGE: &str = concat!(
    "SELECT ns, local, CASE WHEN fits THEN xml END, fits FROM (",
    "SELECT ns, local, xml, n = 1 OR ahead + cost <= $5 AS fits, ahead, n FROM (",
    "SELECT ns, local, xml, ",
    row_cost!(),
    " AS cost, coalesce(sum(",
    row_cost!(),
    ") OVER (ORDER BY ns, local ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS ahead, ",
    "row_number() OVER (ORDER BY ns, local) AS n FROM (",
    "SELECT ns, local, xml FROM davd_props WHERE dir = $1 AND name = $2 AND (ns, local) > ($3, $4) ",
    "ORDER BY ns, local LIMIT $6) candidates) costed) page ",
    "WHERE ahead <= $5 OR n <= 2 ORDER BY ns, local"
);

/// The properties of the members named in `$2` (sorted, from `$3` to `$4`) of the collection
/// whose members' `dir` is `$1`, in order, while their running cost stays within `$5`, then the
/// first row past it without its value (the batch does not fit); at most `$6` candidates.
const MEMBERS_WITHIN: &str = concat!(
    "SELECT name, ns, local, CASE WHEN fits THEN xml END, fits FROM (",
    "SELECT name, ns, local, xml, ahead + cost <= $5 AS fits, ahead FROM (",
    "SELECT name, ns, local, xml, ",
    "octet_length(name) + ",
    row_cost!(),
    " AS cost, coalesce(sum(",
    "octet_length(name) + ",
    row_cost!(),
    ") OVER (ORDER BY name, ns, local ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) \
     AS ahead FROM (",
    "SELECT name, ns, local, xml FROM davd_props \
     WHERE dir = $1 AND name >= $3 AND name <= $4 AND name = ANY($2) ",
    "ORDER BY name, ns, local LIMIT $6) candidates) costed) batch ",
    "WHERE ahead <= $5 ORDER BY name, ns, local"
);

/// Sets a value and returns the one it replaces (`old` sees the table as it was before the
/// statement).
const SET: &str = "WITH old AS (SELECT xml FROM davd_props \
                   WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4), \
                   new AS (INSERT INTO davd_props (dir, name, ns, local, xml) \
                   VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml) \
                   SELECT xml FROM old";
/// [`SET`]'s parameters: `prop` at the place `paths::split` gave (`dir`, `name`). The
/// single write and a batch's transaction both send them.
pub(super) fn set_params<'a>(
    dir: &'a String,
    name: &'a String,
    prop: &'a StoredProp,
) -> [&'a (dyn ToSql + Sync); 5] {
    [dir, name, &prop.name.namespace, &prop.name.local, &prop.xml]
}
/// Sets a value, for a write whose answer nobody waits for (`Cluster::send_carried`).
const UPSERT: &str = "INSERT INTO davd_props (dir, name, ns, local, xml) \
                      VALUES ($1, $2, $3, $4, $5) \
                      ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml";
const REMOVE: &str = "DELETE FROM davd_props \
                      WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4 RETURNING xml";
/// A resource's rows and everything below it: `$1`/`$2` its own place, `$3`..`$4` the
/// range of `dir` below it.
const TREE: &str = "SELECT dir, name, ns, local, xml FROM davd_props \
                    WHERE (dir = $1 AND name = $2) OR (dir >= $3 AND dir < $4)";
const REMOVE_TREE: &str = "DELETE FROM davd_props \
                           WHERE (dir = $1 AND name = $2) OR (dir >= $3 AND dir < $4) \
                           RETURNING dir, name, ns, local, xml";
const PUT_MANY: &str = "INSERT INTO davd_props (dir, name, ns, local, xml) \
                        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                        $5::text[]) \
                        ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml";

/// The marker store's name for this table.
const STORE: &str = "props";

/// Dead properties in the cluster's database.
pub struct PgProperties {
    cluster: Cluster,
    changes: PgChangeLog,
}

impl PgProperties {
    pub fn new(cluster: Cluster) -> Self {
        PgProperties {
            changes: PgChangeLog::new(cluster.clone()),
            cluster,
        }
    }

    /// Runs `sql` (`GET` or `REMOVE`: parameters `dir, name, ns, local`, one `xml` column)
    /// for the property `name` of `path`; the value it returns, if any.
    async fn one_value(
        &self,
        sql: &str,
        path: &DavPath,
        name: &PropName,
    ) -> SubsystemResult<Option<StoredProp>> {
        let (dir, resource) = paths::split(path);
        let rows = self
            .cluster
            .query(
                sql,
                &[
                    &dir,
                    &resource,
                    &name.namespace.as_ref(),
                    &name.local.as_ref(),
                ],
            )
            .await?;
        match rows.first() {
            Some(row) => Ok(Some(StoredProp {
                name: name.clone(),
                xml: text(row, 0)?,
            })),
            None => Ok(None),
        }
    }
}

fn text(row: &Row, index: usize) -> SubsystemResult<String> {
    row.try_get(index).map_err(|e| db_error(&e))
}

/// A budget as the database compares it, and how many rows can fit in it at most: each
/// costs more than the allowance of [`prop_size`] (64 bytes), so a budget of `b` bytes holds
/// at most `b / 64` rows after the first, and one more row says whether more follow.
fn bounds(budget: usize) -> (i64, i64) {
    let budget = i64::try_from(budget).unwrap_or(i64::MAX);
    (budget, (budget / 64).saturating_add(2))
}

/// The value of a row of [`PAGE`] or [`MEMBERS_WITHIN`] (column `value`, flag `fits`); `None`
/// for the row past the budget.
fn fitting_value(row: &Row, fits: usize, value: usize) -> SubsystemResult<Option<String>> {
    let fits: bool = row.try_get(fits).map_err(|e| db_error(&e))?;
    if !fits {
        return Ok(None);
    }
    text(row, value).map(Some)
}

/// A property from the columns `ns, local, xml` starting at `first`.
fn prop(row: &Row, first: usize) -> SubsystemResult<StoredProp> {
    Ok(StoredProp {
        name: PropName::new(text(row, first)?, text(row, first + 1)?),
        xml: text(row, first + 2)?,
    })
}

/// A row of `dir, name, ns, local, xml` as the path and its property.
fn path_and_prop(row: &Row) -> SubsystemResult<(DavPath, StoredProp)> {
    Ok((paths::join(&text(row, 0)?, &text(row, 1)?)?, prop(row, 2)?))
}

#[async_trait]
impl PropertyManager for PgProperties {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn survives_restart(&self) -> bool {
        true
    }

    /// The database's one log, shared by every instance and mount.
    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(&self.changes)
    }

    async fn get(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.one_value(GET, path, name).await
    }

    async fn get_all(&self, path: &DavPath) -> SubsystemResult<Vec<StoredProp>> {
        let (dir, name) = paths::split(path);
        let rows = self.cluster.query(GET_ALL, &[&dir, &name]).await?;
        rows.iter().map(|row| prop(row, 0)).collect()
    }

    async fn get_children(
        &self,
        parent: &DavPath,
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let dir = paths::children(parent);
        // Streamed, so that a directory whose properties exceed the limit is never read
        // whole: the rest of the rows are let go unread.
        self.cluster
            .within(OPERATION_TIMEOUT, async {
                let mut session = self.cluster.session().await?;
                let client = session.client();
                let statement = client
                    .prepare_cached(CHILDREN)
                    .await
                    .map_err(|e| db_error(&e))?;
                let rows = client
                    .query_raw(&statement, [&dir])
                    .await
                    .map_err(|e| db_error(&e))?;
                pin_mut!(rows);
                let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
                let mut size = 0usize;
                while let Some(row) = rows.next().await {
                    let row = row.map_err(|e| db_error(&e))?;
                    let member = text(&row, 0)?;
                    let prop = prop(&row, 1)?;
                    size = size.saturating_add(prop_size(&member, &prop));
                    if size > limit {
                        return Ok(None);
                    }
                    out.entry(member).or_default().push(prop);
                }
                session.done();
                Ok(Some(out))
            })
            .await
    }

    async fn get_members(
        &self,
        parent: &DavPath,
        names: &[&str],
    ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>> {
        let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
        if names.is_empty() {
            return Ok(out);
        }
        let dir = paths::children(parent);
        let rows = self.cluster.query(MEMBERS, &[&dir, &names]).await?;
        for row in &rows {
            out.entry(text(row, 0)?).or_default().push(prop(row, 1)?);
        }
        Ok(out)
    }

    /// One ordered, limited statement that stops at the limit: the database sends the rows
    /// that fit and a row without its value past them, never the rest.
    async fn get_members_within(
        &self,
        parent: &DavPath,
        names: &[&str],
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
        let (Some(first), Some(last)) = (names.first(), names.last()) else {
            return Ok(Some(out));
        };
        let dir = paths::children(parent);
        let (limit, candidates) = bounds(limit);
        let rows = self
            .cluster
            .query(
                MEMBERS_WITHIN,
                &[&dir, &names, first, last, &limit, &candidates],
            )
            .await?;
        for row in &rows {
            let Some(xml) = fitting_value(row, 4, 3)? else {
                return Ok(None);
            };
            out.entry(text(row, 0)?).or_default().push(StoredProp {
                name: PropName::new(text(row, 1)?, text(row, 2)?),
                xml,
            });
        }
        Ok(Some(out))
    }

    /// One ordered, limited statement per page: the database sends the page's rows and, when
    /// more follow, one row without its value, never the rest of the resource's properties.
    async fn get_page(
        &self,
        path: &DavPath,
        after: Option<&PropName>,
        budget: usize,
    ) -> SubsystemResult<PropPage> {
        let (dir, name) = paths::split(path);
        // Every stored name has a local part (an XML name is never empty), so every
        // property comes after ("", "").
        let (after_ns, after_local) = match after {
            Some(after) => (after.namespace.as_ref(), after.local.as_ref()),
            None => ("", ""),
        };
        let (budget, candidates) = bounds(budget);
        let rows = self
            .cluster
            .query(
                PAGE,
                &[&dir, &name, &after_ns, &after_local, &budget, &candidates],
            )
            .await?;
        let mut page = PropPage::default();
        for row in &rows {
            let Some(xml) = fitting_value(row, 3, 2)? else {
                page.more = true;
                break;
            };
            page.props.push(StoredProp {
                name: PropName::new(text(row, 0)?, text(row, 1)?),
                xml,
            });
        }
        Ok(page)
    }

    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>> {
        let (dir, resource) = paths::split(path);
        let rows = self
            .cluster
            .query(SET, &set_params(&dir, &resource, &prop))
            .await?;
        match rows.first() {
            Some(row) => Ok(Some(StoredProp {
                name: prop.name,
                xml: text(row, 0)?,
            })),
            None => Ok(None),
        }
    }

    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.one_value(REMOVE, path, name).await
    }

    async fn get_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        let (dir, name) = paths::split(path);
        let (from, to) = paths::below(path);
        let rows = self
            .cluster
            .query_tree(TREE, &[&dir, &name, &from, &to])
            .await?;
        rows.iter().map(path_and_prop).collect()
    }

    async fn remove_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        let (dir, name) = paths::split(path);
        let (from, to) = paths::below(path);
        let rows = self
            .cluster
            .query_tree(REMOVE_TREE, &[&dir, &name, &from, &to])
            .await?;
        rows.iter().map(path_and_prop).collect()
    }

    async fn put_many(&self, props: PropsByPath) -> SubsystemResult<()> {
        // One statement; a later value for the same property wins, as if set in order.
        let mut rows: HashMap<(String, String, String, String), String> = HashMap::new();
        for (path, prop) in props {
            let (dir, name) = paths::split(&path);
            rows.insert(
                (
                    dir,
                    name,
                    prop.name.namespace.into_owned(),
                    prop.name.local.into_owned(),
                ),
                prop.xml,
            );
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut columns: [Vec<String>; 5] = Default::default();
        for ((dir, name, ns, local), xml) in rows {
            for (column, value) in columns.iter_mut().zip([dir, name, ns, local, xml]) {
                column.push(value);
            }
        }
        let [dirs, names, namespaces, locals, values] = &columns;
        self.cluster
            .query_tree(PUT_MANY, &[dirs, names, namespaces, locals, values])
            .await?;
        Ok(())
    }

    async fn move_tree(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        self.transaction(
            &[PropChange::MoveTree {
                from: from.clone(),
                to: to.clone(),
            }],
            Marker::None,
        )
        .await?;
        Ok(())
    }

    /// One transaction, with the marker in it. A change to one property without a marker
    /// (the document record of a plain PUT) is one statement, atomic on its own.
    async fn apply(
        &self,
        changes: &[PropChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<PropChange>> {
        if let ([PropChange::Set { path, prop }], Marker::None) = (changes, marker) {
            // In the latches' transaction a PUT carries, the write goes out without waiting
            // and is answered with the commit. Its undo is that transaction's rollback, which
            // is what a failed request gets, so it needs no inverse here.
            let (dir, resource) = paths::split(path);
            let params = vec![
                dir,
                resource,
                prop.name.namespace.to_string(),
                prop.name.local.to_string(),
                prop.xml.clone(),
            ];
            if self.cluster.send_carried(UPSERT, params).await? {
                return Ok(Vec::new());
            }
            let old = self.set(path, prop.clone()).await?;
            return Ok(vec![match old {
                Some(old) => PropChange::Set {
                    path: path.clone(),
                    prop: old,
                },
                None => PropChange::Remove {
                    path: path.clone(),
                    name: prop.name.clone(),
                },
            }]);
        }
        self.transaction(changes, marker).await.map_err(|e| {
            // Whether it went in is for the marker to say, once the database answers.
            if matches!(marker, Marker::Record(_))
                && e.status == davd_registry::StatusCode::SERVICE_UNAVAILABLE
            {
                SubsystemError::outcome_unknown(e.message)
            } else {
                e
            }
        })
    }

    async fn has_marker(&self, marker: &str) -> SubsystemResult<bool> {
        markers::has(&self.cluster, STORE, marker).await
    }

    async fn forget_markers(&self, forget: &[String]) -> SubsystemResult<()> {
        markers::forget(&self.cluster, STORE, forget).await
    }

    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        markers::mine(&self.cluster, STORE).await
    }
}
