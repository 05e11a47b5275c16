//! Access rules: who may read and who may write below a scope. The rules are data registered
//! with the scope; the executive decides what each method needs and applies them.

/// The name of the principal of a request without credentials: the word for it in access
/// rules, and the `Office:modifiedby` of a change made without authentication.
pub const ANONYMOUS: &str = "anonymous";

/// Someone an access rule can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// A user from the users file.
    User(String),
    /// `*`: anyone who logged in.
    Authenticated,
    /// `anonymous`: requests without credentials.
    Anonymous,
}

impl Grantee {
    /// Parses a configuration word: `*`, `anonymous`, or a user name.
    pub fn parse(word: &str) -> Grantee {
        match word {
            "*" => Grantee::Authenticated,
            ANONYMOUS => Grantee::Anonymous,
            name => Grantee::User(name.to_owned()),
        }
    }

    fn admits(&self, principal: Option<&str>) -> bool {
        match (self, principal) {
            (Grantee::Anonymous, _) => true,
            (Grantee::Authenticated, Some(_)) => true,
            (Grantee::User(name), Some(p)) => name == p,
            _ => false,
        }
    }
}

/// The rule of one scope. Writing includes reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub read: Vec<Grantee>,
    pub write: Vec<Grantee>,
}

impl AccessRule {
    /// What applies where nothing is configured: everyone who passed authentication (everyone,
    /// when authentication is off) may read and write.
    pub fn open() -> AccessRule {
        AccessRule {
            read: vec![Grantee::Anonymous],
            write: vec![Grantee::Anonymous],
        }
    }

    pub fn may_read(&self, principal: Option<&str>) -> bool {
        self.may_write(principal) || self.read.iter().any(|g| g.admits(principal))
    }

    pub fn may_write(&self, principal: Option<&str>) -> bool {
        self.write.iter().any(|g| g.admits(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grantees() {
        let rule = AccessRule {
            read: vec![Grantee::parse("*")],
            write: vec![Grantee::parse("alice")],
        };
        assert!(rule.may_read(Some("bob")));
        assert!(!rule.may_read(None));
        assert!(rule.may_write(Some("alice")));
        assert!(!rule.may_write(Some("bob")));
        let public = AccessRule {
            read: vec![Grantee::parse(ANONYMOUS)],
            write: vec![],
        };
        assert!(public.may_read(None) && public.may_read(Some("x")));
        assert!(!public.may_write(Some("x")));
        assert!(rule.may_read(Some("alice")), "writing includes reading");
    }
}
