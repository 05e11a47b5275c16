use super::HeaderError;

// ANCHOR: lock-token-parser
/// The `Lock-Token` header of UNLOCK (RFC 4918 §10.5): `<Coded-URL>`.
///
/// Some Windows builds send the token without angle brackets; we accept that too (the
/// client-quirks issue). The token must look like an absolute URI (`scheme:rest`).
pub fn parse_lock_token(value: &str) -> Result<String, HeaderError> {
    let value = value.trim();
    let inner = match value.strip_prefix('<') {
        Some(rest) => rest
            .strip_suffix('>')
            .ok_or_else(|| HeaderError::new("Lock-Token", "missing closing '>'"))?,
        None => value,
    };
    let inner = inner.trim();
    if inner.is_empty() || !looks_like_uri(inner) {
        return Err(HeaderError::new(
            "Lock-Token",
            format!("'{inner}' is not a URI"),
        ));
    }
    Ok(inner.to_owned())
}
// ANCHOR_END: lock-token-parser

/// `scheme ":" rest` with a scheme of letters, digits, `+`, `-`, `.` starting with a letter, and
/// no blanks or angle brackets anywhere.
pub(crate) fn looks_like_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_and_without_brackets() {
        assert_eq!(parse_lock_token("<urn:uuid:abc>").unwrap(), "urn:uuid:abc");
        assert_eq!(parse_lock_token("urn:uuid:abc").unwrap(), "urn:uuid:abc");
        assert_eq!(
            parse_lock_token(" <opaquelocktoken:1-2> ").unwrap(),
            "opaquelocktoken:1-2"
        );
        assert!(parse_lock_token("<urn:uuid:abc").is_err());
        assert!(parse_lock_token("<>").is_err());
        assert!(parse_lock_token("not a uri").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,40}|[<>: a-z]{0,20}") {
            if let Ok(token) = parse_lock_token(&value) {
                prop_assert!(looks_like_uri(&token));
            }
        }

        #[test]
        fn uris_are_accepted_with_and_without_brackets(
            token in "[a-z][a-z0-9+.-]{0,8}:[!-;=?-~\u{e9}]{1,30}"
        ) {
            prop_assert_eq!(parse_lock_token(&format!("<{token}>")), Ok(token.clone()));
            prop_assert_eq!(parse_lock_token(&token), Ok(token));
        }
    }
}
