//! Kind `s3`: a namespace whose tree lives in the cluster's PostgreSQL database and whose
//! bytes are objects in an S3-compatible bucket.
//!
//! ```toml
//! [cluster]
//! database = "postgres://davd@db.internal/davd"
//!
//! [[mount]]
//! scope = "/"
//! namespace = { kind = "s3", bucket = "dav", endpoint = "https://s3.example.net", region = "eu-1", prefix = "davd" }
//! properties = { kind = "postgres" }
//! locks = { kind = "postgres" }
//! ```
//!
//! The keys come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`), or from a TOML file named by `credentials = "FILE"`; they are never
//! printed. See docs/configuration.md and docs/scaling.md.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::info;

use davd_registry::{DavPath, NamespaceManager};

use super::{ConfigProblem, Kind, KindConfig, Open, OpenContext, OpenError, Opener};
use crate::s3::{S3Namespace, S3Settings, S3Table};

pub const KIND: Kind = Kind::new("s3").namespace(namespace);

fn namespace(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    let table: S3Table = config.parse()?;
    let file = table.credentials.as_deref().map(|f| config.path(f));
    let settings = table
        .check(file.as_deref(), |name| std::env::var(name).ok())
        .map_err(|message| config.problem(message))?;
    super::postgres::cluster_table(config).map_err(|_| {
        config.problem(
            "needs a [cluster] table naming the database that keeps the tree \
             (database = \"postgres://...\", see docs/scaling.md)",
        )
    })?;
    Ok(Arc::new(OpenS3 { settings }))
}

struct OpenS3 {
    settings: S3Settings,
}

#[async_trait]
impl Open<dyn NamespaceManager> for OpenS3 {
    async fn open(
        &self,
        cx: &OpenContext,
        scope: &DavPath,
    ) -> Result<Arc<dyn NamespaceManager>, OpenError> {
        let cluster = super::postgres::cluster(cx).await?;
        let namespace = S3Namespace::open(cluster.as_ref().clone(), &self.settings)
            .await
            .map_err(|e| {
                OpenError::new(format!(
                    "cannot use the bucket {} for {scope}: {}",
                    self.settings.bucket, e.message
                ))
            })?;
        let namespace = Arc::new(namespace);
        namespace.collect_in_background();
        info!(
            scope = %scope,
            bucket = %self.settings.bucket,
            endpoint = self.settings.endpoint.as_deref().unwrap_or("(AWS)"),
            prefix = %self.settings.prefix,
            "serving an s3 namespace"
        );
        Ok(namespace)
    }
}
