//! Per-path latches: how concurrent writers are kept from interleaving without a global lock.
//!
//! A request that changes state claims the paths it touches, each either alone (`shallow`) or
//! with everything below it (`deep`). Two claims conflict when they name the same path, or one
//! is deep and contains the other. All of a request's claims are granted at once or not at
//! all, so two requests can never deadlock holding half of what they need. Reads take no
//! latch: every write becomes visible atomically (a rename), so a reader sees the old state or
//! the new one.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use davd_protocol::DavPath;

#[derive(Debug, Clone)]
pub struct Claim {
    pub path: DavPath,
    pub deep: bool,
}

impl Claim {
    pub fn shallow(path: &DavPath) -> Self {
        Claim {
            path: path.clone(),
            deep: false,
        }
    }

    pub fn deep(path: &DavPath) -> Self {
        Claim {
            path: path.clone(),
            deep: true,
        }
    }

    fn conflicts_with(&self, other: &Claim) -> bool {
        self.path == other.path
            || (self.deep && other.path.is_within(&self.path))
            || (other.deep && self.path.is_within(&other.path))
    }
}

#[derive(Default)]
struct Table {
    next_id: u64,
    held: Vec<(u64, Claim)>,
}

/// The table of latches held by requests in flight.
#[derive(Default, Clone)]
pub struct LatchTable {
    table: Arc<Mutex<Table>>,
    released: Arc<Notify>,
}

/// Held latches; dropping it releases them.
pub struct LatchGuard {
    id: u64,
    table: Arc<Mutex<Table>>,
    released: Arc<Notify>,
}

impl Drop for LatchGuard {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock() {
            table.held.retain(|(id, _)| *id != self.id);
        }
        self.released.notify_waiters();
    }
}

impl LatchTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until none of `claims` conflicts with a held latch, then holds them all.
    pub async fn acquire(&self, claims: Vec<Claim>) -> LatchGuard {
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            // Register for the wake-up before looking, so a release between the look and the
            // wait is not missed.
            notified.as_mut().enable();
            {
                let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
                let blocked = claims
                    .iter()
                    .any(|c| table.held.iter().any(|(_, h)| c.conflicts_with(h)));
                if !blocked {
                    table.next_id += 1;
                    let id = table.next_id;
                    table.held.extend(claims.into_iter().map(|c| (id, c)));
                    return LatchGuard {
                        id,
                        table: self.table.clone(),
                        released: self.released.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// Number of latches held (for tests and diagnostics).
    pub fn held(&self) -> usize {
        self.table.lock().map(|t| t.held.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn conflict_rules() {
        assert!(Claim::shallow(&p("/a")).conflicts_with(&Claim::shallow(&p("/a"))));
        assert!(!Claim::shallow(&p("/a")).conflicts_with(&Claim::shallow(&p("/a/b"))));
        assert!(Claim::deep(&p("/a")).conflicts_with(&Claim::shallow(&p("/a/b"))));
        assert!(Claim::shallow(&p("/a/b")).conflicts_with(&Claim::deep(&p("/a"))));
        assert!(!Claim::deep(&p("/a")).conflicts_with(&Claim::deep(&p("/ab"))));
    }

    #[tokio::test]
    async fn second_writer_waits_for_the_first() {
        let table = LatchTable::new();
        let first = table.acquire(vec![Claim::deep(&p("/a"))]).await;
        let t2 = table.clone();
        let waiter = tokio::spawn(async move {
            let _g = t2.acquire(vec![Claim::shallow(&p("/a/b"))]).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        // An unrelated path is not held up.
        let other = table.acquire(vec![Claim::shallow(&p("/c"))]).await;
        drop(other);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(table.held(), 0);
    }
}
