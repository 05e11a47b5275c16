//! Remembers that the lock index was found empty, until it is written again.
//!
//! Every PUT, DELETE and MOVE asks which locks cover its path, and most of the time no lock
//! exists at all. Asking sled whether the index has a first key costs about 2,400
//! instructions (an iterator over its page cache), a twentieth of a small PUT; this answers
//! the same question with two atomic loads while nothing wrote the index since it was last
//! seen empty. It is shared by every lock manager over one database (`StateDb`), so one
//! manager's write is seen by the others, and only this process can open the database.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct IndexEmptiness {
    /// Raised after every write to the index, whatever it wrote.
    writes: AtomicU64,
    /// `writes + 1` as it was when the index was last seen empty; 0 when not known.
    empty_at: AtomicU64,
}

impl IndexEmptiness {
    /// Counts a write to the index, after it was made (or failed part way): a reader that
    /// saw the index empty before it will look again.
    pub(crate) fn written(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// True when the index is known to be empty; otherwise `look` is asked (true: it is
    /// empty) and its answer remembered until the next write.
    pub(crate) fn is_empty<E>(&self, look: impl FnOnce() -> Result<bool, E>) -> Result<bool, E> {
        // Read before looking: a write that lands during the look raises the count after it
        // is made, so the answer remembered below is then already out of date, never trusted.
        let writes = self.writes.load(Ordering::Acquire);
        if self.empty_at.load(Ordering::Acquire) == writes + 1 {
            return Ok(true);
        }
        let empty = look()?;
        if empty {
            self.empty_at.store(writes + 1, Ordering::Release);
        }
        Ok(empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_index_is_looked_at_once_until_it_is_written() {
        let watch = IndexEmptiness::default();
        let mut looks = 0;
        let mut look = |answer: bool| {
            looks += 1;
            Ok::<_, ()>(answer)
        };
        assert_eq!(watch.is_empty(|| look(true)), Ok(true));
        assert_eq!(watch.is_empty(|| look(false)), Ok(true), "remembered");
        watch.written();
        assert_eq!(watch.is_empty(|| look(false)), Ok(false), "looked again");
        assert_eq!(watch.is_empty(|| look(true)), Ok(true));
        assert_eq!(looks, 3);
    }

    /// A write made while the look was under way (the look saw the index before it) must
    /// not leave "empty" remembered after it.
    #[test]
    fn a_write_during_the_look_is_not_hidden() {
        let watch = IndexEmptiness::default();
        assert_eq!(
            watch.is_empty(|| {
                watch.written();
                Ok::<_, ()>(true)
            }),
            Ok(true)
        );
        let mut looked = false;
        assert_eq!(
            watch.is_empty(|| {
                looked = true;
                Ok::<_, ()>(false)
            }),
            Ok(false)
        );
        assert!(looked);
    }

    #[test]
    fn a_failed_look_remembers_nothing() {
        let watch = IndexEmptiness::default();
        assert_eq!(watch.is_empty(|| Err::<bool, _>("io")), Err("io"));
        assert_eq!(watch.is_empty(|| Ok::<_, &str>(false)), Ok(false));
    }
}
