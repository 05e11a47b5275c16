//! Slows down password guessing, per address and per user name, however many guesses arrive
//! at once.
//!
//! An attempt is counted when it starts, not when its hash is done: parallel guesses are spaced
//! out exactly as sequential ones are. Each key (the client's address, and the user name it
//! tries) has a time before which its next attempt may not be checked; every attempt moves it
//! on by a gap that grows with the key's strikes (attempts since its last success): none for the
//! first three, then 250 ms doubling to 8 s. An attempt waits for the later of its two keys'
//! turns; one whose turn is more than [`MAX_WAIT`] away is refused at once (429 with
//! `Retry-After`) without being checked, so waiting attempts cannot pile up and a flood of
//! guesses gets one checked every 8 s per address and per user.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long without an attempt a key starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most (the longest quiet are forgotten first).
const MAX_TRACKED: usize = 10_000;
/// The longest an attempt waits for its turn; a later turn is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(8);
/// Attempts a key may make before the gaps start.
const FREE_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Attempts since the last success, counted as they start.
    strikes: u32,
    /// The earliest time the next attempt may be checked.
    next: Instant,
    /// The last attempt, for forgetting.
    last: Instant,
}

/// When an attempt may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// At this time (possibly now).
    At(Instant),
    /// Not within [`MAX_WAIT`]: refuse it, and tell the client when to come back.
    Refused { retry_after: Duration },
}

/// The gap an attempt leaves before the next one, once its key has `strikes` strikes.
fn gap(strikes: u32) -> Duration {
    match strikes.checked_sub(FREE_ATTEMPTS) {
        None => Duration::ZERO,
        Some(beyond) => Duration::from_millis(250 << beyond.min(5)),
    }
}

#[derive(Default)]
pub struct Throttle {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// Takes the turn of an attempt from `ip` for `user` (`None` for credentials that name no
    /// one, which count against the address alone).
    pub fn admit(&self, ip: IpAddr, user: Option<&str>) -> Turn {
        let now = Instant::now();
        let Ok(mut entries) = self.entries.lock() else {
            return Turn::At(now);
        };
        let keys: Vec<Key> = std::iter::once(Key::Address(ip))
            .chain(user.map(|u| Key::User(u.to_owned())))
            .collect();
        if entries.len() + keys.len() > MAX_TRACKED {
            forget(&mut entries, now);
        }
        let mut at = now;
        for key in &keys {
            if let Some(entry) = entries.get(key)
                && now.duration_since(entry.last) < FORGET_AFTER
            {
                at = at.max(entry.next);
            }
        }
        let wait = at.duration_since(now);
        if wait > MAX_WAIT {
            return Turn::Refused { retry_after: wait };
        }
        for key in keys {
            let entry = entries.entry(key).or_insert(Entry {
                strikes: 0,
                next: now,
                last: now,
            });
            if now.duration_since(entry.last) >= FORGET_AFTER {
                entry.strikes = 0;
            }
            entry.strikes = entry.strikes.saturating_add(1);
            entry.next = at + gap(entry.strikes);
            entry.last = now;
        }
        Turn::At(at)
    }

    /// A correct password: the address and the user start afresh.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&Key::Address(ip));
            entries.remove(&Key::User(user.to_owned()));
        }
    }
}

/// Drops the keys quiet for [`FORGET_AFTER`], and if that is not enough the quietest tenth.
fn forget(entries: &mut HashMap<Key, Entry>, now: Instant) {
    entries.retain(|_, e| now.duration_since(e.last) < FORGET_AFTER);
    if entries.len() + 2 > MAX_TRACKED {
        let mut lasts: Vec<Instant> = entries.values().map(|e| e.last).collect();
        lasts.sort_unstable();
        let cutoff = lasts[lasts.len() / 10];
        entries.retain(|_, e| e.last > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    /// The wait before each of a burst of attempts, all started at once, and the refusals.
    fn burst(t: &Throttle, ip: IpAddr, user: &str, n: usize) -> (Vec<Duration>, usize) {
        let start = Instant::now();
        let mut waits = Vec::new();
        let mut refused = 0;
        for _ in 0..n {
            match t.admit(ip, Some(user)) {
                Turn::At(at) => waits.push(at.saturating_duration_since(start)),
                Turn::Refused { retry_after } => {
                    assert!(retry_after > MAX_WAIT);
                    refused += 1;
                }
            }
        }
        (waits, refused)
    }

    /// Parallel guesses are spaced like sequential ones: three at once, then 250 ms, 500 ms,
    /// 1 s ... apart, and nothing waits longer than MAX_WAIT.
    #[test]
    fn a_burst_from_one_address_is_spaced_out() {
        let t = Throttle::default();
        let (waits, refused) = burst(&t, ip("192.0.2.1"), "alice", 30);
        let millis: Vec<u128> = waits
            .iter()
            .map(|w| (w.as_millis() + 5) / 10 * 10)
            .collect();
        assert_eq!(millis, [0, 0, 0, 250, 750, 1750, 3750, 7750]);
        assert_eq!(refused, 22);
    }

    /// The user's key holds across addresses; another user from another address is not slowed.
    #[test]
    fn a_user_is_throttled_from_every_address() {
        let t = Throttle::default();
        let (first, _) = burst(&t, ip("192.0.2.1"), "alice", 5);
        let (second, refused) = burst(&t, ip("192.0.2.2"), "alice", 5);
        assert_eq!(first.len(), 5);
        assert!(second[0] >= Duration::from_millis(1500), "{second:?}");
        assert!(second.len() + refused == 5 && refused >= 2, "{second:?}");
        let (other, refused) = burst(&t, ip("192.0.2.3"), "bob", 3);
        assert_eq!(refused, 0);
        assert!(
            other.iter().all(|w| *w < Duration::from_millis(50)),
            "{other:?}"
        );
    }

    #[test]
    fn a_success_starts_afresh() {
        let t = Throttle::default();
        let (_, _) = burst(&t, ip("192.0.2.1"), "alice", 6);
        t.succeeded(ip("192.0.2.1"), "alice");
        let (waits, refused) = burst(&t, ip("192.0.2.1"), "alice", 3);
        assert_eq!(refused, 0);
        assert!(
            waits.iter().all(|w| *w < Duration::from_millis(50)),
            "{waits:?}"
        );
    }

    #[test]
    fn malformed_credentials_count_against_the_address() {
        let t = Throttle::default();
        for _ in 0..4 {
            assert!(matches!(t.admit(ip("192.0.2.1"), None), Turn::At(_)));
        }
        let Turn::At(at) = t.admit(ip("192.0.2.1"), Some("alice")) else {
            panic!("refused")
        };
        assert!(at > Instant::now(), "the address is already slowed");
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::default();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            let address = IpAddr::from(i.to_be_bytes());
            t.admit(address, None);
        }
        let len = t.entries.lock().map(|e| e.len()).unwrap_or(usize::MAX);
        assert!(len <= MAX_TRACKED, "{len}");
    }
}
