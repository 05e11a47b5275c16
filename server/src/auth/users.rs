//! The users file: one `name:argon2-hash` line per user, like an htpasswd file but with
//! Argon2id. Only hashes are ever written; comments (`#`) and blank lines are kept as they are.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, Block};

/// The loaded users file.
#[derive(Debug, Clone, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
    /// A hash of a random password with the current parameters, checked for unknown names so
    /// that the time taken does not reveal whether a name exists.
    decoy: String,
}

/// A problem with the users file, naming the line.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read the users file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the users file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "user names must be 1 to 64 characters without ':', whitespace or control characters, and not 'anonymous' or '*'"
    )]
    BadName,
    #[error("the password is empty")]
    EmptyPassword,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// User names: printable, no ':' (the separator) and no whitespace, and neither of the words
/// access rules reserve (`anonymous` for no login, `*` for everyone authenticated): a user so
/// named could not be told apart from them.
pub fn valid_name(name: &str) -> bool {
    name != davd_registry::ANONYMOUS
        && name != "*"
        && (1..=64).contains(&name.chars().count())
        && !name
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
}

/// Argon2id with the crate's recommended parameters and a random salt.
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    if password.is_empty() {
        return Err(UsersError::EmptyPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

impl Users {
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut hashes = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |message: &str| UsersError::Syntax {
                path: path.to_path_buf(),
                line: index + 1,
                message: message.to_owned(),
            };
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| syntax("expected name:hash"))?;
            if !valid_name(name) {
                return Err(syntax("invalid user name"));
            }
            if !hash.starts_with("$argon2") {
                return Err(syntax(
                    "the hash is not an Argon2 hash (use `davd user add`)",
                ));
            }
            hashes.insert(name.to_owned(), hash.to_owned());
        }
        let decoy = hash_password(&uuid::Uuid::new_v4().to_string())?;
        Ok(Users { hashes, decoy })
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Checks a password. Unknown users are checked against the decoy hash, so the time taken
    /// does not tell whether the name exists; argon2 compares the digests in constant time.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        self.verify_in(name, password, &mut Vec::new())
    }

    /// [`Users::verify`], computing in `memory` (see `hashing`): the server passes a pooled
    /// buffer so that failed logins cost no new memory.
    pub fn verify_in(&self, name: &str, password: &str, memory: &mut Vec<Block>) -> bool {
        let (hash, known) = match self.hashes.get(name) {
            Some(h) => (h.as_str(), true),
            None => (self.decoy.as_str(), false),
        };
        super::hashing::verify_in(hash, password, memory) && known
    }
}

/// Adds or replaces `name` in the users file at `path` (created if missing), writing only the
/// hash. The file is replaced atomically and readable by its owner only.
pub fn add_user(path: &Path, name: &str, password: &str) -> Result<(), UsersError> {
    if !valid_name(name) {
        return Err(UsersError::BadName);
    }
    let hash = hash_password(password)?;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(UsersError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|l| l.split_once(':').map(|(n, _)| n.trim()) != Some(name))
        .map(str::to_owned)
        .collect();
    lines.push(format!("{name}:{hash}"));
    let mut text = lines.join("\n");
    text.push('\n');
    let write = |source| UsersError::Write {
        path: path.to_path_buf(),
        source,
    };
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).map_err(write)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600)).map_err(write)?;
    }
    std::fs::rename(&temp, path).map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_load_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        add_user(&path, "alice", "correct horse").unwrap();
        add_user(&path, "bob", "battery staple").unwrap();
        add_user(&path, "alice", "new password").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("horse") && !text.contains("new password"),
            "only hashes are written"
        );
        assert_eq!(text.lines().count(), 2);
        let users = Users::load(&path).unwrap();
        assert!(users.verify("alice", "new password"));
        assert!(!users.verify("alice", "correct horse"));
        assert!(users.verify("bob", "battery staple"));
        assert!(!users.verify("carol", "anything"));
        assert!(add_user(&path, "bad:name", "x").is_err());
        assert!(add_user(&path, "eve", "").is_err());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# users\n\nalice:plaintext\n").unwrap();
        let e = Users::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    /// The words access rules reserve cannot be user names, neither when adding a user nor in
    /// a users file written by hand.
    #[test]
    fn reserved_words_are_not_user_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        for name in ["anonymous", "*"] {
            assert!(matches!(
                add_user(&path, name, "secret"),
                Err(UsersError::BadName)
            ));
        }
        add_user(&path, "alice", "secret").unwrap();
        let line = std::fs::read_to_string(&path).unwrap();
        let hash = line.trim().split_once(':').unwrap().1.to_owned();
        std::fs::write(&path, format!("anonymous:{hash}\n")).unwrap();
        let e = Users::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
