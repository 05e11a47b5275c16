//! Commands over a property manager.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;

use davd_protocol::xml::Condition;
use davd_protocol::{DavPath, PropName};
use davd_registry::{
    LivePropertyHandler, PropertyManager, PropsByPath, SetVerdict, StoredProp, is_internal,
};

use crate::error::{DavError, DavResult};
use crate::queue::{Command, Effects};

/// The answer to a PROPPATCH instruction on a name a live handler owns.
fn verdict_to_result(verdict: SetVerdict) -> DavResult<()> {
    match verdict {
        SetVerdict::Store => Ok(()),
        SetVerdict::Protected => Err(DavError::with_condition(
            StatusCode::FORBIDDEN,
            Condition::CannotModifyProtectedProperty,
            "the property is protected",
        )),
        SetVerdict::Reject(e) => Err(e.into()),
    }
}

/// Sets one dead property (PROPPATCH `set`). Check: davd's reserved namespace is protected
/// (`davd_registry::INTERNAL_NS`), and the live handler owning the name, if any, must accept
/// the value. Undo: restores the previous value or removes the property.
pub struct SetProperty {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    prop: StoredProp,
    handler: Option<Arc<dyn LivePropertyHandler>>,
    previous: Option<Option<StoredProp>>,
}

impl SetProperty {
    pub fn new(
        properties: Arc<dyn PropertyManager>,
        path: DavPath,
        prop: StoredProp,
        handler: Option<Arc<dyn LivePropertyHandler>>,
    ) -> Self {
        SetProperty {
            properties,
            path,
            prop,
            handler,
            previous: None,
        }
    }
}

#[async_trait]
impl Command for SetProperty {
    fn describe(&self) -> String {
        format!("set {:?} on {}", self.prop.name, self.path)
    }

    async fn check(&mut self) -> DavResult<()> {
        if is_internal(&self.prop.name) {
            return verdict_to_result(SetVerdict::Protected);
        }
        match &self.handler {
            Some(handler) => verdict_to_result(handler.check_set(&self.prop.name, &self.prop.xml)),
            None => Ok(()),
        }
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        self.previous = Some(self.properties.set(&self.path, self.prop.clone()).await?);
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        match self.previous.take() {
            Some(Some(old)) => {
                self.properties.set(&self.path, old).await?;
            }
            Some(None) => {
                self.properties.remove(&self.path, &self.prop.name).await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// Removes one dead property (PROPPATCH `remove`; removing an absent property succeeds, as
/// RFC 4918 §14.23 says). Undo: restores it.
pub struct RemoveProperty {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    name: PropName,
    handler: Option<Arc<dyn LivePropertyHandler>>,
    previous: Option<StoredProp>,
}

impl RemoveProperty {
    pub fn new(
        properties: Arc<dyn PropertyManager>,
        path: DavPath,
        name: PropName,
        handler: Option<Arc<dyn LivePropertyHandler>>,
    ) -> Self {
        RemoveProperty {
            properties,
            path,
            name,
            handler,
            previous: None,
        }
    }
}

#[async_trait]
impl Command for RemoveProperty {
    fn describe(&self) -> String {
        format!("remove {:?} from {}", self.name, self.path)
    }

    async fn check(&mut self) -> DavResult<()> {
        if is_internal(&self.name) {
            return verdict_to_result(SetVerdict::Protected);
        }
        match &self.handler {
            Some(handler) => verdict_to_result(handler.check_remove(&self.name)),
            None => Ok(()),
        }
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        self.previous = self.properties.remove(&self.path, &self.name).await?;
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        if let Some(old) = self.previous.take() {
            self.properties.set(&self.path, old).await?;
        }
        Ok(())
    }
}

/// Removes the properties of a whole subtree (DELETE, an overwritten destination). Undo:
/// writes them back.
pub struct RemoveTreeProperties {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    removed: PropsByPath,
}

impl RemoveTreeProperties {
    pub fn new(properties: Arc<dyn PropertyManager>, path: DavPath) -> Self {
        RemoveTreeProperties {
            properties,
            path,
            removed: Vec::new(),
        }
    }
}

#[async_trait]
impl Command for RemoveTreeProperties {
    fn describe(&self) -> String {
        format!("remove the properties of {} and below", self.path)
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        self.removed = self.properties.remove_tree(&self.path).await?;
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        let removed = std::mem::take(&mut self.removed);
        Ok(self.properties.put_many(removed).await?)
    }
}

/// Moves the properties of a subtree with it (MOVE within one property manager). Undo: moves
/// them back.
pub struct MoveTreeProperties {
    properties: Arc<dyn PropertyManager>,
    from: DavPath,
    to: DavPath,
}

impl MoveTreeProperties {
    pub fn new(properties: Arc<dyn PropertyManager>, from: DavPath, to: DavPath) -> Self {
        MoveTreeProperties {
            properties,
            from,
            to,
        }
    }
}

#[async_trait]
impl Command for MoveTreeProperties {
    fn describe(&self) -> String {
        format!("move the properties of {} to {}", self.from, self.to)
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Ok(self.properties.move_tree(&self.from, &self.to).await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(self.properties.move_tree(&self.to, &self.from).await?)
    }
}

/// Writes properties (a COPY's, rebased onto the destination). Undo: removes what it wrote.
pub struct PutProperties {
    properties: Arc<dyn PropertyManager>,
    props: PropsByPath,
}

impl PutProperties {
    pub fn new(properties: Arc<dyn PropertyManager>, props: PropsByPath) -> Self {
        PutProperties { properties, props }
    }
}

#[async_trait]
impl Command for PutProperties {
    fn describe(&self) -> String {
        format!("write {} properties", self.props.len())
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Ok(self.properties.put_many(self.props.clone()).await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        for (path, prop) in &self.props {
            self.properties.remove(path, &prop.name).await?;
        }
        Ok(())
    }
}

/// Makes every property change before it durable (the last command of a queue that changes
/// properties, so the response is sent only once they are on disk).
pub struct FlushProperties(pub Arc<dyn PropertyManager>);

#[async_trait]
impl Command for FlushProperties {
    fn describe(&self) -> String {
        "flush properties".into()
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Ok(self.0.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}
