//! HTTP Basic authentication against a users file of Argon2id hashes.
//!
//! Who a request comes from is decided here, in the server layer; what that user may do is
//! policy, decided by the executive from the access rules of each scope.
//!
//! A password is checked at most once at a time per set of credentials: requests that arrive
//! with the same credentials while they are being checked wait for that answer (a browser opens
//! several connections at once). Guesses are throttled per address and per user as they start
//! (`throttle`), and at most a few hashes run at once, in pooled memory (`hashing`).

mod hashing;
mod throttle;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use self::hashing::PasswordChecks;
use self::throttle::{Throttle, Turn};
pub use self::users::{Users, UsersError, add_user};

/// How long a successful check is remembered, so Basic does not cost an Argon2 hash per
/// request.
const CACHE_FOR: Duration = Duration::from_secs(120);
const CACHE_MAX: usize = 10_000;

/// The outcome of looking at a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No credentials: anonymous, subject to the access rules.
    Anonymous,
    /// Valid credentials for this user.
    User(String),
    /// Wrong or malformed credentials: 401.
    Rejected,
    /// Too many attempts from this address or for this user: 429, to be retried after the
    /// given time; the password was not checked.
    Throttled { retry_after: Duration },
}

/// Credentials being checked, by digest: the outcome (`None` until known) for the requests
/// that wait for it.
type InFlight = Mutex<HashMap<[u8; 32], watch::Receiver<Option<bool>>>>;

pub struct Authenticator {
    users: Arc<Users>,
    pub realm: String,
    /// Digest of (per-process secret, name, password) -> (name, expiry). No password is kept.
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    secret: [u8; 16],
    throttle: Throttle,
    checks: PasswordChecks,
    in_flight: Arc<InFlight>,
}

/// Removes its credentials from the in-flight table when the check ends, however it ends; the
/// waiting requests then see its outcome, or, if it was abandoned, start their own check.
struct Leading {
    key: [u8; 32],
    in_flight: Arc<InFlight>,
    outcome: watch::Sender<Option<bool>>,
}

impl Leading {
    fn finish(self, verified: bool) {
        let _ = self.outcome.send(Some(verified));
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&self.key);
        }
    }
}

enum Role {
    Lead(Leading),
    Follow(watch::Receiver<Option<bool>>),
}

impl Authenticator {
    pub fn new(users: Users, realm: impl Into<String>) -> Self {
        Authenticator {
            users: Arc::new(users),
            realm: realm.into(),
            cache: Mutex::new(HashMap::new()),
            secret: *uuid::Uuid::new_v4().as_bytes(),
            throttle: Throttle::default(),
            checks: PasswordChecks::new(hashing::default_permits()),
            in_flight: Arc::default(),
        }
    }

    fn digest(&self, name: &str, password: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (user, until) = cache.get(key)?;
        (*until > Instant::now()).then(|| user.clone())
    }

    fn remember(&self, key: [u8; 32], name: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                let now = Instant::now();
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (name.to_owned(), Instant::now() + CACHE_FOR));
        }
    }

    /// Leads the check of `key`, or follows the one already running.
    fn role(&self, key: [u8; 32]) -> Role {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            let (outcome, _) = watch::channel(None);
            return Role::Lead(Leading {
                key,
                in_flight: self.in_flight.clone(),
                outcome,
            });
        };
        if let Some(waiting) = in_flight.get(&key) {
            return Role::Follow(waiting.clone());
        }
        let (outcome, waiting) = watch::channel(None);
        in_flight.insert(key, waiting);
        Role::Lead(Leading {
            key,
            in_flight: self.in_flight.clone(),
            outcome,
        })
    }

    /// Checks an `Authorization` header value from `peer`.
    pub async fn check(&self, authorization: Option<&[u8]>, peer: IpAddr) -> Check {
        let Some(value) = authorization else {
            return Check::Anonymous;
        };
        let Some((name, password)) = parse_basic(value) else {
            return match self.throttle.admit(peer, None) {
                Turn::At(at) => {
                    tokio::time::sleep_until(at.into()).await;
                    Check::Rejected
                }
                Turn::Refused { retry_after } => Check::Throttled { retry_after },
            };
        };
        let key = self.digest(&name, &password);
        loop {
            if let Some(user) = self.cached(&key) {
                return Check::User(user);
            }
            let leading = match self.role(key) {
                Role::Lead(leading) => leading,
                Role::Follow(mut outcome) => {
                    // The same credentials are being checked: their answer is this one's.
                    match outcome.wait_for(Option::is_some).await.map(|o| *o) {
                        Ok(Some(false)) => return Check::Rejected,
                        // Verified (now cached), or the check was abandoned: look again.
                        _ => continue,
                    }
                }
            };
            match self.throttle.admit(peer, Some(&name)) {
                Turn::At(at) => tokio::time::sleep_until(at.into()).await,
                Turn::Refused { retry_after } => return Check::Throttled { retry_after },
            }
            let verified = self.checks.verify(&self.users, &name, &password).await;
            if verified {
                self.throttle.succeeded(peer, &name);
                self.remember(key, &name);
            }
            leading.finish(verified);
            return if verified {
                Check::User(name)
            } else {
                Check::Rejected
            };
        }
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> String {
        format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            self.realm.replace('"', "'")
        )
    }
}

/// `Basic base64(name:password)`.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values() {
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6cGFzczp3b3Jk"),
            Some(("alice".into(), "pass:word".into()))
        );
        assert_eq!(
            parse_basic(b"basic YWxpY2U6"),
            Some(("alice".into(), "".into()))
        );
        assert_eq!(parse_basic(b"Bearer xyz"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic bm9jb2xvbg=="), None, "no colon");
    }

    fn basic(name: &str, password: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
        format!("Basic {token}")
    }

    #[tokio::test]
    async fn the_login_cache_holds_only_correct_credentials_and_expires() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("users");
        add_user(&path, "alice", "right").expect("add alice");
        let mut auth = Authenticator::new(Users::load(&path).expect("load"), "davd");
        let peer = IpAddr::from([127, 0, 0, 1]);
        let wrong = auth
            .check(Some(basic("alice", "wrong").as_bytes()), peer)
            .await;
        assert_eq!(wrong, Check::Rejected);
        assert_eq!(cache_len(&auth), 0, "a failure is not cached");
        let right = auth
            .check(Some(basic("alice", "right").as_bytes()), peer)
            .await;
        assert_eq!(right, Check::User("alice".into()));
        assert_eq!(cache_len(&auth), 1);

        // Nobody is in the users file any more: only the cache can let alice in now.
        auth.users = Arc::new(Users::default());
        let cached = auth
            .check(Some(basic("alice", "right").as_bytes()), peer)
            .await;
        assert_eq!(cached, Check::User("alice".into()), "served from the cache");
        for (name, password) in [("alice", "wrong"), ("alice", ""), ("bob", "right")] {
            let c = auth
                .check(Some(basic(name, password).as_bytes()), peer)
                .await;
            assert_eq!(
                c,
                Check::Rejected,
                "{name}:{password} matched a cached entry"
            );
        }
        assert_eq!(cache_len(&auth), 1, "failures add nothing");

        // An expired entry is not used.
        if let Ok(mut cache) = auth.cache.lock() {
            for (_, until) in cache.values_mut() {
                *until = Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let expired = auth
            .check(Some(basic("alice", "right").as_bytes()), peer)
            .await;
        assert_eq!(expired, Check::Rejected);
    }

    fn cache_len(auth: &Authenticator) -> usize {
        auth.cache.lock().map_or(usize::MAX, |c| c.len())
    }
}
