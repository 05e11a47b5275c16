//! Per-request context shared by the method implementations.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::StatusCode;

use davd_protocol::{ByteStream, DavPath, Method, Request};
use davd_registry::{ClientInfo, Registry, ResourceMeta, Subsystems};

use crate::Executive;
use crate::error::{DavError, DavResult};

/// One request on its way through the executive.
pub struct Ctx {
    pub exec: Arc<Executive>,
    pub request: Request,
    pub client: ClientInfo,
}

impl Ctx {
    pub fn registry(&self) -> &Registry {
        &self.exec.registry
    }

    pub fn path(&self) -> &DavPath {
        &self.request.path
    }

    /// The subsystems serving `path`.
    pub fn resolve(&self, path: &DavPath) -> Subsystems {
        self.exec.registry.resolve(path)
    }

    /// Metadata of `path`, or `None` if unmapped.
    pub async fn stat(&self, path: &DavPath) -> DavResult<Option<ResourceMeta>> {
        let (scope, namespace) = self.exec.registry.namespace(path);
        let relative = path.relative_to(scope).unwrap_or_else(DavPath::root);
        Ok(namespace.stat(&relative).await?)
    }

    /// Metadata of the parent collection of `path`: 409 when it is missing or not a
    /// collection (RFC 4918 §9.7.1, §9.3.1).
    pub async fn require_parent_collection(&self, path: &DavPath) -> DavResult<()> {
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        match self.stat(&parent).await? {
            Some(meta) if meta.collection => Ok(()),
            _ => Err(DavError::conflict("the parent collection does not exist")),
        }
    }

    /// Lock tokens the client submitted: in its If header, and for a PUT also in a
    /// `Lock-Token` header (MS-WDV 3.2.5.2: "MUST process the PUT if the token matches"; the
    /// executive checks that it names a lock on the resource, `ms::bundled`).
    pub fn submitted_tokens(&self) -> Vec<&str> {
        let mut tokens: Vec<&str> = self
            .request
            .conditions
            .if_header
            .as_ref()
            .map(|h| h.submitted_tokens().collect())
            .unwrap_or_default();
        if matches!(self.request.method, Method::Put { .. })
            && let Some(token) = &self.request.ms.lock_token
        {
            tokens.push(token);
        }
        tokens
    }

    /// Reads an XML request body, refusing it with 413 past the configured limit.
    pub async fn read_xml_body(&self, mut body: ByteStream) -> DavResult<Bytes> {
        let limit = self.exec.config.xml_limits.max_bytes;
        if self.request.body.length.is_some_and(|l| l > limit as u64) {
            return Err(too_large(limit));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| DavError::bad_request(format!("reading the body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

fn too_large(limit: usize) -> DavError {
    DavError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("XML request bodies are limited to {limit} bytes"),
    )
}
