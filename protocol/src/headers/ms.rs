//! Microsoft's WebDAV headers: MS-WDV (the mini-redirector's extensions), MS-WDVME (Office's)
//! and the two MS-WDVSE headers MS-WDVME makes mandatory.
//!
//! Only syntax lives here. What a bundled lock does, when a `ResourceTag` in an If header
//! fails a request and which error number an error carries is decided in the executive
//! (`executive/src/ms/`).
//!
//! ```text
//! Translate             = "Translate" ":" ("t" | "f" | "F")              ; MS-WDV 2.2.2
//! X-MSDAVEXT            = "X-MSDAVEXT" ":" ("1" | "PROPFIND" | "PROPPATCH") ; MS-WDV 2.2.1
//! X-MSDAVEXTLockTimeout = "X-MSDAVEXTLockTimeout" ":" 1#TimeInterval     ; MS-WDV 2.2.4.1
//! ResourceTag           = "rt:" DocumentID "@" 11DIGIT                   ; MS-WDVME 2.2.4
//! Repl-Uid              = "rid:{" DocumentID "}"                          ; MS-WDVME 2.2.3
//! MSError-Header        = "X-MSDAVEXT_ERROR" ":" 1*DIGIT "; " Error-string ; MS-WDV 2.2.3
//! ```

use std::fmt;

use http::{HeaderMap, HeaderName};

use super::lock_token::parse_lock_token;
use super::{HeaderError, Timeout, parse_timeout};

/// Header names, lower-case as `http::HeaderName::from_static` wants them.
pub mod names {
    use http::HeaderName;

    pub const TRANSLATE: HeaderName = HeaderName::from_static("translate");
    pub const X_MSDAVEXT: HeaderName = HeaderName::from_static("x-msdavext");
    pub const X_MSDAVEXT_ERROR: HeaderName = HeaderName::from_static("x-msdavext_error");
    pub const X_MSDAVEXT_LOCK_TIMEOUT: HeaderName =
        HeaderName::from_static("x-msdavextlocktimeout");
    pub const MS_AUTHOR_VIA: HeaderName = HeaderName::from_static("ms-author-via");
    pub const PUBLIC_EXTENSION: HeaderName = HeaderName::from_static("public-extension");
    pub const MS_DOCLIB: HeaderName = HeaderName::from_static("ms-doclib");
    pub const RESOURCE_TAG: HeaderName = HeaderName::from_static("resourcetag");
    pub const REPL_UID: HeaderName = HeaderName::from_static("repl-uid");
    pub const LOCK_TOKEN: HeaderName = HeaderName::from_static("lock-token");
}

/// The schema named by `Public-Extension` (MS-WDVME 3.2.5.1). The specification's examples
/// were scrubbed to `schemas.fourthcoffee.com`; this is the real one.
pub const PUBLIC_EXTENSION_SCHEMA: &str = "http://schemas.microsoft.com/repl-2";

/// What `Translate` asks for (MS-WDV 2.2.2, MS-WDVSE 3.2.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translate {
    /// `f…` / `F…`: the source, untouched.
    Source,
    /// `t…` / `T…` (and absence): whatever server-side processing would produce.
    Process,
}

/// Reads `Translate` leniently: IIS honours any value starting with `f`/`F` (MS-WDV <5>), and
/// every other value "SHOULD be ignored". Never an error, even for bytes that are not text.
pub fn parse_translate(value: &[u8]) -> Option<Translate> {
    match value.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'f' | b'F') => Some(Translate::Source),
        Some(b't' | b'T') => Some(Translate::Process),
        _ => None,
    }
}

/// The request forms of `X-MSDAVEXT` (the value `1` is a response-only advertisement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsDavExt {
    /// On GET/HEAD: answer with the properties and the content in one body.
    Propfind,
    /// On PUT: the body carries a PROPPATCH document and the content.
    Proppatch,
}

/// Any other value "SHOULD be ignored" (MS-WDV 2.2.1): `None`, not an error.
pub fn parse_msdavext(value: &[u8]) -> Option<MsDavExt> {
    let value = std::str::from_utf8(value).ok()?.trim();
    if value.eq_ignore_ascii_case("PROPFIND") {
        Some(MsDavExt::Propfind)
    } else if value.eq_ignore_ascii_case("PROPPATCH") {
        Some(MsDavExt::Proppatch)
    } else {
        None
    }
}

/// `X-MSDAVEXTLockTimeout`: the `Timeout` grammar under another name. `Second-0` asks for an
/// unlock, which the executive decides about.
pub fn parse_lock_timeout(value: &str) -> Result<Timeout, HeaderError> {
    parse_timeout(value).map_err(|e| HeaderError::new("X-MSDAVEXTLockTimeout", e.reason))
}

/// The largest version a `ResourceTag` can carry (11 decimal digits).
pub const MAX_VERSION: u64 = 99_999_999_999;

/// A document id and version, as `rt:GUID@00000000002`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceTag {
    pub guid: u128,
    pub version: u64,
}

impl ResourceTag {
    /// Parses `rt:GUID@NNNNNNNNNNN` (hex in either case; exactly 11 digits).
    pub fn parse(value: &str) -> Result<ResourceTag, HeaderError> {
        let err = || HeaderError::new("If", format!("'{value}' is not a ResourceTag"));
        let rest = strip_prefix_ci(value.trim(), "rt:").ok_or_else(err)?;
        let (guid, version) = rest.split_once('@').ok_or_else(err)?;
        if version.len() != 11 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        Ok(ResourceTag {
            guid: parse_guid(guid).ok_or_else(err)?,
            version: version.parse().map_err(|_| err())?,
        })
    }

    /// True for state tokens that claim to be ResourceTags (and must then parse as one).
    pub fn is_candidate(token: &str) -> bool {
        strip_prefix_ci(token, "rt:").is_some()
    }
}

impl ResourceTag {
    /// The tag's text in a string allocated once at its exact length.
    pub fn encode(&self) -> String {
        // Written by hand: a listing encodes one per member, and `{:011}` through
        // `core::fmt` cost more than the rest of the tag together.
        let mut text = String::with_capacity(51);
        text.push_str("rt:");
        text.push_str(Guid(self.guid).encode().as_str());
        text.push('@');
        crate::digits::push_decimal(&mut text, self.version, 11);
        text
    }
}

impl fmt::Display for ResourceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// `rid:{GUID}`, the Repl-uid of a document (no blank after `{`: MS-WDVME's ABNF has one,
/// every example and every other mention has none).
pub fn repl_uid(guid: u128) -> String {
    let mut uid = String::with_capacity(42);
    uid.push_str("rid:{");
    uid.push_str(Guid(guid).encode().as_str());
    uid.push('}');
    uid
}

/// A GUID in the 8-4-4-4-12 form, upper-case as in every Microsoft example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid(pub u128);

impl Guid {
    /// 8-4-4-4-12 upper-case hex, written byte by byte without `core::fmt`: it goes out on
    /// every GET and PUT, and twice per member of a listing.
    pub fn encode(self) -> EncodedGuid {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = [b'-'; 36];
        let mut position = 0;
        for (index, byte) in self.0.to_be_bytes().into_iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                position += 1;
            }
            out[position] = HEX[usize::from(byte >> 4)];
            out[position + 1] = HEX[usize::from(byte & 0xf)];
            position += 2;
        }
        EncodedGuid(out)
    }
}

/// The 36 ASCII bytes of a GUID's text form.
#[derive(Debug, Clone, Copy)]
pub struct EncodedGuid([u8; 36]);

impl EncodedGuid {
    pub fn as_str(&self) -> &str {
        // Every byte is an ASCII hex digit or '-'.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode().as_str())
    }
}

/// Parses an 8-4-4-4-12 GUID, hex digits in either case.
pub fn parse_guid(text: &str) -> Option<u128> {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    if groups.len() != 5 || groups.iter().zip(lengths).any(|(g, n)| g.len() != n) {
        return None;
    }
    let hex: String = groups.concat();
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The Microsoft headers of a request, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MsHeaders {
    pub translate: Option<Translate>,
    pub extension: Option<MsDavExt>,
    /// `X-MSDAVEXTLockTimeout` (GET, HEAD, POST and PUT only; elsewhere a 400).
    pub lock_timeout: Option<Timeout>,
    /// `Lock-Token` on GET, HEAD, POST or PUT (MS-WDV 2.2.4.2), without angle brackets.
    pub lock_token: Option<String>,
}

impl MsHeaders {
    /// True if the request asks for a bundled lock operation or names a lock.
    pub fn has_lock_headers(&self) -> bool {
        self.lock_timeout.is_some() || self.lock_token.is_some()
    }

    /// Reads the headers for a request of `method`. MS-WDV 3.2.5.2: the lock headers belong to
    /// GET, HEAD, POST and PUT, and "any combination that is not included in this table MUST be
    /// processed as an HTTP 400": `X-MSDAVEXTLockTimeout` on another method is refused, a
    /// second `Lock-Token` too. `Lock-Token` elsewhere keeps its RFC 4918 meaning (UNLOCK) or is
    /// ignored.
    /// Every header [`MsHeaders::parse`] reads: a request carrying none of them has the
    /// default (`Request::parse` checks that in one pass over the names). Keep in step with
    /// `parse`; `every_name_parse_reads_is_listed` checks each one.
    pub const NAMES: [HeaderName; 4] = [
        names::X_MSDAVEXT_LOCK_TIMEOUT,
        names::LOCK_TOKEN,
        names::TRANSLATE,
        names::X_MSDAVEXT,
    ];

    pub fn parse(headers: &HeaderMap, method: &str) -> Result<MsHeaders, HeaderError> {
        let bundled = matches!(method, "GET" | "HEAD" | "POST" | "PUT");
        let timeouts: Vec<&str> = headers
            .get_all(&names::X_MSDAVEXT_LOCK_TIMEOUT)
            .iter()
            .map(|v| {
                v.to_str()
                    .map_err(|_| HeaderError::new("X-MSDAVEXTLockTimeout", "not ASCII text"))
            })
            .collect::<Result<_, _>>()?;
        let lock_timeout = match (timeouts.is_empty(), bundled) {
            (true, _) => None,
            (false, false) => {
                return Err(HeaderError::new(
                    "X-MSDAVEXTLockTimeout",
                    format!("only GET, HEAD, POST and PUT take it, not {method}"),
                ));
            }
            (false, true) => Some(parse_lock_timeout(&timeouts.join(","))?),
        };
        let lock_token = if bundled {
            let mut values = headers.get_all(&names::LOCK_TOKEN).iter();
            match (values.next(), values.next()) {
                (None, _) => None,
                (Some(_), Some(_)) => {
                    return Err(HeaderError::new("Lock-Token", "more than one lock token"));
                }
                (Some(value), None) => {
                    Some(parse_lock_token(value.to_str().map_err(|_| {
                        HeaderError::new("Lock-Token", "not ASCII text")
                    })?)?)
                }
            }
        } else {
            None
        };
        Ok(MsHeaders {
            translate: headers
                .get(&names::TRANSLATE)
                .and_then(|v| parse_translate(v.as_bytes())),
            extension: headers
                .get(&names::X_MSDAVEXT)
                .and_then(|v| parse_msdavext(v.as_bytes())),
            lock_timeout,
            lock_token,
        })
    }
}

/// The version of a `Microsoft-WebDAV-MiniRedir/x.y.z` user agent, component by component
/// (missing components count as 0); `None` for other agents or an unreadable version.
pub fn miniredir_version(user_agent: &str) -> Option<[u64; 4]> {
    const PRODUCT: &str = "Microsoft-WebDAV-MiniRedir/";
    // A search prepares itself for its needle first, even in a haystack too short to hold
    // it; most requests come with no agent or a short one.
    if user_agent.len() < PRODUCT.len() {
        return None;
    }
    let start = user_agent.find(PRODUCT)? + PRODUCT.len();
    let version = user_agent[start..]
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .next()?;
    let mut out = [0u64; 4];
    let mut parts = version.split('.');
    for slot in &mut out {
        match parts.next() {
            None => break,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                *slot = p.parse().ok()?;
            }
            Some(_) => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// The value of `X-MSDAVEXT_ERROR`: the decimal number, `"; "`, and the text percent-encoded
/// (every byte outside `A-Z a-z 0-9 - . _ ~`, RFC 3986 §2.1, upper-case hex).
pub fn ms_error_value(number: u32, text: &str) -> String {
    let mut out = format!("{number}; ");
    let text = if text.is_empty() { "error" } else { text };
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// `Request::parse` skips [`MsHeaders::parse`] when none of [`MsHeaders::NAMES`] is
    /// present: each header `parse` reads must be listed, and no other Microsoft header may
    /// change what it returns.
    #[test]
    fn every_name_parse_reads_is_listed() {
        let read = [
            (names::X_MSDAVEXT_LOCK_TIMEOUT, "Second-3600"),
            (names::LOCK_TOKEN, "<opaquelocktoken:a>"),
            (names::TRANSLATE, "f"),
            (names::X_MSDAVEXT, "PROPFIND"),
        ];
        for (name, value) in read.clone() {
            let mut headers = HeaderMap::new();
            headers.insert(name.clone(), HeaderValue::from_static(value));
            let parsed = MsHeaders::parse(&headers, "GET").unwrap();
            assert_ne!(parsed, MsHeaders::default(), "{name} is read");
            assert!(MsHeaders::NAMES.contains(&name), "{name} is not listed");
        }
        assert_eq!(read.len(), MsHeaders::NAMES.len());
        let others = [
            names::X_MSDAVEXT_ERROR,
            names::MS_AUTHOR_VIA,
            names::PUBLIC_EXTENSION,
            names::MS_DOCLIB,
            names::RESOURCE_TAG,
            names::REPL_UID,
        ];
        for name in others {
            let mut headers = HeaderMap::new();
            headers.insert(name.clone(), HeaderValue::from_static("PROPFIND"));
            let parsed = MsHeaders::parse(&headers, "GET").unwrap();
            assert_eq!(parsed, MsHeaders::default(), "{name}");
        }
    }

    #[test]
    fn translate_values() {
        assert_eq!(parse_translate(b"f"), Some(Translate::Source));
        assert_eq!(parse_translate(b"F"), Some(Translate::Source));
        assert_eq!(parse_translate(b"false"), Some(Translate::Source));
        assert_eq!(parse_translate(b"t"), Some(Translate::Process));
        assert_eq!(parse_translate(b"xyz"), None);
        assert_eq!(parse_translate(b""), None);
        assert_eq!(parse_translate(b"\xff"), None);
    }

    #[test]
    fn msdavext_values() {
        assert_eq!(parse_msdavext(b"PROPFIND"), Some(MsDavExt::Propfind));
        assert_eq!(parse_msdavext(b" proppatch "), Some(MsDavExt::Proppatch));
        assert_eq!(parse_msdavext(b"1"), None);
        assert_eq!(parse_msdavext(b"LOCK"), None);
    }

    #[test]
    fn resource_tag_versions_are_padded_to_eleven_digits() {
        for version in [0, 1, 9, 10, 12_345, MAX_VERSION, MAX_VERSION + 1, u64::MAX] {
            let tag = ResourceTag {
                guid: 0xABC,
                version,
            };
            let encoded = tag.encode();
            let (_, digits) = encoded.split_once('@').unwrap();
            assert_eq!(digits, format!("{version:011}"), "{version}");
            assert!(encoded.starts_with("rt:00000000-0000-0000-0000-000000000ABC@"));
        }
    }

    #[test]
    fn resource_tags_round_trip() {
        let text = "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@00000000002";
        let tag = ResourceTag::parse(text).unwrap();
        assert_eq!(tag.version, 2);
        assert_eq!(tag.to_string(), text);
        assert_eq!(tag.encode(), text);
        assert_eq!(
            ResourceTag::parse("RT:93dae904-c4ae-4b5f-a7f6-bdf4faacef5f@00000000002").unwrap(),
            tag
        );
        assert_eq!(
            repl_uid(tag.guid),
            "rid:{93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F}"
        );
        for bad in [
            "rt:not-a-guid@00000000001",
            "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@2",
            "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F",
            "rt:93DAE904C4AE4B5FA7F6BDF4FAACEF5F@00000000002",
            "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5G@00000000002",
            "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@0000000000x",
        ] {
            assert!(ResourceTag::parse(bad).is_err(), "{bad}");
        }
        assert!(ResourceTag::is_candidate("Rt:x"));
        assert!(!ResourceTag::is_candidate("urn:uuid:x"));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn lock_headers_per_method() {
        let h = headers(&[
            ("x-msdavextlocktimeout", "Second-3600"),
            ("lock-token", "opaquelocktoken:abc"),
        ]);
        let ms = MsHeaders::parse(&h, "PUT").unwrap();
        assert_eq!(ms.lock_timeout, Some(Timeout::Seconds(3600)));
        assert_eq!(ms.lock_token.as_deref(), Some("opaquelocktoken:abc"));
        assert!(MsHeaders::parse(&h, "PROPFIND").is_err());
        let h = headers(&[("lock-token", "<urn:uuid:1>")]);
        assert_eq!(MsHeaders::parse(&h, "DELETE").unwrap().lock_token, None);
        let h = headers(&[
            ("lock-token", "<urn:uuid:1>"),
            ("lock-token", "<urn:uuid:2>"),
        ]);
        assert!(MsHeaders::parse(&h, "GET").is_err());
        let h = headers(&[("x-msdavextlocktimeout", "soon")]);
        assert_eq!(
            MsHeaders::parse(&h, "GET").unwrap_err().header,
            "X-MSDAVEXTLockTimeout"
        );
        let h = headers(&[("x-msdavextlocktimeout", "Second-0")]);
        assert_eq!(
            MsHeaders::parse(&h, "HEAD").unwrap().lock_timeout,
            Some(Timeout::Seconds(0))
        );
    }

    #[test]
    fn miniredir_versions() {
        let v = |ua: &str| miniredir_version(ua);
        assert_eq!(
            v("Microsoft-WebDAV-MiniRedir/5.2.3790"),
            Some([5, 2, 3790, 0])
        );
        assert_eq!(
            v("Microsoft-WebDAV-MiniRedir/10.0.19045"),
            Some([10, 0, 19045, 0])
        );
        assert_eq!(v("Microsoft-WebDAV-MiniRedir"), None);
        assert_eq!(v("DavClnt"), None);
        assert_eq!(v("Microsoft-WebDAV-MiniRedir/5.x"), None);
        assert!(v("Microsoft-WebDAV-MiniRedir/5.1.2600").unwrap() < [5, 2, 3718, 0]);
        assert!(v("Microsoft-WebDAV-MiniRedir/5.2.3718.0").unwrap() >= [5, 2, 3718, 0]);
        assert!(v("Microsoft-WebDAV-MiniRedir/10.0.1").unwrap() >= [5, 2, 3718, 0]);
    }

    #[test]
    fn error_values() {
        assert_eq!(
            ms_error_value(589838, "Resource already locked by alice"),
            "589838; Resource%20already%20locked%20by%20alice"
        );
        assert_eq!(ms_error_value(2342, "\"a\\b\""), "2342; %22a%5Cb%22");
    }
}

#[cfg(test)]
mod proptests {
    use http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every parser of the Microsoft headers takes any text without panicking.
        #[test]
        fn never_panics(value in "\\PC{0,60}|[rtRT:@{}0-9A-Fa-f-]{0,60}|[Secondifty0-9, -]{0,40}") {
            let _ = parse_translate(value.as_bytes());
            let _ = parse_msdavext(value.as_bytes());
            let _ = parse_lock_timeout(&value);
            let _ = ResourceTag::parse(&value);
            let _ = parse_guid(&value);
            let _ = miniredir_version(&value);
            let _ = miniredir_version(&format!("Microsoft-WebDAV-MiniRedir/{value}"));
            if let Ok(header) = HeaderValue::from_str(&value) {
                for name in [
                    names::X_MSDAVEXT_LOCK_TIMEOUT,
                    names::LOCK_TOKEN,
                    names::TRANSLATE,
                    names::X_MSDAVEXT,
                ] {
                    let mut headers = HeaderMap::new();
                    headers.insert(name, header.clone());
                    for method in ["GET", "PUT", "LOCK", "DELETE"] {
                        let _ = MsHeaders::parse(&headers, method);
                    }
                }
            }
        }

        /// A tag renders to text that parses back to the same tag, for every GUID and every
        /// version a tag can carry.
        #[test]
        fn resource_tags_round_trip(guid in any::<u128>(), version in 0..=MAX_VERSION) {
            let tag = ResourceTag { guid, version };
            let text = tag.encode();
            prop_assert_eq!(text.len(), 51);
            prop_assert_eq!(ResourceTag::parse(&text), Ok(tag));
            prop_assert_eq!(parse_guid(Guid(guid).encode().as_str()), Some(guid));
        }

        /// The error header's value is always a valid header value: ASCII, no line breaks.
        #[test]
        fn error_values_are_header_safe(number in any::<u32>(), text in "\\PC{0,40}|[\r\n\t ]{0,5}") {
            let value = ms_error_value(number, &text);
            prop_assert!(value.is_ascii());
            prop_assert!(HeaderValue::from_str(&value).is_ok(), "{}", value);
        }
    }
}
