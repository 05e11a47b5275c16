//! Helpers for the Microsoft-extension tests: ResourceTags and the prefix-encoded bodies.

use reqwest::Response;

pub const OFFICE: &str = "urn:schemas-microsoft-com:office:office";
pub const REPL: &str = "http://schemas.microsoft.com/repl/";
pub const Z: &str = "urn:schemas-microsoft-com:";

/// The multistatus root of an answer that names properties of the Microsoft namespaces with
/// these `prefixes` (of `Office`, `Repl` and `Z`, the MS-WDVME 2.2.10 aliases): those, in that
/// order, and no other.
pub fn ms_root(prefixes: &[&str]) -> String {
    let mut root = String::from(r#"<D:multistatus xmlns:D="DAV:""#);
    for (prefix, namespace) in [("Office", OFFICE), ("Repl", REPL), ("Z", Z)] {
        if prefixes.contains(&prefix) {
            root.push_str(&format!(r#" xmlns:{prefix}="{namespace}""#));
        }
    }
    root.push('>');
    root
}

/// MS-WDV 4.6, byte for byte (the scrubbed namespace restored): 494 bytes.
pub const SPEC_VECTOR: &str = concat!(
    "00000000000001BB",
    r#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Wed, 20 Jun 2007 20:29:23 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Wed, 20 Jun 2007 20:29:30 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Wed, 20 Jun 2007 20:29:30 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#,
    "0000000000000013",
    "this is a text file"
);

/// A parsed `rt:GUID@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub guid: String,
    pub version: u64,
}

impl Tag {
    pub fn parse(text: &str) -> Tag {
        let rest = text
            .strip_prefix("rt:")
            .unwrap_or_else(|| panic!("not a ResourceTag: {text}"));
        let (guid, version) = rest.split_once('@').unwrap();
        assert_eq!(guid.len(), 36, "GUID in {text}");
        assert!(
            guid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "GUID in {text}"
        );
        assert_eq!(version.len(), 11, "11 digits in {text}");
        Tag {
            guid: guid.to_owned(),
            version: version.parse().unwrap(),
        }
    }

    pub fn with_version(&self, version: u64) -> String {
        format!("rt:{}@{:011}", self.guid, version)
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rt:{}@{:011}", self.guid, self.version)
    }
}

/// A header's value as text, if present.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The `ResourceTag` header of a response.
pub fn resource_tag(response: &Response) -> Tag {
    Tag::parse(&header(response, "resourcetag").expect("ResourceTag header"))
}

/// Splits a `multipart/MSDAVEXTPrefixEncoded` body, checking the framing.
pub fn split_prefixed(body: &[u8]) -> (String, Vec<u8>) {
    let size = |field: &[u8]| {
        assert_eq!(field.len(), 16);
        u64::from_str_radix(std::str::from_utf8(field).unwrap(), 16).unwrap() as usize
    };
    let p = size(&body[..16]);
    let xml = String::from_utf8(body[16..16 + p].to_vec()).unwrap();
    let f = size(&body[16 + p..32 + p]);
    let content = body[32 + p..].to_vec();
    assert_eq!(content.len(), f, "content part length");
    (xml, content)
}

/// Builds a prefix-encoded PUT body.
pub fn prefixed(xml: &str, content: &[u8]) -> Vec<u8> {
    let mut out = format!("{:016X}{xml}{:016X}", xml.len(), content.len()).into_bytes();
    out.extend_from_slice(content);
    out
}
