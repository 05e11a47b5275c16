//! `supportedlock` and `lockdiscovery`. Lock discovery is delegated to the lock managers, as in
//! the 1997 design's "Live Property Delegation": the handler owns the name, the lock manager
//! owns the data.

use std::time::SystemTime;

use async_trait::async_trait;

use davd_registry::xml::render_activelock;
use davd_registry::{
    ClientInfo, LivePropertyHandler, LockRecord, PropContext, PropName, PropValue, SubsystemResult,
};

pub struct LockProperties {
    names: Vec<PropName>,
}

impl Default for LockProperties {
    fn default() -> Self {
        Self::new()
    }
}

impl LockProperties {
    pub fn new() -> Self {
        LockProperties {
            names: vec![
                PropName::dav("supportedlock"),
                PropName::dav("lockdiscovery"),
            ],
        }
    }
}

/// `lockdiscovery` for `locks`, the locks that apply to the resource, as `client` sees it.
fn discovery(client: &ClientInfo, locks: &[LockRecord]) -> PropValue {
    if locks.is_empty() {
        return PropValue::Empty;
    }
    let now = SystemTime::now();
    let mut xml = String::new();
    for lock in locks {
        xml.push_str(&render_activelock(&lock.view(client, lock.remaining(now))));
    }
    PropValue::Xml(xml.into())
}

const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

#[async_trait]
impl LivePropertyHandler for LockProperties {
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
        if let Some(value) = self.get_now(cx, name) {
            return value;
        }
        // `lockdiscovery`, and no locks were prefetched: ask the lock managers.
        let locks = cx.locks_covering().await?;
        Ok(Some(discovery(cx.client, &locks)))
    }

    fn get_now(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        Some(Ok(match &*name.local {
            "supportedlock" => Some(PropValue::Xml(SUPPORTED_LOCK.into())),
            // The one place `Quirks::hide_activelocks` is applied: only here, in PROPFIND; a
            // LOCK response keeps the activelocks (RFC 4918 requires it).
            "lockdiscovery" if cx.client.quirks.hide_activelocks => Some(PropValue::Empty),
            "lockdiscovery" => Some(discovery(cx.client, &cx.locks_covering_now()?)),
            _ => None,
        }))
    }
}
