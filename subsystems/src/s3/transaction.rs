//! Changes of several rows, or of whole trees, as one unit; and which blobs they leave
//! unreferenced.
//!
//! A unit rides the latches' transaction when the request carries it (MKCOL, DELETE, COPY,
//! MOVE and their undo, as PUT's publish does): the change counts only once the latches'
//! commit does, so an instance that lost its latch changes nothing of the tree. Inside that
//! transaction the unit is a savepoint, so a statement that fails takes back only its own
//! unit. Without a carried transaction (background work, startup recovery), it is a
//! transaction of its own (`postgres/unit.rs`).

use tokio_postgres::types::ToSql;

use davd_registry::{SubsystemError, SubsystemResult};

use super::{S3Namespace, tree};
use crate::postgres::{OPERATION_TIMEOUT, Ride, TREE_TIMEOUT};

impl S3Namespace {
    /// Runs `statements` (SQL and its parameters after the store) as one unit, each
    /// statement's rows returned; for changes of whole trees, which may take up to
    /// [`TREE_TIMEOUT`].
    pub(super) async fn transaction(
        &self,
        statements: &[(&str, &[&(dyn ToSql + Sync)])],
        release: ReleaseFrom,
    ) -> SubsystemResult<Vec<Vec<tokio_postgres::Row>>> {
        let store = &self.store;
        self.cluster
            .within(TREE_TIMEOUT + OPERATION_TIMEOUT, async {
                let mut unit = self.cluster.unit(Ride::Carried).await?;
                let outcome = async {
                    let mut answers = Vec::with_capacity(statements.len());
                    for (sql, params) in statements {
                        let mut all: Vec<&(dyn ToSql + Sync)> = vec![store];
                        all.extend_from_slice(params);
                        answers.push(unit.query(sql, &all).await?);
                    }
                    let released = released_blobs(&answers, release)?;
                    if !released.is_empty() {
                        unit.query(tree::RELEASE, &[store, &released]).await?;
                    }
                    // Every row changed, nothing committed: a crash here must change nothing.
                    #[cfg(debug_assertions)]
                    super::failpoint::boundary(&format!("commit-{}", what(statements)));
                    Ok(answers)
                }
                .await;
                unit.finish(outcome).await
            })
            .await
    }
}

/// What a transaction does, by its first statement, for the name of its fail point
/// (`s3:commit-move`, `s3:commit-detach`, ...): tests abort one kind of change, not the
/// purge of leftovers every startup runs.
#[cfg(debug_assertions)]
fn what(statements: &[(&str, &[&(dyn ToSql + Sync)])]) -> &'static str {
    let first = statements.first().map_or("", |(sql, _)| *sql);
    [
        (tree::MOVE_ROOT, "move"),
        (tree::DETACH, "detach"),
        (tree::REMOVE_TREE, "restore"),
        (tree::PURGE, "purge"),
        (tree::PURGE_MINE, "leftovers"),
        (tree::REMOVE_FILE, "copy"),
    ]
    .iter()
    .find(|(sql, _)| *sql == first)
    .map_or("other", |(_, name)| *name)
}

/// Which statements of a transaction return the blobs of rows they removed.
#[derive(Clone, Copy)]
pub(super) enum ReleaseFrom {
    Nothing,
    Statement(usize),
}

fn released_blobs(
    answers: &[Vec<tokio_postgres::Row>],
    release: ReleaseFrom,
) -> SubsystemResult<Vec<String>> {
    let ReleaseFrom::Statement(index) = release else {
        return Ok(Vec::new());
    };
    blobs_named(answers.get(index).into_iter().flatten())
}

/// The blobs that removed rows named (their first column; a collection's is NULL), each once.
pub(super) fn blobs_named<'a>(
    rows: impl IntoIterator<Item = &'a tokio_postgres::Row>,
) -> SubsystemResult<Vec<String>> {
    let mut blobs = Vec::new();
    for row in rows {
        let blob: Option<String> = row
            .try_get(0)
            .map_err(|e| SubsystemError::internal(format!("an unreadable row: {e}")))?;
        blobs.extend(blob);
    }
    blobs.sort();
    blobs.dedup();
    Ok(blobs)
}
