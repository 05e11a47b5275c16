//! RFC 4331 quota properties, on collections, only when asked for by name.

use async_trait::async_trait;

use davd_registry::{LivePropertyHandler, PropContext, PropName, PropValue, SubsystemResult};

pub struct QuotaProperties {
    names: Vec<PropName>,
}

impl Default for QuotaProperties {
    fn default() -> Self {
        Self::new()
    }
}

impl QuotaProperties {
    pub fn new() -> Self {
        QuotaProperties {
            names: vec![
                PropName::dav("quota-available-bytes"),
                PropName::dav("quota-used-bytes"),
            ],
        }
    }
}

#[async_trait]
impl LivePropertyHandler for QuotaProperties {
    fn names(&self) -> &[PropName] {
        &self.names
    }

    /// RFC 4331 §3: not returned by allprop.
    fn in_allprop(&self, _name: &PropName) -> bool {
        false
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        if !cx.meta.collection {
            return Ok(None);
        }
        let relative = cx.subsystems.relative(cx.path);
        let Some((used, available)) = cx.subsystems.namespace.quota(&relative).await? else {
            return Ok(None);
        };
        Ok(Some(PropValue::Text(
            if name.local == "quota-used-bytes" {
                used
            } else {
                available
            }
            .to_string()
            .into(),
        )))
    }
}
