//! RFC 6578's live properties of a collection: `DAV:sync-token`, where a syncing client starts
//! from, and RFC 3253's `DAV:supported-report-set`, which says the `sync-collection` report is
//! answered here. Both only where the scope's property store keeps a change log.

use async_trait::async_trait;

use davd_registry::{LivePropertyHandler, PropContext, PropName, PropValue, SubsystemResult};

pub struct SyncProperties {
    names: Vec<PropName>,
}

impl Default for SyncProperties {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncProperties {
    pub fn new() -> Self {
        SyncProperties {
            names: vec![
                PropName::dav("sync-token"),
                PropName::dav("supported-report-set"),
            ],
        }
    }
}

/// The one report davd answers, as RFC 3253 §3.1.5 lists it.
const SUPPORTED_REPORTS: &str =
    "<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>";

#[async_trait]
impl LivePropertyHandler for SyncProperties {
    fn names(&self) -> &[PropName] {
        &self.names
    }

    /// RFC 6578 §4: a sync token is returned only when asked for (it costs a read of the
    /// log); RFC 3253 §3.1.5 says the same of the report set.
    fn in_allprop(&self, _name: &PropName) -> bool {
        false
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        let Some(log) = cx.subsystems.properties.change_log() else {
            return Ok(None);
        };
        if !cx.meta.collection {
            return Ok(None);
        }
        Ok(Some(match name.local.as_ref() {
            "sync-token" => PropValue::Text(log.current().await?.token().into()),
            _ => PropValue::Xml(SUPPORTED_REPORTS.into()),
        }))
    }
}
