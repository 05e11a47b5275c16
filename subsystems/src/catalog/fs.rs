//! Kind `fs`: a namespace serving a directory, `{ kind = "fs", root = "DIR" }`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use davd_registry::{DavPath, NamespaceManager};

use super::{ConfigProblem, Configured, Kind, KindConfig, Open, OpenContext, OpenError, Opener};
use crate::fs::{FsNamespace, FsOptions};

pub const KIND: Kind = Kind::new("fs").namespace(namespace);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    root: Option<String>,
}

fn namespace(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    let table: Table = config.parse()?;
    let root = table
        .root
        .ok_or_else(|| config.problem("needs root = \"DIR\", the directory to serve"))?;
    Ok(Arc::new(ServeDirectory {
        root: config.path(&root),
    }))
}

/// The root's default namespace: the directory given by `--root`.
pub(super) fn serving(dir: &Path) -> Configured<dyn NamespaceManager> {
    Configured::new(
        KIND.name,
        Arc::new(ServeDirectory {
            root: dir.to_path_buf(),
        }),
    )
}

struct ServeDirectory {
    root: PathBuf,
}

#[async_trait]
impl Open<dyn NamespaceManager> for ServeDirectory {
    async fn open(
        &self,
        cx: &OpenContext,
        _scope: &DavPath,
    ) -> Result<Arc<dyn NamespaceManager>, OpenError> {
        let options = FsOptions {
            fsync: cx.fsync(),
            inline_io: cx.fs_inline_io(),
            reserve: cx.reserve(),
            instance: cx.instance().map(str::to_owned),
        };
        let namespace = FsNamespace::open(&self.root, options).map_err(|e| {
            OpenError::new(format!(
                "cannot use the served directory {}: {e}",
                self.root.display()
            ))
        })?;
        Ok(Arc::new(namespace))
    }

    fn served_directory(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn serving_directory(&self, dir: &Path) -> Option<Opener<dyn NamespaceManager>> {
        Some(Arc::new(ServeDirectory {
            root: dir.to_path_buf(),
        }))
    }
}
