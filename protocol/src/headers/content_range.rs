use super::HeaderError;

/// `Content-Range: bytes first-last/total` on a PUT: write that segment of the resource
/// (resumable upload). `total` is `None` for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    pub fn parse(value: &str) -> Result<ContentRange, HeaderError> {
        let err = |reason: &str| HeaderError::new("Content-Range", reason.to_owned());
        let value = value.trim();
        let rest = value
            .get(..6)
            .filter(|unit| unit.eq_ignore_ascii_case("bytes "))
            .map(|_| value[6..].trim())
            .ok_or_else(|| err("only 'bytes' ranges are supported"))?;
        let (range, total) = rest.split_once('/').ok_or_else(|| err("missing '/'"))?;
        let (first, last) = range.split_once('-').ok_or_else(|| err("missing '-'"))?;
        let number = |s: &str| -> Result<u64, HeaderError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("not a number"));
            }
            s.parse().map_err(|_| err("number too large"))
        };
        let first = number(first)?;
        let last = number(last)?;
        let total = match total.trim() {
            "*" => None,
            t => Some(number(t)?),
        };
        if last < first {
            return Err(err("last byte before first byte"));
        }
        // The body length is last - first + 1; a last byte of u64::MAX would make it overflow
        // (a total can never allow it: last < total <= u64::MAX).
        if last == u64::MAX {
            return Err(err("range length does not fit in 64 bits"));
        }
        if total.is_some_and(|t| last >= t) {
            return Err(err("range extends past the total length"));
        }
        Ok(ContentRange { first, last, total })
    }

    /// Number of bytes the body must carry.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            ContentRange::parse("bytes 0-9/100").unwrap(),
            ContentRange {
                first: 0,
                last: 9,
                total: Some(100)
            }
        );
        assert_eq!(ContentRange::parse("bytes 5-9/*").unwrap().total, None);
        assert!(ContentRange::parse("bytes 9-5/100").is_err());
        assert!(ContentRange::parse("bytes 0-100/100").is_err());
        assert!(ContentRange::parse("bytes */100").is_err());
        assert!(ContentRange::parse("bytes 0-99999999999999999999999/*").is_err());
        assert!(ContentRange::parse("items 0-1/2").is_err());
    }

    /// Found while writing the property tests: `bytes 0-18446744073709551615/*` parsed, and its `len()`
    /// (last - first + 1) overflowed: a panic in debug builds, a length of 0 in release builds,
    /// which let an empty body pass the PUT's Content-Length check.
    #[test]
    fn a_range_whose_length_overflows_is_refused() {
        let max = u64::MAX;
        assert!(ContentRange::parse(&format!("bytes 0-{max}/*")).is_err());
        let last = max - 1;
        let r = ContentRange::parse(&format!("bytes 0-{last}/*")).unwrap();
        assert_eq!(r.len(), max);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::headers::range::proptests::number;

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,30}|[bytes 0-9/*-]{0,30}") {
            if let Ok(range) = ContentRange::parse(&value) {
                prop_assert!(range.last.checked_sub(range.first).and_then(|d| d.checked_add(1)).is_some());
            }
        }

        /// Accepted exactly when the range is ordered, inside the total and the offset just
        /// past it (last + 1, where a resumed upload continues) fits in a u64; then `len()` is
        /// the exact length.
        #[test]
        fn numbers_never_overflow(
            first in number(), last in number(), total in proptest::option::of(number())
        ) {
            let total_text = total.map_or("*".to_owned(), |t| t.to_string());
            let parsed = ContentRange::parse(&format!("bytes {first}-{last}/{total_text}"));
            let length = last.checked_sub(first).and_then(|d| d.checked_add(1));
            let valid = length.is_some()
                && last.checked_add(1).is_some()
                && total.is_none_or(|t| last < t);
            prop_assert_eq!(parsed.is_ok(), valid, "{:?}", parsed);
            if let Ok(range) = parsed {
                prop_assert_eq!(Some(range.len()), length);
                prop_assert_eq!(range, ContentRange { first, last, total });
            }
        }
    }
}
