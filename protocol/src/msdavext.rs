//! The `multipart/MSDAVEXTPrefixEncoded` body of MS-WDV 2.2.5: properties and content in one
//! message, each part preceded by its length.
//!
//! ```text
//! | Properties-Size | Properties (P) | File-Size     | File-Contents (F) |
//! | 16 hex digits   | UTF-8 XML      | 16 hex digits | raw bytes         |
//! ```
//!
//! No separators, no MIME boundary: the example in MS-WDV 4.6 is exactly 16 + 443 + 16 + 19
//! bytes. In a response the properties are a PROPFIND allprop multistatus; in a request they
//! are a PROPPATCH `propertyupdate`. This module only frames; reading a request body as a
//! stream is the executive's job.

use crate::error::ProtocolError;

/// The media type of both directions.
pub const PREFIX_ENCODED: &str = "multipart/MSDAVEXTPrefixEncoded";

/// Length of each size field.
pub const SIZE_FIELD_LEN: usize = 16;

/// A size field: zero-padded upper-case hex, like the specification's example (Apache writes
/// lower case; readers accept both).
pub fn size_field(n: u64) -> [u8; SIZE_FIELD_LEN] {
    let mut out = [b'0'; SIZE_FIELD_LEN];
    out.copy_from_slice(format!("{n:016X}").as_bytes());
    out
}

/// Reads a size field: exactly 16 hex digits, either case.
pub fn parse_size_field(field: &[u8]) -> Result<u64, ProtocolError> {
    let bad = || {
        ProtocolError::BadRequest(format!(
            "a {PREFIX_ENCODED} size field must be 16 hexadecimal digits"
        ))
    };
    if field.len() != SIZE_FIELD_LEN || !field.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let text = std::str::from_utf8(field).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

/// True if a `Content-Type` names the prefix-encoded type (parameters and case ignored).
pub fn is_prefix_encoded(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(PREFIX_ENCODED))
}

/// Splits a complete prefix-encoded body into its two parts (for bodies already in memory,
/// and for tests; the server streams the content part instead).
pub fn split(body: &[u8]) -> Result<(&[u8], &[u8]), ProtocolError> {
    let short = || ProtocolError::BadRequest(format!("the {PREFIX_ENCODED} body is truncated"));
    let properties_len = usize::try_from(parse_size_field(
        body.get(..SIZE_FIELD_LEN).ok_or_else(short)?,
    )?)
    .map_err(|_| short())?;
    let rest = &body[SIZE_FIELD_LEN..];
    let properties = rest.get(..properties_len).ok_or_else(short)?;
    let rest = &rest[properties_len..];
    let content_len = usize::try_from(parse_size_field(
        rest.get(..SIZE_FIELD_LEN).ok_or_else(short)?,
    )?)
    .map_err(|_| short())?;
    let content = &rest[SIZE_FIELD_LEN..];
    if content.len() != content_len {
        return Err(ProtocolError::BadRequest(format!(
            "the {PREFIX_ENCODED} body announces {content_len} content bytes and carries {}",
            content.len()
        )));
    }
    Ok((properties, content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PropName;
    use crate::xml::{PatchInstruction, XmlLimits, parse_propertyupdate};

    /// MS-WDV 4.6, byte for byte, with the scrubbed namespace restored: 494 bytes, no line
    /// breaks, no trailing newline.
    const SPEC_VECTOR: &str = concat!(
        "00000000000001BB",
        r#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Wed, 20 Jun 2007 20:29:23 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Wed, 20 Jun 2007 20:29:30 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Wed, 20 Jun 2007 20:29:30 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#,
        "0000000000000013",
        "this is a text file"
    );

    #[test]
    fn the_specification_vector() {
        assert_eq!(SPEC_VECTOR.len(), 494);
        let (properties, content) = split(SPEC_VECTOR.as_bytes()).unwrap();
        assert_eq!(properties.len(), 0x1BB);
        assert_eq!(content, b"this is a text file");
        let text = std::str::from_utf8(properties).unwrap();
        let instructions = parse_propertyupdate(text, &XmlLimits::default()).unwrap();
        let names: Vec<&PropName> = instructions.iter().map(|i| i.name()).collect();
        let z = |n: &'static str| PropName::new("urn:schemas-microsoft-com:", n);
        assert_eq!(
            names,
            [
                &z("Win32CreationTime"),
                &z("Win32LastAccessTime"),
                &z("Win32LastModifiedTime"),
                &z("Win32FileAttributes")
            ]
        );
        assert!(matches!(
            &instructions[3],
            PatchInstruction::Set { value, .. } if value.contains(">00000020<")
        ));
    }

    #[test]
    fn size_fields() {
        assert_eq!(&size_field(0x1BB), b"00000000000001BB");
        assert_eq!(parse_size_field(b"00000000000001bb").unwrap(), 0x1BB);
        assert!(parse_size_field(b"00000000000001B").is_err());
        assert!(parse_size_field(b"0000000000000 1B").is_err());
        assert!(parse_size_field(b"+000000000000001").is_err());
    }

    #[test]
    fn truncated_or_long_bodies() {
        assert!(split(b"0000000000000010<a/>").is_err());
        assert!(split(b"00000000000000040000").is_err());
        let mut long = SPEC_VECTOR.as_bytes().to_vec();
        long.push(b'!');
        assert!(split(&long).is_err());
        assert!(split(&SPEC_VECTOR.as_bytes()[..490]).is_err());
    }

    #[test]
    fn media_type() {
        assert!(is_prefix_encoded("multipart/MSDAVEXTPrefixEncoded"));
        assert!(is_prefix_encoded("Multipart/msdavextprefixencoded; x=y"));
        assert!(!is_prefix_encoded("multipart/form-data"));
    }
}
