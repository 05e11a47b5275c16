//! Opening the state database, and refusing one that is damaged.
//!
//! sled opens a database whose file was truncated as an empty one, without a word, and
//! panics on one full of garbage. Neither may become a silent empty start or a supervisor's
//! restart loop: davd writes an identity into every database it creates, and a copy of it
//! next to the database (`db.identity`); a database that lacks the identity its neighbour
//! names, or that cannot be read at all, stops startup with a message saying what to do.
//! The file also carries the database's flush count (`flush_count`): a database whose count
//! is behind the file's lost writes it had acknowledged, and is refused too.
//!
//! A small *ballast* file is kept beside the database: if the disk fills up entirely, sled
//! can no longer even open the database; removing the ballast gives it the room to start,
//! so that davd comes up on a full disk and serves what it can (writes get 507 until space is
//! freed, `crate::space`).

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};
use uuid::Uuid;

use super::flush_count::{self, FlushCounter, Recorded};
use super::{SledChangeLog, StateDb};
use crate::space::SpaceGuard;

const IDENTITY_KEY: &[u8] = b"davd:identity";
const IDENTITY_FILE: &str = "db.identity";
const BALLAST_FILE: &str = "ballast";

/// sled's page cache: enough for the properties, locks and document records of a working
/// set, far below the 1 GiB default. sled's accounting of it is approximate: with 32 MiB a
/// 512 MiB download from a sled namespace peaked at up to 131 MiB resident (see
/// `server/tests/memory.rs`).
pub const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How the state database is opened.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// Writes are refused with 507 while less than this is free on the state directory's disk.
    pub reserve: u64,
    /// Size of the ballast file kept beside the database (0: none).
    pub ballast: u64,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            reserve: crate::space::DEFAULT_RESERVE,
            ballast: 8 * 1024 * 1024,
        }
    }
}

/// Why the state database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state database in {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "the state database in {path} is damaged ({reason}). Restore the directory from a \
         backup, or move it away to start with an empty state: the dead properties, locks and \
         document ids kept there would then be lost"
    )]
    Damaged { path: PathBuf, reason: String },
}

/// Opens (creating if missing) the state database in `dir/db` and checks it.
pub fn open_state(dir: &Path, options: &StateOptions) -> Result<StateDb, StateError> {
    let path = dir.join("db");
    let open_error = |message: String| StateError::Open {
        path: path.clone(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
    let ballast = dir.join(BALLAST_FILE);
    let db = match open_sled(&path) {
        Err(Opening::Failed(e)) if is_full(&e) && ballast.exists() => {
            warn!(
                "the state directory's disk is full: removing the ballast {} to start",
                ballast.display()
            );
            std::fs::remove_file(&ballast).map_err(|e| open_error(e.to_string()))?;
            open_sled(&path)
        }
        other => other,
    }
    .map_err(|opening| match opening {
        Opening::Panicked(reason) => StateError::Damaged {
            path: path.clone(),
            reason: format!("it cannot be read: {reason}"),
        },
        Opening::Failed(e) if is_full(&e) => open_error(format!(
            "the disk is full ({e}); free some space and start davd again"
        )),
        Opening::Failed(e) => open_error(e.to_string()),
    })?;
    let guard = SpaceGuard::new(dir, options.reserve);
    let (counter, adopted) = check_identity(&db, dir, &path, &guard)?;
    let counter = Arc::new(counter);
    // A database adopted without its identity file may have been put back from an older copy
    // on purpose (after the refusal for lost flushes): its change log cannot vouch for seqs
    // that clients may have seen past, and starts a new epoch.
    let changes = SledChangeLog::open(&db, &guard, &counter, !adopted)
        .map_err(|e| open_error(format!("cannot read its change log: {e}")))?;
    if options.ballast > 0 && !ballast.exists() {
        lay_ballast(&ballast, options.ballast, &guard);
    }
    Ok(StateDb {
        db,
        guard,
        counter,
        prop_changes: Arc::default(),
        lock_index: Arc::default(),
        changes: Arc::new(changes),
    })
}

enum Opening {
    Failed(sled::Error),
    Panicked(String),
}

fn open_sled(path: &Path) -> Result<sled::Db, Opening> {
    // sled panics on a damaged file; the message it would print is replaced by ours.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = catch_unwind(AssertUnwindSafe(|| {
        sled::Config::new()
            .path(path)
            // Writes that must survive a crash are flushed explicitly before their response;
            // the timer bounds how long best-effort ones (hit counts) stay in memory only.
            .flush_every_ms(Some(1000))
            // sled's page cache defaults to 1 GiB and keeps what was written in it, so a large
            // upload into a sled namespace stayed resident whole; bounded, the chunks stream.
            .cache_capacity(CACHE_BYTES)
            .open()
    }));
    std::panic::set_hook(hook);
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(Opening::Failed(e)),
        Err(panic) => Err(Opening::Panicked(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "sled gave up reading it".into()),
        )),
    }
}

fn is_full(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == io::ErrorKind::StorageFull)
}

/// True if the database holds nothing at all (a new one).
fn is_empty(db: &sled::Db) -> bool {
    db.is_empty()
        && db
            .tree_names()
            .iter()
            .all(|name| db.open_tree(name).map(|t| t.is_empty()).unwrap_or(false))
}

/// What the identity file beside the database holds.
struct IdentityFile {
    identity: String,
    flushes: Recorded,
    /// True when the file is exactly the identity's line and, perhaps, a whole counter line, so
    /// that the counter can be written in place after the first line.
    canonical: bool,
}

fn read_identity_file(file: &Path) -> io::Result<Option<IdentityFile>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let identity = first.trim().to_owned();
    let flushes = flush_count::parse_record(rest);
    let canonical = text.contains('\n') && first == identity && flushes != Recorded::Torn;
    Ok(Some(IdentityFile {
        identity,
        flushes,
        canonical,
    }))
}

/// Checks that the database is the one the identity file names and that it has not lost
/// flushes the file saw; adopts a database without an identity file. Returns the counter that
/// every later flush goes through, and whether the database was adopted (new, or found without
/// its identity file).
fn check_identity(
    db: &sled::Db,
    dir: &Path,
    path: &Path,
    guard: &SpaceGuard,
) -> Result<(FlushCounter, bool), StateError> {
    let damaged = |reason: String| StateError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let file = dir.join(IDENTITY_FILE);
    let recorded = read_identity_file(&file)
        .map_err(|e| damaged(format!("cannot read {}: {e}", file.display())))?;
    let stored = db
        .get(IDENTITY_KEY)
        .map_err(|e| damaged(e.to_string()))?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let cannot_write = |e: io::Error| StateError::Open {
        path: path.to_path_buf(),
        message: format!("cannot write {}: {e}", file.display()),
    };
    let adopted = recorded.is_none();
    let identity = match (recorded, stored) {
        (Some(recorded), Some(stored)) if recorded.identity == stored => {
            let in_database = flush_count::stored_count(db).map_err(|e| damaged(e.to_string()))?;
            if let Some((in_database, in_file)) =
                flush_count::lost_flushes(in_database, recorded.flushes)
            {
                return Err(damaged(format!(
                    "it was flushed {in_file} times, but holds only the first {in_database} of \
                     them: writes it had acknowledged are missing, because its file was cut \
                     part way or put back from an older copy. If you restored this database \
                     from a backup on purpose and accept losing what was written after the \
                     backup, remove {} and start davd again",
                    file.display()
                )));
            }
            if recorded.flushes == Recorded::Torn {
                warn!(
                    "the flush count in {} cannot be read (a write of it was torn); adopting the \
                     database's",
                    file.display()
                );
            }
            if !recorded.canonical {
                write_identity(&file, &stored).map_err(cannot_write)?;
            }
            stored
        }
        (Some(recorded), stored) => {
            return Err(damaged(format!(
                "{} names the database {}, but the database {}: it was truncated, \
                 emptied or replaced",
                file.display(),
                recorded.identity,
                match stored {
                    Some(s) => format!("calls itself {s}"),
                    None => "has no identity".into(),
                }
            )));
        }
        (None, stored) => {
            let identity = match stored {
                Some(stored) => stored,
                None => {
                    if !is_empty(db) {
                        info!("giving the existing state database an identity");
                    }
                    let identity = Uuid::new_v4().to_string();
                    // Durable before the file names it: a file naming an identity the database
                    // lacks would refuse it at the next start.
                    db.insert(IDENTITY_KEY, identity.as_bytes())
                        .and_then(|_| FlushCounter::without_file().flush(db, guard))
                        .map_err(|e| damaged(e.to_string()))?;
                    identity
                }
            };
            write_identity(&file, &identity).map_err(cannot_write)?;
            identity
        }
    };
    // Startup itself writes nothing more: a file that lags, or has no count yet, catches up
    // with the first flush of the run, and a start on a full disk stays free of writes.
    let counter = FlushCounter::open(&file, identity.len() as u64 + 1).map_err(cannot_write)?;
    Ok((counter, adopted))
}

fn write_identity(file: &Path, identity: &str) -> io::Result<()> {
    let partial = file.with_extension("partial");
    let mut out = std::fs::File::create(&partial)?;
    writeln!(out, "{identity}")?;
    out.sync_all()?;
    std::fs::rename(&partial, file)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Lays the ballast down when there is room for it beyond the reserve; best effort.
fn lay_ballast(path: &Path, len: u64, guard: &SpaceGuard) {
    if guard.check(len.saturating_mul(2)).is_err() {
        return;
    }
    let laid = std::fs::File::create(path).and_then(|file| {
        // Real blocks, not a sparse file: the point is to hold space that can be given back.
        let zeros = vec![0u8; 64 * 1024];
        let mut file = io::BufWriter::new(file);
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    if let Err(e) = laid {
        let _ = std::fs::remove_file(path);
        warn!(error = %e, "could not lay the ballast file {}", path.display());
    }
}

/// [`open_state`] on a directory whose previous database was just dropped, for tests: sled's
/// background writes may still hold its file lock for a moment after the drop (each davd
/// start is a new process, where this cannot happen), so a lock held is waited out.
#[cfg(test)]
pub(crate) fn reopen_state(dir: &Path, options: &StateOptions) -> Result<StateDb, StateError> {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open_state(dir, options) {
            Err(StateError::Open { message, .. })
                if message.contains("could not acquire lock")
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            opened => return opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> StateOptions {
        StateOptions {
            reserve: 0,
            ballast: 4096,
        }
    }

    #[test]
    fn a_new_database_gets_an_identity_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let state = open_state(dir.path(), &options()).unwrap();
        state.db.insert("k", "v").unwrap();
        state.db.flush().unwrap();
        drop(state);
        assert!(dir.path().join(IDENTITY_FILE).exists());
        assert_eq!(
            std::fs::metadata(dir.path().join(BALLAST_FILE))
                .unwrap()
                .len(),
            4096
        );
        let state = reopen(dir.path()).unwrap();
        assert_eq!(state.db.get("k").unwrap().unwrap(), b"v".as_slice());
    }

    #[test]
    fn a_truncated_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_state(dir.path(), &options()).unwrap());
        let file = dir.path().join("db").join("db");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(100)
            .unwrap();
        match reopen(dir.path()) {
            Err(StateError::Damaged { reason, .. }) => {
                assert!(reason.contains("no identity"), "{reason}")
            }
            other => panic!("expected a damaged database, got {:?}", other.err()),
        }
    }

    #[test]
    fn garbage_is_refused_without_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        {
            let state = open_state(dir.path(), &options()).unwrap();
            for i in 0..20_000u32 {
                state.db.insert(i.to_be_bytes(), vec![1u8; 100]).unwrap();
            }
            state.db.flush().unwrap();
        }
        let file = dir.path().join("db").join("db");
        let mut bytes = std::fs::read(&file).unwrap();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8;
        }
        std::fs::write(&file, bytes).unwrap();
        let error = reopen(dir.path()).err().map(|e| e.to_string());
        let error = error.expect("a damaged database must not open");
        assert!(
            error.contains("damaged") || error.contains("cannot open"),
            "{error}"
        );
    }

    #[test]
    fn an_existing_database_without_identity_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new()
                .path(dir.path().join("db"))
                .open()
                .unwrap();
            db.insert("old", "data").unwrap();
            db.flush().unwrap();
        }
        let state = reopen(dir.path()).unwrap();
        assert_eq!(state.db.get("old").unwrap().unwrap(), b"data".as_slice());
        drop(state);
        reopen(dir.path()).unwrap();
    }

    fn reopen(dir: &Path) -> Result<StateDb, StateError> {
        reopen_state(dir, &options())
    }

    /// Flushes as a write acknowledged to a client would be.
    fn flush(state: &StateDb) {
        state.counter.flush(&state.db, &state.guard).unwrap();
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    fn identity_file(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(IDENTITY_FILE)).unwrap()
    }

    #[test]
    fn a_database_older_than_its_identity_file_is_refused_until_the_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let older = tempfile::tempdir().unwrap();
        {
            let state = reopen(dir.path()).unwrap();
            state.db.insert("early", "1").unwrap();
            flush(&state);
        }
        copy_dir(&dir.path().join("db"), older.path());
        {
            let state = reopen(dir.path()).unwrap();
            state.db.insert("late", "2").unwrap();
            flush(&state);
        }
        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        copy_dir(older.path(), &dir.path().join("db"));
        let message = match reopen(dir.path()) {
            Err(e @ StateError::Damaged { .. }) => e.to_string(),
            other => panic!("expected a damaged database, got {:?}", other.err()),
        };
        assert!(message.contains("acknowledged are missing"), "{message}");
        assert!(
            message.contains("db.identity"),
            "says what to remove: {message}"
        );
        // Accepted deliberately, as the message says: the older database opens, and is then
        // the one the file follows.
        std::fs::remove_file(dir.path().join(IDENTITY_FILE)).unwrap();
        let state = reopen(dir.path()).unwrap();
        assert!(state.db.get("early").unwrap().is_some());
        assert!(state.db.get("late").unwrap().is_none());
        drop(state);
        reopen(dir.path()).unwrap();
    }

    #[test]
    fn an_identity_file_that_lags_its_database_passes_and_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        drop(reopen(dir.path()).unwrap());
        let lagging = identity_file(dir.path());
        {
            let state = reopen(dir.path()).unwrap();
            state.db.insert("k", "v").unwrap();
            flush(&state);
            flush(&state);
        }
        // A crash between a flush and the copy of its count leaves the file behind.
        std::fs::write(dir.path().join(IDENTITY_FILE), &lagging).unwrap();
        let state = reopen(dir.path()).unwrap();
        assert_eq!(state.db.get("k").unwrap().unwrap(), b"v".as_slice());
        flush(&state);
        let in_database = flush_count::stored_count(&state.db).unwrap();
        let text = identity_file(dir.path());
        let (_, rest) = text.split_once('\n').unwrap();
        assert_eq!(
            flush_count::parse_record(rest),
            Recorded::At(in_database.unwrap()),
            "the first flush of the run brings the file up to the database"
        );
    }

    #[test]
    fn an_identity_file_from_before_the_counter_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let identity = {
            let state = reopen(dir.path()).unwrap();
            state.db.insert("k", "v").unwrap();
            flush(&state);
            String::from_utf8(state.db.get(IDENTITY_KEY).unwrap().unwrap().to_vec()).unwrap()
        };
        // What an older davd wrote: the identity alone (and, from a hand, a stray space).
        std::fs::write(dir.path().join(IDENTITY_FILE), format!("{identity} \n")).unwrap();
        flush(&reopen(dir.path()).unwrap());
        let text = identity_file(dir.path());
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(first, identity);
        assert!(
            matches!(flush_count::parse_record(rest), Recorded::At(_)),
            "{text:?}"
        );
        reopen(dir.path()).unwrap();
    }

    #[test]
    fn a_torn_count_in_the_identity_file_is_adopted_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(reopen(dir.path()).unwrap());
        let text = identity_file(dir.path());
        let (first, _) = text.split_once('\n').unwrap();
        std::fs::write(
            dir.path().join(IDENTITY_FILE),
            format!("{first}\nflushes 99999999999999999999 0000\n"),
        )
        .unwrap();
        flush(&reopen(dir.path()).unwrap());
        let text = identity_file(dir.path());
        let (_, rest) = text.split_once('\n').unwrap();
        assert!(
            matches!(flush_count::parse_record(rest), Recorded::At(_)),
            "{text:?}"
        );
    }
}
