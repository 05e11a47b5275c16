//! Journals: where the executive's intent records live (docs/adr/0017-crash-safety.md).
//!
//! [`DirJournal`] keeps one small file per request in flight in the state directory;
//! [`MemoryJournal`] keeps them in memory, for servers whose every store is in memory (nothing
//! survives a crash there, so there is nothing to recover either) and for tests.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use davd_registry::{Journal, SubsystemError, SubsystemResult};

use crate::blocking::blocking;
use crate::space::SpaceGuard;

const SUFFIX: &str = ".intent";
const PARTIAL: &str = ".partial";

/// Record ids are the executive's UUIDs; anything else is refused rather than used in a path.
fn checked(id: &str) -> SubsystemResult<&str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(SubsystemError::internal(format!(
            "not a journal record id: {id:?}"
        )))
    }
}

/// A directory of intent records, one file each: written to a `.partial` file and renamed
/// into place, so a crash leaves the old record or the new one. A write survives a crash of
/// the process as soon as it returns (the kernel has the file); with `fsync` the file and
/// the directory are synced too, so it survives a power cut.
pub struct DirJournal {
    dir: PathBuf,
    fsync: bool,
    guard: SpaceGuard,
}

impl DirJournal {
    /// Opens (creating if missing) the journal directory. Leftover `.partial` files, from a
    /// crash in the middle of a write, are removed: the record they were replacing is intact.
    pub fn open(dir: &Path, fsync: bool, reserve: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(PARTIAL) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(DirJournal {
            dir: dir.to_path_buf(),
            fsync,
            guard: SpaceGuard::new(dir, reserve),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl Journal for DirJournal {
    fn kind(&self) -> &'static str {
        "dir"
    }

    async fn write(&self, id: &str, record: &[u8]) -> SubsystemResult<()> {
        let id = checked(id)?;
        self.guard.check(record.len() as u64)?;
        let partial = self.dir.join(format!("{id}{PARTIAL}"));
        let done = self.dir.join(format!("{id}{SUFFIX}"));
        let (dir, fsync, record) = (self.dir.clone(), self.fsync, record.to_vec());
        blocking(move || {
            let written = (|| {
                let mut file = std::fs::File::create(&partial)?;
                file.write_all(&record)?;
                if fsync {
                    file.sync_data()?;
                }
                std::fs::rename(&partial, &done)?;
                if fsync {
                    sync_dir(&dir)?;
                }
                Ok::<(), io::Error>(())
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            Ok(written?)
        })
        .await
    }

    async fn remove(&self, id: &str) -> SubsystemResult<()> {
        let path = self.dir.join(format!("{}{SUFFIX}", checked(id)?));
        let (dir, fsync) = (self.dir.clone(), self.fsync);
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            if fsync {
                sync_dir(&dir)?;
            }
            Ok(())
        })
        .await
    }

    async fn pending(&self) -> SubsystemResult<Vec<(String, Vec<u8>)>> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut records = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(id) = name.strip_suffix(SUFFIX) else {
                    continue;
                };
                let modified = entry.metadata()?.modified()?;
                records.push((modified, id.to_owned(), std::fs::read(entry.path())?));
            }
            records.sort();
            Ok(records.into_iter().map(|(_, id, r)| (id, r)).collect())
        })
        .await
    }
}

/// Intent records in memory.
#[derive(Default)]
pub struct MemoryJournal {
    records: Mutex<BTreeMap<u64, (String, Vec<u8>)>>,
    next: Mutex<u64>,
}

impl MemoryJournal {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn write(&self, id: &str, record: &[u8]) -> SubsystemResult<()> {
        let id = checked(id)?;
        let mut records = self
            .records
            .lock()
            .map_err(|_| SubsystemError::internal("journal lock poisoned"))?;
        let existing = records
            .iter()
            .find(|(_, (other, _))| other == id)
            .map(|(seq, _)| *seq);
        let seq = match existing {
            Some(seq) => seq,
            None => {
                let mut next = self
                    .next
                    .lock()
                    .map_err(|_| SubsystemError::internal("journal lock poisoned"))?;
                *next += 1;
                *next
            }
        };
        records.insert(seq, (id.to_owned(), record.to_vec()));
        Ok(())
    }

    async fn remove(&self, id: &str) -> SubsystemResult<()> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| SubsystemError::internal("journal lock poisoned"))?;
        records.retain(|_, (other, _)| other != id);
        Ok(())
    }

    async fn pending(&self) -> SubsystemResult<Vec<(String, Vec<u8>)>> {
        let records = self
            .records
            .lock()
            .map_err(|_| SubsystemError::internal("journal lock poisoned"))?;
        Ok(records.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(journal: &dyn Journal) {
        journal.write("a-1", b"first").await.unwrap();
        journal.write("b-2", b"second").await.unwrap();
        journal.write("a-1", b"first, updated").await.unwrap();
        let pending = journal.pending().await.unwrap();
        let ids: Vec<&str> = pending.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert!(pending.contains(&("a-1".to_owned(), b"first, updated".to_vec())));
        journal.remove("a-1").await.unwrap();
        journal.remove("a-1").await.unwrap();
        assert_eq!(
            journal.pending().await.unwrap(),
            [("b-2".to_owned(), b"second".to_vec())]
        );
        assert!(journal.write("../escape", b"x").await.is_err());
    }

    #[tokio::test]
    async fn records_are_written_replaced_listed_and_removed() {
        round_trip(&MemoryJournal::new()).await;
        let dir = tempfile::tempdir().unwrap();
        round_trip(&DirJournal::open(dir.path(), true, 0).unwrap()).await;
    }

    #[tokio::test]
    async fn records_outlive_the_journal_and_partial_writes_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        DirJournal::open(dir.path(), false, 0)
            .unwrap()
            .write("kept", b"plan")
            .await
            .unwrap();
        std::fs::write(dir.path().join(format!("torn{PARTIAL}")), b"pl").unwrap();
        let reopened = DirJournal::open(dir.path(), false, 0).unwrap();
        assert_eq!(
            reopened.pending().await.unwrap(),
            [("kept".to_owned(), b"plan".to_vec())]
        );
        assert!(!dir.path().join(format!("torn{PARTIAL}")).exists());
    }
}
