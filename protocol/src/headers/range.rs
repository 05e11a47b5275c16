use super::HeaderError;

/// A satisfiable byte range, both ends inclusive (RFC 7233).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// One range spec from a `Range: bytes=` header, before it is resolved against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// `a-b` or `a-`
    FromTo { start: u64, end: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl RangeRequest {
    /// Resolves against the representation length: `None` when unsatisfiable (-> 416).
    pub fn resolve(self, len: u64) -> Option<ByteRange> {
        match self {
            RangeRequest::FromTo { start, end } => {
                if start >= len {
                    return None;
                }
                let end = end.map_or(len - 1, |e| e.min(len - 1));
                Some(ByteRange { start, end })
            }
            RangeRequest::Suffix(n) => {
                if n == 0 || len == 0 {
                    return None;
                }
                Some(ByteRange {
                    start: len.saturating_sub(n),
                    end: len - 1,
                })
            }
        }
    }
}

/// Parses `Range: bytes=...`.
///
/// Returns `Ok(None)` for a range we choose to ignore (another unit, or several ranges, which we
/// answer with the whole representation as RFC 7233 §3.1 permits), the single range otherwise,
/// and an error only for syntax that is plainly broken (answered 416 by the executive only when
/// resolved; here it is reported so the caller can ignore it as RFC 7233 says an invalid Range
/// header field is ignored).
pub fn parse_range(value: &str) -> Result<Option<RangeRequest>, HeaderError> {
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| &value[6..])
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec
        .trim()
        .split_once('-')
        .ok_or_else(|| HeaderError::new("Range", "missing '-'"))?;
    let number = |s: &str| -> Result<u64, HeaderError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeaderError::new("Range", format!("'{s}' is not a number")));
        }
        s.parse()
            .map_err(|_| HeaderError::new("Range", format!("'{s}' is too large")))
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return Ok(Some(RangeRequest::Suffix(number(last)?)));
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(number(last)?)
    };
    if end.is_some_and(|e| e < start) {
        return Err(HeaderError::new("Range", "last byte before first byte"));
    }
    Ok(Some(RangeRequest::FromTo { start, end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        let r = |v| parse_range(v).unwrap().unwrap();
        assert_eq!(
            r("bytes=0-9").resolve(100),
            Some(ByteRange { start: 0, end: 9 })
        );
        assert_eq!(
            r("bytes=90-").resolve(100),
            Some(ByteRange { start: 90, end: 99 })
        );
        assert_eq!(
            r("bytes=-10").resolve(100),
            Some(ByteRange { start: 90, end: 99 })
        );
        assert_eq!(
            r("bytes=-1000").resolve(100),
            Some(ByteRange { start: 0, end: 99 })
        );
        assert_eq!(
            r("bytes=50-1000").resolve(100),
            Some(ByteRange { start: 50, end: 99 })
        );
        assert_eq!(r("bytes=100-").resolve(100), None);
        assert_eq!(r("bytes=-0").resolve(100), None);
        assert_eq!(r("bytes=0-0").resolve(0), None);
    }

    #[test]
    fn ignored_and_invalid() {
        assert_eq!(parse_range("items=0-1").unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6").unwrap(), None);
        assert!(parse_range("bytes=a-b").is_err());
        assert!(parse_range("bytes=5-1").is_err());
        assert!(parse_range("bytes=99999999999999999999999-").is_err());
        assert!(parse_range("bytes=").is_err());
    }
}

#[cfg(test)]
pub(super) mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Any u64, with the edges that arithmetic bugs live at drawn often.
    pub(crate) fn number() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u64::MAX),
            Just(u64::MAX - 1),
            0u64..1000,
            any::<u64>(),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,30}|[bytes=0-9, -]{0,30}") {
            let _ = parse_range(&value);
        }

        #[test]
        fn from_to_resolves_inside_the_representation(
            start in number(), end in number(), open in any::<bool>(), len in number()
        ) {
            let value = if open { format!("bytes={start}-") } else { format!("bytes={start}-{end}") };
            let parsed = parse_range(&value);
            if !open && end < start {
                prop_assert!(parsed.is_err());
                return Ok(());
            }
            let request = parsed.unwrap().unwrap();
            match request.resolve(len) {
                Some(range) => {
                    prop_assert!(start < len);
                    prop_assert_eq!(range.start, start);
                    prop_assert!(range.start <= range.end && range.end < len);
                    prop_assert!(range.len() <= len);
                }
                None => prop_assert!(start >= len),
            }
        }

        #[test]
        fn suffixes_resolve_inside_the_representation(n in number(), len in number()) {
            let request = parse_range(&format!("bytes=-{n}")).unwrap().unwrap();
            match request.resolve(len) {
                Some(range) => {
                    prop_assert!(range.start <= range.end && range.end == len - 1);
                    prop_assert_eq!(range.len(), n.min(len));
                }
                None => prop_assert!(n == 0 || len == 0),
            }
        }
    }
}
