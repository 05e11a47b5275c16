//! Content-Range uploads: a segment written in place at its offset (resumable uploads). Not
//! undoable, like any in-place write; the request's latch keeps others out meanwhile.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use cap_std::fs::{Dir, OpenOptions};
use futures_util::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use davd_registry::{ByteStream, StatusCode, SubsystemError, SubsystemResult, WriteReceipt};

use super::meta::resource_meta;
use super::require_parent_collection;
use super::resolve::not_found_is_none;
use super::special::is_resource;
use crate::blocking::blocking;

/// Writes `body` into the file at `rel` from byte `offset` on, creating it if missing, and
/// cuts it to `total` bytes when the client names a total smaller than the file.
pub(super) async fn write(
    dir: Arc<Dir>,
    rel: PathBuf,
    mut body: ByteStream,
    offset: u64,
    total: Option<u64>,
    fsync: bool,
) -> SubsystemResult<WriteReceipt> {
    let (file, existed) = blocking(move || {
        require_parent_collection(&dir, &rel)?;
        let existed = match not_found_is_none(dir.metadata(&rel))? {
            Some(m) if m.is_dir() => {
                return Err(SubsystemError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "cannot PUT onto a collection",
                ));
            }
            Some(m) if !is_resource(&m) => {
                return Err(SubsystemError::conflict(
                    "the path names something that is not a file",
                ));
            }
            Some(_) => true,
            None => false,
        };
        let mut options = OpenOptions::new();
        options.write(true).create(true);
        Ok((dir.open_with(&rel, &options)?.into_std(), existed))
    })
    .await?;
    let mut file = tokio::fs::File::from_std(file);
    file.seek(io::SeekFrom::Start(offset)).await?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    while let Some(chunk) = body.next().await {
        writer.write_all(&chunk?).await?;
    }
    writer.flush().await?;
    let file = writer.into_inner();
    if let Some(total) = total
        && file.metadata().await?.len() > total
    {
        file.set_len(total).await?;
    }
    if fsync {
        file.sync_data().await?;
    }
    let file = file.into_std().await;
    let meta = blocking(move || {
        Ok(resource_meta(
            &cap_std::fs::File::from_std(file).metadata()?,
        ))
    })
    .await?;
    Ok(WriteReceipt {
        created: !existed,
        previous: None,
        meta,
        replaced: None,
    })
}
