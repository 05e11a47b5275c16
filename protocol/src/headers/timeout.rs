use super::HeaderError;

/// A lock timeout (RFC 4918 §10.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Seconds(u64),
    Infinite,
}

impl Timeout {
    /// The header value as sent back to the client.
    pub fn to_header(self) -> String {
        match self {
            Timeout::Seconds(s) => format!("Second-{s}"),
            Timeout::Infinite => "Infinite".to_owned(),
        }
    }
}

/// Parses `Timeout: Second-3600, Infinite` and returns the first alternative we understand.
/// Unknown alternatives are skipped as RFC 4918 allows; none understood -> error. Numbers too
/// large for u64 saturate rather than fail (they are capped by policy anyway).
pub fn parse_timeout(value: &str) -> Result<Timeout, HeaderError> {
    for alternative in value.split(',') {
        let alternative = alternative.trim();
        if alternative.eq_ignore_ascii_case("infinite") {
            return Ok(Timeout::Infinite);
        }
        // `get` rather than `[..7]`: seven bytes may end inside a multi-byte character.
        if let Some(digits) = alternative
            .get(..7)
            .filter(|unit| unit.eq_ignore_ascii_case("second-"))
            .map(|_| &alternative[7..])
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(Timeout::Seconds(digits.parse().unwrap_or(u64::MAX)));
        }
    }
    Err(HeaderError::new(
        "Timeout",
        format!("no usable value in '{value}'"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives() {
        assert_eq!(
            parse_timeout("Second-3600").unwrap(),
            Timeout::Seconds(3600)
        );
        assert_eq!(
            parse_timeout("Infinite, Second-4100000000").unwrap(),
            Timeout::Infinite
        );
        assert_eq!(
            parse_timeout("Foo, second-10").unwrap(),
            Timeout::Seconds(10)
        );
        assert_eq!(
            parse_timeout("Second-99999999999999999999999").unwrap(),
            Timeout::Seconds(u64::MAX)
        );
        assert!(parse_timeout("Second-").is_err());
        assert!(parse_timeout("Second--1").is_err());
        assert!(parse_timeout("").is_err());
    }

    /// Found while writing the fuzz targets: the `Second-` check sliced seven bytes, which panicked when they ended
    /// inside a multi-byte character.
    #[test]
    fn non_ascii_alternative_is_skipped_not_a_panic() {
        assert!(parse_timeout("abcdef\u{e9}").is_err());
        assert_eq!(
            parse_timeout("Second\u{e9}1, Second-5").unwrap(),
            Timeout::Seconds(5)
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,40}|[Second\u{e9}Infit0-9, -]{0,40}") {
            let _ = parse_timeout(&value);
        }

        #[test]
        fn seconds_round_trip(seconds in any::<u64>()) {
            let timeout = Timeout::Seconds(seconds);
            prop_assert_eq!(parse_timeout(&timeout.to_header()), Ok(timeout));
        }

        /// Any run of digits is understood; beyond u64 it saturates.
        #[test]
        fn long_numbers_saturate(digits in "[0-9]{1,40}") {
            let expected = digits.parse().unwrap_or(u64::MAX);
            prop_assert_eq!(
                parse_timeout(&format!("Second-{digits}")),
                Ok(Timeout::Seconds(expected))
            );
        }
    }
}
