//! Password checks with bounded concurrency and constant memory.
//!
//! An Argon2id check with the default parameters fills 19 MiB. Run one per failed login on
//! the blocking pool, as davd used to, and 64 guesses at once held 1.2 GiB: each blocking
//! thread kept its own 19 MiB in the allocator after its hash. Here at most [`PasswordChecks`]'s
//! `permits` checks run at once, each in a block buffer taken from a pool that is allocated once
//! and reused, so the memory for password checks is `permits` times the largest hash's cost,
//! however many logins fail.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::Output;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::Semaphore;

use super::users::Users;

/// The default number of password checks that run at once: one per core, at most four.
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// Runs password checks, at most `permits` at once, each in pooled memory.
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    /// Block buffers not in use; at most one per permit ever exists.
    pool: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordChecks {
    pub fn new(permits: usize) -> PasswordChecks {
        PasswordChecks {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            pool: Arc::default(),
        }
    }

    /// True if `password` is `name`'s. Waits for a free permit first. The permit goes with the
    /// hash onto the blocking pool: a client that disconnects does not stop a hash once it
    /// runs, and the hash keeps its permit until it ends.
    pub async fn verify(&self, users: &Arc<Users>, name: &str, password: &str) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let memory = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let (users, name, password) = (users.clone(), name.to_owned(), password.to_owned());
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut memory = memory.unwrap_or_default();
            let verified = users.verify_in(&name, &password, &mut memory);
            if let Ok(mut pool) = pool.lock() {
                pool.push(memory);
            }
            verified
        })
        .await
        .unwrap_or(false)
    }
}

/// Checks `password` against the PHC string `hash`, computing in `memory` (grown to the hash's
/// cost if it is smaller, and kept for the next check). The digests are compared in constant
/// time.
pub fn verify_in(hash: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = [0u8; Output::MAX_LENGTH];
    let Some(out) = computed.get_mut(..expected.len()) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    Output::new(out).is_ok_and(|computed| computed == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::hash_password;

    #[test]
    fn pooled_verification_agrees_with_argon2() {
        let hash = hash_password("correct horse").expect("hash");
        let mut memory = Vec::new();
        assert!(verify_in(&hash, "correct horse", &mut memory));
        let allocated = memory.len();
        assert_eq!(allocated, Params::DEFAULT.block_count());
        assert!(!verify_in(&hash, "correct horse!", &mut memory));
        assert!(!verify_in(&hash, "", &mut memory));
        assert_eq!(memory.len(), allocated, "the buffer is reused, not grown");
        assert!(!verify_in("$argon2id$garbage", "x", &mut memory));
        assert!(!verify_in("plain", "plain", &mut memory));
        // Other parameters, as a users file written with another tool might hold.
        let small = Params::new(64, 1, 1, None).expect("params");
        let other = argon2::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, small),
            b"pw",
        )
        .expect("hash")
        .to_string();
        assert!(verify_in(&other, "pw", &mut memory));
        assert!(!verify_in(&other, "pw2", &mut memory));
    }
}
