//! Dead properties in the table `davd_props`, one row per property of a resource, keyed by
//! the resource's parent (`dir`), its name, and the property's namespace and local name
//! (`paths.rs`). Document ids and ResourceTags are dead properties in davd's internal
//! namespace, so they live here too and move with their resources.
//!
//! Every change of more than one row is one transaction: a PROPPATCH, and the removal, move
//! or copy of a property tree, through [`PropertyManager::apply`] with the request's marker
//! in the same transaction. Its COMMIT has returned before the executive answers.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::Row;

use davd_registry::{
    DavPath, Marker, PropChange, PropName, PropertyManager, PropsByPath, StoredProp,
    SubsystemError, SubsystemResult, prop_size,
};

use super::client::{
    Cluster, OPERATION_TIMEOUT, TREE_TIMEOUT, commit_error, db_error, tree_timeout,
};
use super::{markers, paths};

const GET: &str =
    "SELECT xml FROM davd_props WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4";
const GET_ALL: &str =
    "SELECT ns, local, xml FROM davd_props WHERE dir = $1 AND name = $2 ORDER BY ns, local";
const CHILDREN: &str =
    "SELECT name, ns, local, xml FROM davd_props WHERE dir = $1 ORDER BY name, ns, local";
const MEMBERS: &str = "SELECT name, ns, local, xml FROM davd_props \
                       WHERE dir = $1 AND name = ANY($2) ORDER BY name, ns, local";
/// Sets a value and returns the one it replaces (`old` sees the table as it was before the
/// statement).
const SET: &str = "WITH old AS (SELECT xml FROM davd_props \
                   WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4), \
                   new AS (INSERT INTO davd_props (dir, name, ns, local, xml) \
                   VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml) \
                   SELECT xml FROM old";
const REMOVE: &str = "DELETE FROM davd_props \
                      WHERE dir = $1 AND name = $2 AND ns = $3 AND local = $4 RETURNING xml";
/// A resource's rows and everything below it: `$1`/`$2` its own place, `$3`..`$4` the
/// range of `dir` below it.
const TREE: &str = "SELECT dir, name, ns, local, xml FROM davd_props \
                    WHERE (dir = $1 AND name = $2) OR (dir >= $3 AND dir < $4)";
const REMOVE_TREE: &str = "DELETE FROM davd_props \
                           WHERE (dir = $1 AND name = $2) OR (dir >= $3 AND dir < $4) \
                           RETURNING dir, name, ns, local, xml";
/// Rewrites the prefix `$1` (range `$1`..`$2`) of every `dir` below the source to `$3`;
/// `$4` is the position after the old prefix, in characters.
const MOVE_BELOW: &str =
    "UPDATE davd_props SET dir = $3 || substr(dir, $4) WHERE dir >= $1 AND dir < $2";
const MOVE_ROOT: &str = "UPDATE davd_props SET dir = $3, name = $4 WHERE dir = $1 AND name = $2";
const PUT_MANY: &str = "INSERT INTO davd_props (dir, name, ns, local, xml) \
                        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                        $5::text[]) \
                        ON CONFLICT (dir, name, ns, local) DO UPDATE SET xml = EXCLUDED.xml";

/// The marker store's name for this table.
const STORE: &str = "props";

/// Dead properties in the cluster's database.
pub struct PgProperties {
    cluster: Cluster,
}

impl PgProperties {
    pub fn new(cluster: Cluster) -> Self {
        PgProperties { cluster }
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

/// True for changes that may touch a whole tree (and get the longer timeout).
fn touches_trees(changes: &[PropChange]) -> bool {
    changes.iter().any(|c| {
        matches!(
            c,
            PropChange::RemoveTree { .. } | PropChange::MoveTree { .. }
        )
    })
}

/// The statements of one change, inside the batch's transaction; what undoes it.
async fn change(
    tx: &Transaction<'_>,
    change: &PropChange,
    undo: &mut Vec<PropChange>,
) -> Result<(), tokio_postgres::Error> {
    match change {
        PropChange::Set { path, prop } => {
            let (dir, name) = paths::split(path);
            let statement = tx.prepare_cached(SET).await?;
            let old = tx
                .query_opt(
                    &statement,
                    &[
                        &dir,
                        &name,
                        &prop.name.namespace.as_ref(),
                        &prop.name.local.as_ref(),
                        &prop.xml,
                    ],
                )
                .await?;
            undo.push(match old {
                Some(row) => PropChange::Set {
                    path: path.clone(),
                    prop: StoredProp {
                        name: prop.name.clone(),
                        xml: row.try_get(0)?,
                    },
                },
                None => PropChange::Remove {
                    path: path.clone(),
                    name: prop.name.clone(),
                },
            });
        }
        PropChange::Remove { path, name: prop } => {
            let (dir, name) = paths::split(path);
            let statement = tx.prepare_cached(REMOVE).await?;
            let old = tx
                .query_opt(
                    &statement,
                    &[&dir, &name, &prop.namespace.as_ref(), &prop.local.as_ref()],
                )
                .await?;
            if let Some(row) = old {
                undo.push(PropChange::Set {
                    path: path.clone(),
                    prop: StoredProp {
                        name: prop.clone(),
                        xml: row.try_get(0)?,
                    },
                });
            }
        }
        PropChange::RemoveTree { path } => remove_tree(tx, path, undo).await?,
        PropChange::MoveTree { from, to } => {
            remove_tree(tx, to, undo).await?;
            move_tree(tx, from, to).await?;
            undo.push(PropChange::MoveTree {
                from: to.clone(),
                to: from.clone(),
            });
        }
    }
    Ok(())
}

/// Removes the tree at `path`, adding what puts it back to `undo`.
async fn remove_tree(
    tx: &Transaction<'_>,
    path: &DavPath,
    undo: &mut Vec<PropChange>,
) -> Result<(), tokio_postgres::Error> {
    let (dir, name) = paths::split(path);
    let (from, to) = paths::below(path);
    let statement = tx.prepare_cached(REMOVE_TREE).await?;
    for row in tx.query(&statement, &[&dir, &name, &from, &to]).await? {
        let (Ok(path), Ok(prop)) = (
            paths::join(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            prop_columns(&row),
        ) else {
            continue; // a row that is no property of a path cannot be put back anyway
        };
        undo.push(PropChange::Set { path, prop });
    }
    Ok(())
}

fn prop_columns(row: &Row) -> Result<StoredProp, tokio_postgres::Error> {
    Ok(StoredProp {
        name: PropName::new(row.try_get::<_, String>(2)?, row.try_get::<_, String>(3)?),
        xml: row.try_get(4)?,
    })
}

/// Moves the rows of `from` and below to `to`, where there are none (the caller removed
/// them first).
async fn move_tree(
    tx: &Transaction<'_>,
    from: &DavPath,
    to: &DavPath,
) -> Result<(), tokio_postgres::Error> {
    let (old_prefix, old_end) = paths::below(from);
    let new_prefix = paths::children(to);
    let after_prefix = old_prefix.chars().count() as i32 + 1;
    let statement = tx.prepare_cached(MOVE_BELOW).await?;
    tx.execute(
        &statement,
        &[&old_prefix, &old_end, &new_prefix, &after_prefix],
    )
    .await?;
    let (from_dir, from_name) = paths::split(from);
    let (to_dir, to_name) = paths::split(to);
    let statement = tx.prepare_cached(MOVE_ROOT).await?;
    tx.execute(&statement, &[&from_dir, &from_name, &to_dir, &to_name])
        .await?;
    Ok(())
}

impl PgProperties {
    /// Applies `changes` (and the marker) as one transaction; what undoes them.
    async fn transaction(
        &self,
        changes: &[PropChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<PropChange>> {
        let trees = touches_trees(changes);
        let limit = if trees {
            TREE_TIMEOUT + OPERATION_TIMEOUT
        } else {
            OPERATION_TIMEOUT
        };
        self.cluster
            .within(limit, async {
                let mut session = self.cluster.session().await?;
                let client = session.client();
                let tx = client.transaction().await.map_err(|e| db_error(&e))?;
                if trees {
                    tx.batch_execute(&tree_timeout())
                        .await
                        .map_err(|e| db_error(&e))?;
                }
                let mut undo = Vec::new();
                for one in changes {
                    change(&tx, one, &mut undo)
                        .await
                        .map_err(|e| db_error(&e))?;
                }
                markers::write(&tx, STORE, self.cluster.instance(), marker)
                    .await
                    .map_err(|e| db_error(&e))?;
                tx.commit().await.map_err(|e| commit_error(&e))?;
                session.done();
                undo.reverse();
                Ok(undo)
            })
            .await
    }
}

#[async_trait]
impl PropertyManager for PgProperties {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn survives_restart(&self) -> bool {
        true
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

    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>> {
        let (dir, resource) = paths::split(path);
        let rows = self
            .cluster
            .query(
                SET,
                &[
                    &dir,
                    &resource,
                    &prop.name.namespace.as_ref(),
                    &prop.name.local.as_ref(),
                    &prop.xml,
                ],
            )
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
