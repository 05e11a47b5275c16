//! `supportedlock` and `lockdiscovery`. Lock discovery is delegated to the lock managers, as in
//! the 1997 design's "Live Property Delegation": the handler owns the name, the lock manager
//! owns the data.

use std::time::SystemTime;

use async_trait::async_trait;

use davd_registry::xml::{ActiveLockView, render_activelock};
use davd_registry::{
    ClientInfo, DEFAULT_OMIT_LOCKROOT_FOR, Depth, LivePropertyHandler, LockRecord, PropContext,
    PropName, PropValue, SubsystemResult, omits_lockroot,
};

/// How lock discovery is rendered for particular clients.
#[derive(Debug, Clone)]
pub struct LockDiscoveryOptions {
    /// User-Agent substrings of clients that get no `lockroot` element (old Office versions
    /// reject the RFC 4918 addition). Configured with the top-level `omit_lockroot_for` key;
    /// by default [`DEFAULT_OMIT_LOCKROOT_FOR`].
    pub omit_lockroot_for: Vec<String>,
}

impl Default for LockDiscoveryOptions {
    fn default() -> Self {
        LockDiscoveryOptions {
            omit_lockroot_for: DEFAULT_OMIT_LOCKROOT_FOR
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

pub struct LockProperties {
    names: Vec<PropName>,
    options: LockDiscoveryOptions,
}

impl LockProperties {
    pub fn new(options: LockDiscoveryOptions) -> Self {
        LockProperties {
            names: vec![
                PropName::dav("supportedlock"),
                PropName::dav("lockdiscovery"),
            ],
            options,
        }
    }

    fn lockroot_for(&self, user_agent: Option<&str>) -> bool {
        !omits_lockroot(&self.options.omit_lockroot_for, user_agent)
    }

    /// `lockdiscovery` for `locks`, the locks that apply to the resource.
    fn discovery(&self, cx: &PropContext<'_>, locks: &[LockRecord]) -> PropValue {
        if locks.is_empty() {
            return PropValue::Empty;
        }
        let with_root = self.lockroot_for(cx.client.user_agent.as_deref());
        PropValue::Xml(render_lockdiscovery(locks, with_root).into())
    }
}

const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// Renders the `activelock` elements for `locks`.
pub fn render_lockdiscovery(locks: &[LockRecord], with_lockroot: bool) -> String {
    let now = SystemTime::now();
    let mut xml = String::new();
    for lock in locks {
        let root_href = lock.root.to_href(false);
        xml.push_str(&render_activelock(&ActiveLockView {
            scope: lock.scope,
            depth: if lock.deep {
                Depth::Infinity
            } else {
                Depth::Zero
            },
            owner: lock.owner.as_deref(),
            timeout: lock.remaining(now),
            token: &lock.token,
            root_href: with_lockroot.then_some(root_href.as_str()),
        }));
    }
    xml
}

/// The first mini-redirector version that copes with `activelock` in PROPFIND answers.
const MINIREDIR_FIXED: [u64; 4] = [5, 2, 3718, 0];

/// True for `Microsoft-WebDAV-MiniRedir` older than 5.2.3718.0, compared numerically.
fn hides_activelock(client: &ClientInfo) -> bool {
    client
        .miniredir_version
        .is_some_and(|v| v < MINIREDIR_FIXED)
}

#[async_trait]
impl LivePropertyHandler for LockProperties {
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
        Ok(Some(self.discovery(cx, &locks)))
    }

    fn get_now(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        Some(Ok(match &*name.local {
            "supportedlock" => Some(PropValue::Xml(SUPPORTED_LOCK.into())),
            // MS-WDVME 3.2.5.3.3: mini-redirectors before 5.2.3718.0 append the lock token
            // to the resource name, so they get the property without its activelocks. Only
            // here, in PROPFIND: a LOCK response keeps them (RFC 4918 requires it).
            "lockdiscovery" if hides_activelock(cx.client) => Some(PropValue::Empty),
            "lockdiscovery" => Some(self.discovery(cx, &cx.locks_covering_now()?)),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(user_agent: &str) -> ClientInfo {
        ClientInfo::new(Some(user_agent.to_owned()), None)
    }

    #[test]
    fn old_mini_redirectors() {
        let agent = |v: &str| format!("Microsoft-WebDAV-MiniRedir/{v}");
        for old in ["5.1.2600", "5.2.3717", "4.0"] {
            assert!(hides_activelock(&client(&agent(old))), "{old}");
        }
        for new in ["5.2.3718", "5.2.3718.0", "5.2.3790", "10.0.19045"] {
            assert!(!hides_activelock(&client(&agent(new))), "{new}");
        }
        assert!(!hides_activelock(&client("Microsoft-WebDAV-MiniRedir")));
        assert!(!hides_activelock(&client("DavClnt")));
        assert!(!hides_activelock(&ClientInfo::default()));
    }
}
