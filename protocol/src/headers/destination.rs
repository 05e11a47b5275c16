use crate::path::{DavPath, PathError};

use super::HeaderError;

/// A parsed `Destination` header (RFC 4918 §10.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub path: DavPath,
    /// The URL ended with `/`.
    pub trailing_slash: bool,
}

/// Why a Destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Unparseable or an unsafe path: 400.
    #[error(transparent)]
    Invalid(#[from] HeaderError),
    /// Names another server: 502 Bad Gateway (RFC 4918 §9.8.5, §9.9.4).
    #[error("the Destination names another server ({0})")]
    OtherServer(String),
}

/// Parses a Destination that is either an absolute URI or an absolute path.
///
/// `request_host` is the request's `Host` (e.g. `127.0.0.1:8080`) and `default_port` the port a
/// Host without one means on this connection (80 or 443). An absolute URI must name the same
/// host and port, compared case-insensitively with default ports filled in.
pub fn parse_destination(
    value: &str,
    request_host: Option<&str>,
    default_port: u16,
) -> Result<Destination, DestinationError> {
    let value = value.trim();
    let path_part = if value.starts_with('/') {
        value
    } else {
        let (scheme, rest) = value
            .split_once("://")
            .ok_or_else(|| HeaderError::new("Destination", "not an absolute URI or path"))?;
        let scheme_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            other => {
                return Err(DestinationError::OtherServer(format!("scheme '{other}'")));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let Some(host) = request_host else {
            return Err(DestinationError::OtherServer(authority.to_owned()));
        };
        if !same_authority(authority, scheme_port, host, default_port) {
            return Err(DestinationError::OtherServer(authority.to_owned()));
        }
        path
    };
    // Drop a query or fragment: they do not name a different resource.
    let path_part = path_part.split(['?', '#']).next().unwrap_or(path_part);
    let (path, trailing_slash) = DavPath::parse_url_path(path_part).map_err(|e: PathError| {
        DestinationError::Invalid(HeaderError::new("Destination", e.to_string()))
    })?;
    Ok(Destination {
        path,
        trailing_slash,
    })
}

fn split_host_port(authority: &str, default_port: u16) -> (String, u16) {
    // IPv6 literals are bracketed: [::1]:8080
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default_port);
        return (host.to_ascii_lowercase(), port);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (
            host.to_ascii_lowercase(),
            port.parse().unwrap_or(default_port),
        ),
        _ => (authority.to_ascii_lowercase(), default_port),
    }
}

fn same_authority(dest: &str, dest_default: u16, host: &str, host_default: u16) -> bool {
    split_host_port(dest, dest_default) == split_host_port(host, host_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(v: &str) -> Result<Destination, DestinationError> {
        parse_destination(v, Some("localhost:8080"), 80)
    }

    #[test]
    fn absolute_uri_and_path() {
        assert_eq!(
            dest("http://localhost:8080/a%20b/").unwrap().path.as_str(),
            "/a b"
        );
        assert!(dest("http://localhost:8080/a%20b/").unwrap().trailing_slash);
        assert_eq!(dest("/x/y").unwrap().path.as_str(), "/x/y");
        assert_eq!(dest("http://LOCALHOST:8080").unwrap().path.as_str(), "/");
        assert_eq!(
            parse_destination("http://h/x", Some("h:80"), 80)
                .unwrap()
                .path
                .as_str(),
            "/x"
        );
    }

    #[test]
    fn other_servers_are_bad_gateway() {
        assert!(matches!(
            dest("http://example.com/x"),
            Err(DestinationError::OtherServer(_))
        ));
        assert!(matches!(
            dest("http://localhost:9090/x"),
            Err(DestinationError::OtherServer(_))
        ));
        assert!(matches!(
            dest("ftp://localhost:8080/x"),
            Err(DestinationError::OtherServer(_))
        ));
    }

    #[test]
    fn bad_paths_are_bad_requests() {
        assert!(matches!(
            dest("http://localhost:8080/a/../b"),
            Err(DestinationError::Invalid(_))
        ));
        assert!(matches!(
            dest("/a/%2e%2e/b"),
            Err(DestinationError::Invalid(_))
        ));
        assert!(matches!(
            dest("relative"),
            Err(DestinationError::Invalid(_))
        ));
        assert!(matches!(dest("/a%00"), Err(DestinationError::Invalid(_))));
    }

    #[test]
    fn ipv6_hosts() {
        let d = parse_destination("http://[::1]:8080/x", Some("[::1]:8080"), 80).unwrap();
        assert_eq!(d.path.as_str(), "/x");
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use unicode_normalization::UnicodeNormalization;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,40}|(https?://)?[a-z:\\[\\]@/%.0-9]{0,30}", host in proptest::option::of("[a-z0-9:\\[\\].]{0,20}")) {
            let _ = parse_destination(&value, host.as_deref(), 80);
        }

        /// The href of any path, as an absolute URI on the request's own host or as a path,
        /// names that path again.
        #[test]
        fn hrefs_come_back(
            // In NFC, the form every parsed segment takes (ADR 0014).
            segments in proptest::collection::vec(
                "[^/\\x00\\\\]{1,6}".prop_map(|s| s.nfc().collect::<String>()),
                0..4,
            ),
            collection in any::<bool>(),
            absolute in any::<bool>(),
        ) {
            let Ok(path) = DavPath::from_segments(segments.iter().map(String::as_str)) else {
                return Ok(());
            };
            let href = path.to_href(collection);
            let value = if absolute { format!("http://LocalHost:8080{href}") } else { href };
            let dest = parse_destination(&value, Some("localhost:8080"), 80)
                .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
            prop_assert_eq!(dest.path, path);
        }
    }
}
