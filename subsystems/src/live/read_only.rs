//! Example handler from the 1997 paper: a read-only flag.
//!
//! `PROPPATCH` `<readonly xmlns="urn:davd:">true</readonly>` onto a resource and every later
//! change to it (PUT, DELETE, MOVE, PROPPATCH of other properties, a COPY onto it, a new member
//! if it is a collection) fails with 403 until the property is removed again.
//!
//! What it shows: a handler that *validates* a value and then lets the dead-property store
//! keep it ([`SetVerdict::Store`]), and one that *enforces* it through the
//! [`LivePropertyHandler::before_write`] hook.

use std::sync::Arc;

use async_trait::async_trait;

use davd_registry::xml::fragment_text;
use davd_registry::{
    DavPath, HookContext, LivePropertyHandler, PropContext, PropName, PropValue, PropertyManager,
    SetVerdict, SubsystemError, SubsystemResult, WriteKind,
};

use super::DAVD_NS;

pub struct ReadOnly {
    names: Vec<PropName>,
}

impl Default for ReadOnly {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadOnly {
    pub fn new() -> Self {
        ReadOnly {
            names: vec![PropName::new(DAVD_NS, "readonly")],
        }
    }

    fn parse(text: &str) -> Option<bool> {
        match text.trim() {
            "true" | "t" | "1" => Some(true),
            "false" | "f" | "0" => Some(false),
            _ => None,
        }
    }

    async fn is_read_only(
        &self,
        properties: &Arc<dyn PropertyManager>,
        path: &DavPath,
    ) -> SubsystemResult<bool> {
        Ok(properties
            .get(path, &self.names[0])
            .await?
            .and_then(|p| fragment_text(&p.xml))
            .and_then(|t| Self::parse(&t))
            .unwrap_or(false))
    }
}

#[async_trait]
impl LivePropertyHandler for ReadOnly {
    fn stable(&self) -> bool {
        true
    }

    fn names(&self) -> &[PropName] {
        &self.names
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        // The value lives in the dead-property store; the handler only guards it.
        Ok(cx
            .subsystems
            .properties
            .get(cx.path, name)
            .await?
            .map(|p| PropValue::Fragment(p.xml)))
    }

    fn check_set(&self, _name: &PropName, value: &str) -> SetVerdict {
        match fragment_text(value).as_deref().and_then(Self::parse) {
            Some(_) => SetVerdict::Store,
            None => SetVerdict::Reject(SubsystemError::conflict("readonly must be true or false")),
        }
    }

    fn check_remove(&self, _name: &PropName) -> SetVerdict {
        SetVerdict::Store
    }

    async fn before_write(&self, cx: &HookContext<'_>) -> SubsystemResult<()> {
        if let WriteKind::Properties(names) = &cx.kind
            && names.iter().all(|n| *n == self.names[0])
        {
            return Ok(()); // changing the flag itself is always allowed
        }
        let refused = || SubsystemError::forbidden("the resource is read-only (urn:davd:readonly)");
        if self.is_read_only(cx.properties, cx.path).await? {
            return Err(refused());
        }
        if cx.deep {
            for (path, prop) in cx.properties.get_tree(cx.path).await? {
                if prop.name == self.names[0]
                    && fragment_text(&prop.xml).as_deref().and_then(Self::parse) == Some(true)
                {
                    return Err(SubsystemError::forbidden(format!(
                        "{path} is read-only (urn:davd:readonly)"
                    )));
                }
            }
        }
        Ok(())
    }
}
