//! A batch of property changes as one transaction (a PROPPATCH, the removal or move of a
//! property tree, with the request's marker), and the changes that undo it, gathered from
//! what each statement replaced or removed.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use davd_registry::{DavPath, Marker, PropChange, PropName, StoredProp, SubsystemResult};

use super::{PgProperties, REMOVE, REMOVE_TREE, SET, STORE, set_params};
use crate::postgres::client::{
    OPERATION_TIMEOUT, TREE_TIMEOUT, commit_error, db_error, tree_timeout,
};
use crate::postgres::{markers, paths};

/// Rewrites the prefix `$1` (range `$1`..`$2`) of every `dir` below the source to `$3`;
/// `$4` is the position after the old prefix, in characters.
const MOVE_BELOW: &str =
    "UPDATE davd_props SET dir = $3 || substr(dir, $4) WHERE dir >= $1 AND dir < $2";
const MOVE_ROOT: &str = "UPDATE davd_props SET dir = $3, name = $4 WHERE dir = $1 AND name = $2";

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
                .query_opt(&statement, &set_params(&dir, &name, prop))
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
    pub(super) async fn transaction(
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
