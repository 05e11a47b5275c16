use super::HeaderError;

/// The `Depth` header (RFC 4918 §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

impl Depth {
    /// Parses `0`, `1` or `infinity` (case-insensitive, surrounding blanks ignored).
    pub fn parse(value: &str) -> Result<Depth, HeaderError> {
        match value.trim() {
            "0" => Ok(Depth::Zero),
            "1" => Ok(Depth::One),
            v if v.eq_ignore_ascii_case("infinity") => Ok(Depth::Infinity),
            v => Err(HeaderError::new(
                "Depth",
                format!("'{v}' is not 0, 1 or infinity"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Depth::Zero => "0",
            Depth::One => "1",
            Depth::Infinity => "infinity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_values_only() {
        assert_eq!(Depth::parse("0").unwrap(), Depth::Zero);
        assert_eq!(Depth::parse(" 1 ").unwrap(), Depth::One);
        assert_eq!(Depth::parse("Infinity").unwrap(), Depth::Infinity);
        assert!(Depth::parse("2").is_err());
        assert!(Depth::parse("").is_err());
        assert!(Depth::parse("infinite").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics_and_round_trips(value in "\\PC{0,12}|[ 01infty]{0,10}") {
            if let Ok(depth) = Depth::parse(&value) {
                prop_assert_eq!(Depth::parse(depth.as_str()), Ok(depth));
            }
        }
    }
}
