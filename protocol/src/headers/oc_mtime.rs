//! `X-OC-Mtime` (ownCloud and Nextcloud; sent by their desktop clients and by rclone with
//! `--webdav-vendor owncloud|nextcloud`): the modification time the client wants the stored
//! file or collection to carry, in seconds since the Unix epoch.
//!
//! ownCloud reads the value as a number and keeps its integer part; clients send whole
//! seconds. davd takes `123`, `+123` and `123.456`, keeping the fraction (to the nanosecond),
//! because a file system stores finer times and a client that sends a fraction means it.
//! Anything else (empty, an exponent, a sign alone, a time before 1970 or after the year 9999)
//! is a 400 naming the header: a sync client that silently lost its times would re-upload
//! everything on its next run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderName;

use super::HeaderError;

/// The header, in requests and in the answer that says it was applied (`accepted`).
pub const OC_MTIME: HeaderName = HeaderName::from_static("x-oc-mtime");

/// Its name as error messages spell it.
const NAME: &str = "X-OC-Mtime";

/// 9999-12-31T23:59:59Z: later times are a client's mistake, and some stores cannot hold them.
const LATEST: u64 = 253_402_300_799;

/// Parses an `X-OC-Mtime` value.
pub fn parse_oc_mtime(value: &str) -> Result<SystemTime, HeaderError> {
    let bad = |reason: &str| HeaderError::new(NAME, format!("'{value}' {reason}"));
    let number = value.trim();
    let number = number.strip_prefix('+').unwrap_or(number);
    if number.starts_with('-') {
        return Err(bad("is before 1970; give seconds since the Unix epoch"));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(bad("is not a number of seconds since the Unix epoch"));
    }
    let seconds = whole
        .parse::<u64>()
        .ok()
        .filter(|s| *s <= LATEST)
        .ok_or_else(|| bad("is after the year 9999"))?;
    // Nanoseconds from the first nine digits of the fraction; more are below any clock's grain.
    let mut nanos = 0u32;
    for (i, digit) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    Ok(UNIX_EPOCH + Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn whole_and_fractional_seconds() {
        assert_eq!(parse_oc_mtime("1700000000").unwrap(), at(1_700_000_000, 0));
        assert_eq!(parse_oc_mtime(" +0 ").unwrap(), at(0, 0));
        assert_eq!(parse_oc_mtime("12.5").unwrap(), at(12, 500_000_000));
        assert_eq!(parse_oc_mtime("12.").unwrap(), at(12, 0));
        assert_eq!(parse_oc_mtime("1.1234567899").unwrap(), at(1, 123_456_789));
        assert_eq!(parse_oc_mtime("253402300799").unwrap(), at(LATEST, 0));
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for bad in [
            "",
            " ",
            "-1",
            "abc",
            "1e9",
            "0x10",
            ".5",
            "1.2.3",
            "1 2",
            "+",
            "253402300800",
            "99999999999999999999999",
        ] {
            let e = parse_oc_mtime(bad).unwrap_err();
            assert_eq!(e.header, NAME, "{bad:?}");
            assert!(e.to_string().contains("X-OC-Mtime"), "{e}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(value in "[-+0-9. a-z]{0,24}") {
            let _ = parse_oc_mtime(&value);
        }

        #[test]
        fn whole_seconds_round_trip(secs in 0u64..=LATEST) {
            prop_assert_eq!(parse_oc_mtime(&secs.to_string()).unwrap(), UNIX_EPOCH + Duration::from_secs(secs));
        }
    }
}
