//! The state database: one sled database in the state directory, shared by every sled store
//! of a server (properties, locks and sled namespaces each use trees of their own in it).
//!
//! Everything that must hold before the stores use it (the directory, sled's settings, checks
//! of what a crash left) belongs in [`open_state_database`], so that no caller opens it
//! another way.

use std::io;
use std::path::{Path, PathBuf};

/// sled's page cache: enough for the properties, locks and document records of a working
/// set, far below the 1 GiB default. sled's accounting of it is approximate: with 32 MiB a
/// 512 MiB download from a sled namespace peaked at up to 131 MiB resident (see
/// `server/tests/memory.rs`).
pub const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The database's directory inside the state directory.
pub const DATABASE_DIR: &str = "db";

/// Why the state database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {path}: {source}")]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot open the state database in {path}: {source}")]
    Database { path: PathBuf, source: sled::Error },
}

/// Opens (creating if missing) the state database of the state directory `state`.
pub fn open_state_database(state: &Path) -> Result<sled::Db, StateError> {
    std::fs::create_dir_all(state).map_err(|source| StateError::Directory {
        path: state.to_path_buf(),
        source,
    })?;
    let path = state.join(DATABASE_DIR);
    sled::Config::new()
        .path(&path)
        // Writes that must survive a crash are flushed explicitly before their response;
        // the timer bounds how long best-effort ones (hit counts) stay in memory only.
        .flush_every_ms(Some(1000))
        // sled's page cache defaults to 1 GiB and keeps what was written in it, so a large
        // upload into a sled namespace stayed resident whole; bounded, the chunks stream.
        .cache_capacity(CACHE_BYTES)
        .open()
        .map_err(|source| StateError::Database { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_directory_and_reopens_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("nested/state");
        {
            let db = open_state_database(&state).unwrap();
            db.insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        assert!(state.join(DATABASE_DIR).is_dir());
        let db = open_state_database(&state).unwrap();
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_state_path_that_is_a_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state");
        std::fs::write(&file, "not a directory").unwrap();
        let e = open_state_database(&file).unwrap_err();
        assert!(matches!(e, StateError::Directory { .. }), "{e}");
        assert!(
            e.to_string().contains("cannot create the state directory"),
            "{e}"
        );
    }
}
