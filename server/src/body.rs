//! The response body davd hands hyper: the executive's body as it is. axum's `Body` boxed
//! every response, and each wrapper around it (the exchange's, the connection's) boxed it
//! once more; this one is a plain enum, wrapped by value (ADR 0020).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};

use davd_protocol::ByteStream;

/// What a response carries: nothing, bytes in hand, or a stream.
pub enum ResponseBody {
    Empty,
    /// Taken when sent.
    Full(Option<Bytes>),
    Stream(ByteStream),
}

impl From<davd_protocol::Body> for ResponseBody {
    fn from(body: davd_protocol::Body) -> Self {
        match body {
            davd_protocol::Body::Empty => ResponseBody::Empty,
            davd_protocol::Body::Full(bytes) if bytes.is_empty() => ResponseBody::Empty,
            davd_protocol::Body::Full(bytes) => ResponseBody::Full(Some(bytes)),
            davd_protocol::Body::Stream(stream) => ResponseBody::Stream(stream),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(stream) => Pin::new(stream)
                .poll_next(cx)
                .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Empty | ResponseBody::Full(None))
    }

    /// Exact for bytes in hand, so that hyper writes their `Content-Length`.
    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Empty | ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures_util::stream;
    use http_body_util::BodyExt;

    async fn collect(body: ResponseBody) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn each_kind_sends_its_bytes_and_says_its_length() {
        let full = ResponseBody::from(davd_protocol::Body::Full(Bytes::from_static(b"abc")));
        assert_eq!(full.size_hint().exact(), Some(3));
        assert!(!full.is_end_stream());
        assert_eq!(collect(full).await, b"abc");

        let empty = ResponseBody::from(davd_protocol::Body::Full(Bytes::new()));
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));

        let chunks: Vec<io::Result<Bytes>> =
            vec![Ok(Bytes::from_static(b"a")), Ok(Bytes::from_static(b"bc"))];
        let streamed =
            ResponseBody::from(davd_protocol::Body::Stream(Box::pin(stream::iter(chunks))));
        assert_eq!(streamed.size_hint().exact(), None);
        assert_eq!(collect(streamed).await, b"abc");
    }

    #[tokio::test]
    async fn a_failing_stream_fails_the_body() {
        let chunks: Vec<io::Result<Bytes>> = vec![Err(io::Error::other("gone"))];
        let body = ResponseBody::Stream(Box::pin(stream::iter(chunks)));
        assert!(body.collect().await.is_err());
    }
}
