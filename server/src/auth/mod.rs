//! HTTP Basic authentication against a users file of Argon2id hashes.
//!
//! Who a request comes from is decided here, in the server layer; what that user may do is
//! policy, decided by the executive from the access rules of each scope.

mod throttle;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use self::throttle::Throttle;
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
    /// Wrong or malformed credentials: 401, after `delay`.
    Rejected { delay: Duration },
}

pub struct Authenticator {
    users: Arc<Users>,
    pub realm: String,
    /// Digest of (per-process secret, name, password) -> (name, expiry). No password is kept.
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    secret: [u8; 16],
    throttle: Throttle,
}

impl Authenticator {
    pub fn new(users: Users, realm: impl Into<String>) -> Self {
        Authenticator {
            users: Arc::new(users),
            realm: realm.into(),
            cache: Mutex::new(HashMap::new()),
            secret: *uuid::Uuid::new_v4().as_bytes(),
            throttle: Throttle::default(),
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

    /// Checks an `Authorization` header value from `peer`.
    pub async fn check(&self, authorization: Option<&[u8]>, peer: IpAddr) -> Check {
        let Some(value) = authorization else {
            return Check::Anonymous;
        };
        let Some((name, password)) = parse_basic(value) else {
            self.throttle.failed(peer);
            return Check::Rejected {
                delay: self.throttle.delay(peer),
            };
        };
        let key = self.digest(&name, &password);
        if let Ok(cache) = self.cache.lock()
            && let Some((user, until)) = cache.get(&key)
            && *until > Instant::now()
        {
            return Check::User(user.clone());
        }
        let delay = self.throttle.delay(peer);
        let users = self.users.clone();
        let verified = {
            let name = name.clone();
            tokio::task::spawn_blocking(move || users.verify(&name, &password))
                .await
                .unwrap_or(false)
        };
        if !verified {
            self.throttle.failed(peer);
            return Check::Rejected { delay };
        }
        self.throttle.succeeded(peer);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                let now = Instant::now();
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (name.clone(), Instant::now() + CACHE_FOR));
        }
        Check::User(name)
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
        assert!(matches!(wrong, Check::Rejected { .. }), "{wrong:?}");
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
            assert!(
                matches!(c, Check::Rejected { .. }),
                "{name}:{password} matched a cached entry: {c:?}"
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
        assert!(matches!(expired, Check::Rejected { .. }), "{expired:?}");
    }

    fn cache_len(auth: &Authenticator) -> usize {
        auth.cache.lock().map_or(usize::MAX, |c| c.len())
    }
}
