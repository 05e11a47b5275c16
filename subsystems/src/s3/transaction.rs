//! Changes of several rows, or of whole trees, as one transaction of their own; and which
//! blobs they leave unreferenced.

use tokio_postgres::types::ToSql;

use davd_registry::{SubsystemError, SubsystemResult};

use super::{S3Namespace, tree};
use crate::postgres::{OPERATION_TIMEOUT, TREE_TIMEOUT, db_error, tree_timeout};

impl S3Namespace {
    /// Runs `statements` (SQL and its parameters after the store) in one transaction, each
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
                let mut session = self.cluster.session().await?;
                let client = session.client();
                let tx = client.transaction().await.map_err(|e| db_error(&e))?;
                tx.batch_execute(&tree_timeout())
                    .await
                    .map_err(|e| db_error(&e))?;
                let mut answers = Vec::with_capacity(statements.len());
                for (sql, params) in statements {
                    let mut all: Vec<&(dyn ToSql + Sync)> = vec![store];
                    all.extend_from_slice(params);
                    let statement = tx.prepare_cached(sql).await.map_err(|e| db_error(&e))?;
                    let rows = tx.query(&statement, &all).await.map_err(|e| db_error(&e))?;
                    answers.push(rows);
                }
                let released = released_blobs(&answers, release)?;
                if !released.is_empty() {
                    tx.execute(tree::RELEASE, &[store, &released])
                        .await
                        .map_err(|e| db_error(&e))?;
                }
                // Every row changed, nothing committed: a crash here must change nothing.
                #[cfg(debug_assertions)]
                super::failpoint::boundary(&format!("commit-{}", what(statements)));
                tx.commit().await.map_err(|e| db_error(&e))?;
                session.done();
                Ok(answers)
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
    let mut blobs = Vec::new();
    for row in answers.get(index).into_iter().flatten() {
        let blob: Option<String> = row
            .try_get(0)
            .map_err(|e| SubsystemError::internal(format!("an unreadable row: {e}")))?;
        blobs.extend(blob);
    }
    blobs.sort();
    blobs.dedup();
    Ok(blobs)
}
