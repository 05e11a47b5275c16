//! Commands over a property manager. They declare their changes ([`crate::state`]); the
//! queue's commit point applies them all at once, one atomic batch per store, so they have
//! nothing of their own to undo.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;

use davd_protocol::xml::Condition;
use davd_protocol::{DavPath, PropName};
use davd_registry::{
    LivePropertyHandler, PropChange, PropertyManager, PropsByPath, SetVerdict, StoredProp,
    is_internal,
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
/// the value.
pub struct SetProperty {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    prop: StoredProp,
    handler: Option<Arc<dyn LivePropertyHandler>>,
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

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        effects.state.props(
            &self.properties,
            &self.path,
            PropChange::Set {
                path: self.path.clone(),
                prop: self.prop.clone(),
            },
        );
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Removes one dead property (PROPPATCH `remove`; removing an absent property succeeds, as
/// RFC 4918 §14.23 says).
pub struct RemoveProperty {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    name: PropName,
    handler: Option<Arc<dyn LivePropertyHandler>>,
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

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        effects.state.props(
            &self.properties,
            &self.path,
            PropChange::Remove {
                path: self.path.clone(),
                name: self.name.clone(),
            },
        );
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Removes the properties of a whole subtree (DELETE, an overwritten destination).
pub struct RemoveTreeProperties {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
}

impl RemoveTreeProperties {
    pub fn new(properties: Arc<dyn PropertyManager>, path: DavPath) -> Self {
        RemoveTreeProperties { properties, path }
    }
}

#[async_trait]
impl Command for RemoveTreeProperties {
    fn describe(&self) -> String {
        format!("remove the properties of {} and below", self.path)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        effects.state.props(
            &self.properties,
            &self.path,
            PropChange::RemoveTree {
                path: self.path.clone(),
            },
        );
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Moves the properties of a subtree with it (MOVE within one property manager).
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

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        effects.state.props(
            &self.properties,
            &self.from,
            PropChange::MoveTree {
                from: self.from.clone(),
                to: self.to.clone(),
            },
        );
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Writes properties (a MOVE's, rebased onto a destination in another store).
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

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        for (path, prop) in std::mem::take(&mut self.props) {
            effects.state.props(
                &self.properties,
                &path,
                PropChange::Set {
                    path: path.clone(),
                    prop,
                },
            );
        }
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}
