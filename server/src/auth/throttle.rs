//! Slows down repeated authentication failures from one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long without a failure an address starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (the oldest are forgotten first).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// How long to hold back the answer to `ip`'s next failed attempt: nothing for the first
    /// three, then 250 ms doubling up to 8 s.
    pub fn delay(&self, ip: IpAddr) -> Duration {
        let Ok(failures) = self.failures.lock() else {
            return Duration::ZERO;
        };
        match failures.get(&ip) {
            Some((count, at)) if at.elapsed() < FORGET_AFTER && *count >= 3 => {
                let exponent = (*count - 3).min(5);
                Duration::from_millis(250 << exponent)
            }
            _ => Duration::ZERO,
        }
    }

    pub fn failed(&self, ip: IpAddr) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
            if failures.len() >= MAX_TRACKED
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(ip, _)| *ip)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_forgives() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.delay(ip), Duration::ZERO);
            t.failed(ip);
        }
        assert_eq!(t.delay(ip), Duration::from_millis(250));
        t.failed(ip);
        assert_eq!(t.delay(ip), Duration::from_millis(500));
        for _ in 0..20 {
            t.failed(ip);
        }
        assert_eq!(t.delay(ip), Duration::from_millis(8000));
        t.succeeded(ip);
        assert_eq!(t.delay(ip), Duration::ZERO);
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(t.delay(other), Duration::ZERO);
    }
}
