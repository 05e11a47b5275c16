//! `multipart/MSDAVEXTPrefixEncoded` (MS-WDV 2.2.5) in both directions: a GET answered with
//! the resource's properties and content in one body (`X-MSDAVEXT: PROPFIND`), and a PUT whose
//! body carries a PROPPATCH document before the content (`X-MSDAVEXT: PROPPATCH`).
//!
//! The framing is in `davd_protocol::msdavext`; here the properties part is rendered exactly
//! as a Depth 0 allprop PROPFIND would render it, and a request body is split while it streams:
//! the properties part (at most the XML limit) is read into memory, the content part goes to
//! the namespace chunk by chunk and must be exactly as long as announced.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use http::StatusCode;

use davd_protocol::msdavext::{SIZE_FIELD_LEN, is_prefix_encoded, parse_size_field, size_field};
use davd_protocol::xml::{PatchInstruction, body_text, parse_propertyupdate};
use davd_protocol::{Body, ByteStream};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};

/// The response body for `properties` (a rendered multistatus) and the GET body `content` of
/// `content_len` bytes, and its total length (the `Content-Length`, size fields included).
pub fn response_body(properties: Bytes, content: Body, content_len: u64) -> (Body, u64) {
    let total = 2 * SIZE_FIELD_LEN as u64 + properties.len() as u64 + content_len;
    let mut head = BytesMut::with_capacity(2 * SIZE_FIELD_LEN + properties.len());
    head.extend_from_slice(&size_field(properties.len() as u64));
    head.extend_from_slice(&properties);
    head.extend_from_slice(&size_field(content_len));
    let head = head.freeze();
    let body = match content {
        Body::Empty => Body::Full(head),
        Body::Full(bytes) => {
            let mut all = BytesMut::with_capacity(head.len() + bytes.len());
            all.extend_from_slice(&head);
            all.extend_from_slice(&bytes);
            Body::Full(all.freeze())
        }
        Body::Stream(rest) => {
            Body::Stream(stream::once(async move { Ok(head) }).chain(rest).boxed())
        }
    };
    (body, total)
}

/// A PUT body split into its two parts.
pub struct PrefixedPut {
    /// The PROPPATCH instructions, in document order.
    pub instructions: Vec<PatchInstruction>,
    /// The content, which fails with an error if it is not exactly as long as announced.
    pub content: ByteStream,
}

/// Reads the properties part of a prefix-encoded PUT body; the content part is left streaming.
/// 415 for another Content-Type, 413 for a properties part over the XML limit, 400 for a
/// malformed frame or document (nothing is written in any of these cases).
pub async fn read_put(ctx: &Ctx, body: ByteStream) -> DavResult<PrefixedPut> {
    let content_type = ctx.request.body.content_type.as_deref().unwrap_or("");
    if !is_prefix_encoded(content_type) {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "X-MSDAVEXT: PROPPATCH needs Content-Type: multipart/MSDAVEXTPrefixEncoded",
        ));
    }
    let mut reader = Prefix {
        stream: body,
        buffered: BytesMut::new(),
    };
    let properties_len = parse_size_field(&reader.take(SIZE_FIELD_LEN).await?)?;
    let limit = ctx.exec.config.xml_limits.max_bytes;
    if properties_len > limit as u64 {
        return Err(DavError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the properties part is limited to {limit} bytes"),
        ));
    }
    let properties = reader.take(properties_len as usize).await?;
    let content_len = parse_size_field(&reader.take(SIZE_FIELD_LEN).await?)?;
    let framed = 2 * SIZE_FIELD_LEN as u64 + properties_len;
    if let Some(length) = ctx.request.body.length
        && Some(length) != framed.checked_add(content_len)
    {
        return Err(DavError::bad_request(format!(
            "Content-Length is {length}, the parts announce {}",
            framed.saturating_add(content_len)
        )));
    }
    let text = body_text(&properties).map_err(|e| DavError::bad_request(e.to_string()))?;
    let instructions = parse_propertyupdate(text, &ctx.exec.config.xml_limits)
        .map_err(|e| DavError::bad_request(format!("the properties part: {e}")))?;
    Ok(PrefixedPut {
        instructions,
        content: exactly(reader.buffered.freeze(), reader.stream, content_len),
    })
}

/// A stream read in pieces of known length.
struct Prefix {
    stream: ByteStream,
    buffered: BytesMut,
}

impl Prefix {
    async fn take(&mut self, n: usize) -> DavResult<Bytes> {
        while self.buffered.len() < n {
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buffered.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(DavError::bad_request(format!("reading the body: {e}")));
                }
                None => {
                    return Err(DavError::bad_request(
                        "the multipart/MSDAVEXTPrefixEncoded body is truncated",
                    ));
                }
            }
        }
        Ok(self.buffered.split_to(n).freeze())
    }
}

/// `first` then `rest`, failing unless the two together are exactly `expected` bytes long.
fn exactly(first: Bytes, rest: ByteStream, expected: u64) -> ByteStream {
    let chunks = stream::once(async move { Ok(first) })
        .chain(rest)
        .filter(|c| std::future::ready(c.as_ref().map_or(true, |b| !b.is_empty())));
    stream::unfold(
        (chunks.boxed(), 0u64, false),
        move |(mut chunks, seen, done)| async move {
            if done {
                return None;
            }
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > expected {
                        let e = io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "the content part is longer than the {expected} bytes announced"
                            ),
                        );
                        Some((Err(e), (chunks, seen, true)))
                    } else {
                        Some((Ok(chunk), (chunks, seen, false)))
                    }
                }
                Some(Err(e)) => Some((Err(e), (chunks, seen, true))),
                None if seen < expected => {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the content part ended after {seen} of {expected} bytes"),
                    );
                    Some((Err(e), (chunks, seen, true)))
                }
                None => None,
            }
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        stream::iter(parts).boxed()
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>, io::ErrorKind> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.map_err(|e| e.kind())?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn exact_lengths() {
        let ok = exactly(Bytes::from_static(b"ab"), chunks(&[b"cd", b"e"]), 5);
        assert_eq!(collect(ok).await.unwrap(), b"abcde");
        let long = exactly(Bytes::new(), chunks(&[b"abc"]), 2);
        assert_eq!(collect(long).await.unwrap_err(), io::ErrorKind::InvalidData);
        let short = exactly(Bytes::from_static(b"a"), chunks(&[]), 2);
        assert_eq!(
            collect(short).await.unwrap_err(),
            io::ErrorKind::UnexpectedEof
        );
        let empty = exactly(Bytes::new(), chunks(&[]), 0);
        assert_eq!(collect(empty).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn response_framing() {
        let (body, total) = response_body(Bytes::from_static(b"<x/>"), Body::Empty, 0);
        assert_eq!(total, 36);
        match body {
            Body::Full(b) => assert_eq!(&b[..], b"0000000000000004<x/>0000000000000000"),
            other => panic!("{other:?}"),
        }
    }
}
