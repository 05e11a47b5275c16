//! Staging a PUT's body: written into a fresh file of this instance's staging directory
//! before the latch is taken (ADR 0012), a small body gathered and written with one call, a
//! large one streamed through a big buffer, its writeback started as soon as it is all there
//! (ADR 0024), so that publishing it later is a rename with no disk work in it.

use std::os::fd::AsFd;

use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use davd_registry::{
    ByteStream, DavPath, ResourceMeta, Staged, StatusCode, SubsystemError, SubsystemResult,
};

use super::content::SMALL_FILE;
use super::meta::resource_meta;
use super::resolve::relative_or_reserved;
use super::{FsNamespace, quick, staging};
use crate::blocking::blocking;

impl FsNamespace {
    /// [`NamespaceManager::stage`](davd_registry::NamespaceManager::stage): the body into a
    /// fresh file of the staging directory, checked against the space reserve as it grows.
    pub(super) async fn stage_body(
        &self,
        path: &DavPath,
        mut body: ByteStream,
    ) -> SubsystemResult<Staged> {
        relative_or_reserved(path)?;
        if path.is_root() {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "the root is a collection",
            ));
        }
        self.guard.check(0)?;
        let handle = staging::fresh("put");
        let temp = self.staging.path_of(&handle)?;
        let staged = |meta: ResourceMeta| Staged {
            path: path.clone(),
            handle: handle.clone(),
            len: meta.len,
            meta: Some(meta),
            keep_previous: true,
            backup_tag: None,
            buffered: None,
        };
        // A small body is gathered in memory and written with one call; a large one is
        // streamed through a big buffer as it arrives.
        let mut head = bytes::BytesMut::new();
        let mut rest_follows = false;
        while let Some(chunk) = body.next().await {
            head.extend_from_slice(&chunk?);
            if head.len() as u64 > SMALL_FILE {
                rest_follows = true;
                break;
            }
        }
        let (dir, name, fsync) = (self.dir.clone(), temp.clone(), self.options.fsync);
        let staging = self.staging.clone();
        if !rest_follows {
            let meta = quick(self.options.inline_io, move || {
                let mut file = staging.create(&dir, &name)?;
                let written = std::io::Write::write_all(&mut file, &head)
                    .and_then(|()| match fsync {
                        true => file.sync_data(),
                        false => {
                            start_writeback(&file);
                            Ok(())
                        }
                    })
                    .and_then(|()| file.metadata());
                match written {
                    Ok(meta) => Ok(resource_meta(&meta)),
                    Err(e) => {
                        let _ = dir.remove_file(&name);
                        Err(e.into())
                    }
                }
            })
            .await?;
            return Ok(staged(meta));
        }
        let file = quick(self.options.inline_io, move || {
            Ok(staging.create(&dir, &name)?.into_std())
        })
        .await?;
        let mut writer = BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
        let streamed: SubsystemResult<std::fs::Metadata> = async {
            writer.write_all(&head).await?;
            let mut growth = self.guard.growth(head.len() as u64);
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                growth.add(chunk.len() as u64)?;
                writer.write_all(&chunk).await?;
            }
            writer.flush().await?;
            if fsync {
                writer.get_ref().sync_data().await?;
            } else {
                // Submitting a large file's pages can wait for the block layer.
                let fd = writer.get_ref().as_fd().try_clone_to_owned()?;
                blocking(move || {
                    start_writeback(&fd);
                    Ok(())
                })
                .await?;
            }
            Ok(writer.get_ref().metadata().await?)
        }
        .await;
        drop(writer);
        match streamed {
            Ok(meta) => Ok(staged(resource_meta(
                &cap_std::fs::Metadata::from_just_metadata(meta),
            ))),
            Err(e) => {
                let dir = self.dir.clone();
                let _ = blocking(move || Ok(dir.remove_file(&temp)?)).await;
                Err(e)
            }
        }
    }
}

/// Starts the staged file's writeback before the latch (the `davd-writeback` crate says why);
/// a failure only leaves it to the kernel's own flush, as before.
fn start_writeback(file: &impl AsFd) {
    if let Err(e) = davd_writeback::start(file) {
        tracing::debug!(error = %e, "could not start a staged file's writeback");
    }
}
