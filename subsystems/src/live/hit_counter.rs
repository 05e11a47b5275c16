//! Example handler from the 1997 paper: a page hit counter.
//!
//! `{urn:davd:}hits` counts the successful GETs of a resource. What it shows: a handler that
//! computes a protected value, and one that observes reads through the
//! [`LivePropertyHandler::after_read`] hook, keeping its state in the dead-property store under
//! its own name (so the count moves and is copied with the resource, like any property).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use davd_registry::xml::fragment_text;
use davd_registry::{
    DavPath, LivePropertyHandler, PropContext, PropName, PropValue, PropertyManager, StoredProp,
    SubsystemResult,
};

use super::DAVD_NS;

pub struct HitCounter {
    names: Vec<PropName>,
    /// Serialises read-increment-write so concurrent GETs are all counted.
    update: Mutex<()>,
}

impl Default for HitCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl HitCounter {
    pub fn new() -> Self {
        HitCounter {
            names: vec![PropName::new(DAVD_NS, "hits")],
            update: Mutex::new(()),
        }
    }

    async fn count(
        &self,
        properties: &Arc<dyn PropertyManager>,
        path: &DavPath,
    ) -> SubsystemResult<u64> {
        Ok(properties
            .get(path, &self.names[0])
            .await?
            .and_then(|p| fragment_text(&p.xml))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0))
    }
}

#[async_trait]
impl LivePropertyHandler for HitCounter {
    fn names(&self) -> &[PropName] {
        &self.names
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        _name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        if cx.meta.collection {
            return Ok(None);
        }
        let count = self.count(&cx.subsystems.properties, cx.path).await?;
        Ok(Some(PropValue::Text(count.to_string().into())))
    }

    fn observes_reads(&self) -> bool {
        true
    }

    async fn after_read(&self, path: &DavPath, properties: &Arc<dyn PropertyManager>) {
        let _guard = self.update.lock().await;
        let Ok(count) = self.count(properties, path).await else {
            return;
        };
        let xml = format!("<d:hits xmlns:d=\"{DAVD_NS}\">{}</d:hits>", count + 1);
        // Best effort: a counter that misses a hit on a storage error is still a counter.
        let _ = properties
            .set(
                path,
                StoredProp {
                    name: self.names[0].clone(),
                    xml,
                },
            )
            .await;
    }
}
