//! The flush counter: telling a state database that lost acknowledged writes from one that
//! merely lost writes nobody was promised.
//!
//! sled cannot tell a database file cut part way (or put back from an older copy) from one a
//! crash tore the unflushed tail off: both open with the records of a readable beginning. What
//! tells them apart is a counter kept in the database and raised *before* each flush, and copied
//! into the identity file beside the database (`db.identity`) only *after* the flush returned.
//! The file can therefore never name a count the database has not durably reached; a database
//! whose count is lower than the file's has lost writes it had flushed, and every acknowledged
//! write was flushed. The file may lag (a crash between the flush and its copy): that is the
//! ordinary case after a `kill -9` or a power cut and passes.
//!
//! Every flush of the state database goes through [`FlushCounter::flush`], so no path can flush
//! without raising the counter.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use crate::space::SpaceGuard;

/// Where the counter lives in the database's default tree, beside its identity.
const COUNTER_KEY: &[u8] = b"davd:flushes";

/// The counter's line in the identity file: `flushes <20 digits> <8 hex digits>\n`, always
/// [`RECORD_LEN`] bytes, written in place after the identity line.
const RECORD_PREFIX: &str = "flushes ";
const RECORD_LEN: usize = RECORD_PREFIX.len() + 20 + 1 + 8 + 1;

/// What the identity file says about the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// No counter line: a file written by a davd from before the counter.
    Absent,
    /// A line that fails its check: a write of it torn by a power cut. Nothing can be
    /// concluded from it, so it is treated like an absent one rather than refuse a good
    /// database.
    Torn,
    /// The count the database had durably reached when the file was last written.
    At(u64),
}

/// Parses the counter line of the identity file (the text after the identity's line).
pub(crate) fn parse_record(rest: &str) -> Recorded {
    if rest.trim().is_empty() {
        return Recorded::Absent;
    }
    if rest.len() != RECORD_LEN {
        return Recorded::Torn;
    }
    let fields = rest.strip_prefix(RECORD_PREFIX).and_then(|fields| {
        let fields = fields.strip_suffix('\n')?;
        let (digits, check) = fields.split_once(' ')?;
        let count = (digits.len() == 20).then(|| digits.parse::<u64>().ok())??;
        let check = u32::from_str_radix(check, 16).ok()?;
        (check == checksum(digits.as_bytes())).then_some(count)
    });
    match fields {
        Some(count) => Recorded::At(count),
        None => Recorded::Torn,
    }
}

/// The counter line for `count`, exactly [`RECORD_LEN`] bytes.
pub(crate) fn record(count: u64) -> String {
    let digits = format!("{count:020}");
    let check = checksum(digits.as_bytes());
    format!("{RECORD_PREFIX}{digits} {check:08x}\n")
}

/// FNV-1a: enough to tell a record from one mixed of two writes by a torn sector.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Why a database must be refused, or `None` when its counter may be trusted: refused only
/// when both counts are known and the database's is lower than the file's. A database from
/// before the counter (`None`) and a file without one are adopted; a file that lags is the
/// crash case and passes.
pub(crate) fn lost_flushes(in_database: Option<u64>, in_file: Recorded) -> Option<(u64, u64)> {
    match (in_database, in_file) {
        (Some(database), Recorded::At(file)) if database < file => Some((database, file)),
        _ => None,
    }
}

/// The database's counter (`None` for a database from before it, or an unreadable value).
pub(crate) fn stored_count(db: &sled::Db) -> sled::Result<Option<u64>> {
    Ok(db.get(COUNTER_KEY)?.and_then(|value| decode(&value)))
}

fn decode(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// Raises the counter and flushes the state database; then copies the count into the identity
/// file, if there is one (a temporary database has none).
pub(crate) struct FlushCounter {
    file: Option<Mutex<CounterFile>>,
    /// Set once a copy into the file failed, so that the warning is not repeated per write.
    warned: AtomicBool,
}

struct CounterFile {
    file: File,
    offset: u64,
    /// The highest count written: concurrent flushes may return out of order, and the file
    /// only ever moves forward.
    written: u64,
}

impl FlushCounter {
    /// A counter with no file to copy into (a temporary database).
    pub(crate) fn without_file() -> Self {
        FlushCounter {
            file: None,
            warned: AtomicBool::new(false),
        }
    }

    /// A counter copied into `path` at `offset` (just after the identity line). The file is
    /// kept open: each copy is one `pwrite`.
    pub(crate) fn open(path: &Path, offset: u64) -> io::Result<Self> {
        let file = File::options().write(true).open(path)?;
        Ok(FlushCounter {
            file: Some(Mutex::new(CounterFile {
                file,
                offset,
                written: 0,
            })),
            warned: AtomicBool::new(false),
        })
    }

    /// The one way the state database is flushed: raise the counter (written into the
    /// database, so that the flush carries it), flush, then copy the raised count into the
    /// file. Each call raises it once, however many writes the flush carries.
    ///
    /// On a disk already down to its reserve (`guard`) the counter is not raised and the file
    /// not written: every write is refused there with 507 before it starts, so such a flush
    /// carries nothing acknowledged, and a raise would be the one write that could still fill
    /// the disk (which sled does not survive without a restart, `crate::space`). The file then
    /// just lags.
    pub(crate) fn flush(&self, db: &sled::Db, guard: &SpaceGuard) -> sled::Result<()> {
        if guard.check(0).is_err() {
            return db.flush().map(|_| ());
        }
        let raised = db
            .update_and_fetch(COUNTER_KEY, |old| {
                let next = old.and_then(decode).unwrap_or(0).saturating_add(1);
                Some(next.to_be_bytes().to_vec())
            })?
            .and_then(|value| decode(&value))
            .unwrap_or(0);
        db.flush()?;
        self.copy_to_file(raised);
        Ok(())
    }

    /// Writes `count` into the file in place, without an fsync. Not syncing is safe: a copy
    /// lost to a power cut only leaves the file lagging behind the database, which passes;
    /// the one thing that would refuse a good database, a file *ahead* of it, cannot happen,
    /// because the count reached the disk with the flush before this write was issued. A
    /// failure is only warned about, for the same reason: the write the flush was for is
    /// durable, and the file merely lags.
    ///
    /// In place rather than a new file renamed over the old: one `pwrite` of a fixed-size
    /// record on a file kept open, no directory change per flush, and the identity line before
    /// it is never rewritten. A rename of an unsynced file can leave an empty file after a
    /// power cut on some file systems, losing the identity too, and that would refuse a good
    /// database; a torn in-place record fails its check and is adopted ([`Recorded::Torn`]).
    fn copy_to_file(&self, count: u64) {
        let Some(file) = &self.file else { return };
        let mut file = match file.lock() {
            Ok(file) => file,
            Err(poisoned) => poisoned.into_inner(),
        };
        if count <= file.written {
            return;
        }
        match file
            .file
            .write_all_at(record(count).as_bytes(), file.offset)
        {
            Ok(()) => file.written = count,
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, "cannot copy the state database's flush count into its identity file; it will lag");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_has_a_fixed_length() {
        for count in [0, 1, 41, u64::MAX] {
            let line = record(count);
            assert_eq!(line.len(), RECORD_LEN, "{line:?}");
            assert_eq!(parse_record(&line), Recorded::At(count));
        }
    }

    #[test]
    fn a_missing_record_is_absent_and_a_torn_one_is_told_apart() {
        assert_eq!(parse_record(""), Recorded::Absent);
        assert_eq!(parse_record("\n"), Recorded::Absent);
        // A sector holding the start of the new record and the end of the old one: the digits
        // read 1099, a count neither write meant.
        let (old, new) = (record(999), record(1000));
        let cut = RECORD_PREFIX.len() + 18;
        let torn = format!("{}{}", &new[..cut], &old[cut..]);
        assert_eq!(parse_record(&torn), Recorded::Torn);
        assert_eq!(parse_record("flushes 12 0\n"), Recorded::Torn);
        assert_eq!(parse_record("garbage"), Recorded::Torn);
    }

    #[test]
    fn only_a_database_behind_its_file_is_refused() {
        assert_eq!(lost_flushes(Some(3), Recorded::At(7)), Some((3, 7)));
        // The file lags: a crash between a flush and its copy.
        assert_eq!(lost_flushes(Some(8), Recorded::At(7)), None);
        assert_eq!(lost_flushes(Some(7), Recorded::At(7)), None);
        // From before the counter, on either side.
        assert_eq!(lost_flushes(None, Recorded::At(7)), None);
        assert_eq!(lost_flushes(Some(3), Recorded::Absent), None);
        assert_eq!(lost_flushes(Some(3), Recorded::Torn), None);
    }

    #[test]
    fn each_flush_raises_the_count_and_the_file_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.identity");
        std::fs::write(&path, "id\n").unwrap();
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        let counter = FlushCounter::open(&path, 3).unwrap();
        let guard = SpaceGuard::none(dir.path());
        counter.flush(&db, &guard).unwrap();
        counter.flush(&db, &guard).unwrap();
        assert_eq!(stored_count(&db).unwrap(), Some(2));
        let text = std::fs::read_to_string(&path).unwrap();
        let rest = text.strip_prefix("id\n").unwrap();
        assert_eq!(parse_record(rest), Recorded::At(2));
        // A copy that arrives late (a flush that returned after a later one) is not written.
        counter.copy_to_file(1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse_record(&text[3..]), Recorded::At(2));
    }
}
