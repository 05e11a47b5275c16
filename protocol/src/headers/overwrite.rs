use super::HeaderError;

/// The `Overwrite` header (RFC 4918 §10.6): `T` or `F`.
pub fn parse_overwrite(value: &str) -> Result<bool, HeaderError> {
    match value.trim() {
        "T" | "t" => Ok(true),
        "F" | "f" => Ok(false),
        v => Err(HeaderError::new(
            "Overwrite",
            format!("'{v}' is not T or F"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_or_f() {
        assert!(parse_overwrite("T").unwrap());
        assert!(!parse_overwrite("F").unwrap());
        assert!(parse_overwrite("yes").is_err());
        assert!(parse_overwrite("").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,12}") {
            let _ = parse_overwrite(&value);
        }
    }
}
