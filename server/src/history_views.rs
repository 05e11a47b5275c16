//! Mounting the history (issue 22, docs/history.md). A mount that keeps history has its
//! store open its history area; the area's two shelves are then mounted read-only at scopes
//! of their own, like any other subsystem: the versions at `/.history` followed by the mount's
//! scope (or its `view`), the trash at `.trash` below that. Reading them takes what reading
//! the mount takes. Nobody writes to the versions (a version is restored with a COPY onto the
//! live path); the mount's writers may remove trash entries (a DELETE empties one, a MOVE
//! onto the live tree restores it).

use std::sync::Arc;

use davd_protocol::DavPath;
use davd_registry::{AccessRule, Grantee, History, Mount, Shelf};
use davd_subsystems::memory::{MemoryLocks, MemoryProperties};

use crate::config::MountConfig;
use crate::wiring::StartError;

/// A mount's history, opened: what the registry keeps for its scope, and the mounts of its
/// views.
pub(crate) struct OpenedHistory {
    pub scope: DavPath,
    pub history: History,
    pub views: Vec<(DavPath, Mount)>,
    /// Each view's scope with the shelf it shows.
    pub shelves: Vec<(DavPath, Shelf)>,
}

/// The name of the trash's view below the versions'.
pub const TRASH: &str = ".trash";

/// Opens the history of `config`, mounted as `mount`, if it keeps one. `all` are every
/// mount's configurations (for the access rule in force at the scope); `authentication` says
/// whether a scope without a rule is closed to anonymous users.
pub(crate) async fn open(
    config: &MountConfig,
    mount: &Mount,
    all: &[MountConfig],
    authentication: bool,
) -> Result<Option<OpenedHistory>, StartError> {
    let Some(wanted) = &config.history else {
        return Ok(None);
    };
    let refused = |message: String| {
        let origin = if config.origin.is_empty() {
            String::new()
        } else {
            format!("{}: ", config.origin)
        };
        StartError::Config(format!("{origin}history: {message}"))
    };
    let Some(namespace) = &mount.namespace else {
        return Err(refused("the mount names no namespace to keep it in".into()));
    };
    let area = namespace
        .history_area()
        .await
        .map_err(|e| refused(e.message.into_owned()))?;
    let versions = wanted.view_of(&config.scope);
    let trash = versions.join(TRASH).map_err(|e| refused(e.to_string()))?;
    if let Some(other) = all.iter().find(|m| m.scope == versions || m.scope == trash) {
        return Err(refused(format!(
            "its view {versions} is also the scope of a [[mount]] ({})",
            other.origin
        )));
    }
    let (read_only, removable) = view_rules(&config.scope, all, authentication);
    let view = |shelf| Mount {
        namespace: Some(area.view(shelf)),
        // The views' own, so that nothing is ever kept for their paths in the live stores.
        properties: Some(Arc::new(MemoryProperties::new())),
        locks: Some(Arc::new(MemoryLocks::new())),
        live: Vec::new(),
        access: Some(match shelf {
            Shelf::Versions => read_only.clone(),
            Shelf::Trash => removable.clone(),
        }),
    };
    Ok(Some(OpenedHistory {
        scope: config.scope.clone(),
        shelves: vec![
            (versions.clone(), Shelf::Versions),
            (trash.clone(), Shelf::Trash),
        ],
        views: vec![
            (versions, view(Shelf::Versions)),
            (trash, view(Shelf::Trash)),
        ],
        history: History {
            area,
            retention: wanted.retention,
        },
    }))
}

/// The rules of a mount's history views, versions and trash: whoever may read the mount at
/// `scope` may read its history (writers read too); nobody writes to the versions; the
/// mount's writers may remove trash entries.
fn view_rules(
    scope: &DavPath,
    all: &[MountConfig],
    authentication: bool,
) -> (AccessRule, AccessRule) {
    let in_force = all
        .iter()
        .filter(|m| scope.is_within(&m.scope) && m.access.is_some())
        .max_by_key(|m| m.scope.depth())
        .and_then(|m| m.access.clone());
    let default = if authentication {
        vec![Grantee::Authenticated]
    } else {
        vec![Grantee::Anonymous]
    };
    let (read, write) = match in_force {
        Some(rule) => (
            rule.read.into_iter().chain(rule.write.clone()).collect(),
            rule.write,
        ),
        None => (default.clone(), default),
    };
    (
        AccessRule {
            read: read.clone(),
            write: Vec::new(),
        },
        AccessRule { read, write },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    fn mount(scope: &str, rule: Option<AccessRule>) -> MountConfig {
        let mut m = MountConfig::new(p(scope));
        m.access = rule;
        m
    }

    /// A namespace that answers only what reading needs, and the contract's default for the
    /// rest: it cannot keep history.
    struct Plain;

    #[async_trait::async_trait]
    impl davd_registry::NamespaceManager for Plain {
        fn kind(&self) -> &'static str {
            "plain"
        }
        async fn stat(
            &self,
            _: &DavPath,
        ) -> davd_registry::SubsystemResult<Option<davd_registry::ResourceMeta>> {
            Ok(None)
        }
        async fn list(
            &self,
            _: &DavPath,
        ) -> davd_registry::SubsystemResult<davd_registry::MemberStream> {
            Ok(Box::pin(futures_util::stream::empty()))
        }
        async fn open(&self, _: &DavPath) -> davd_registry::SubsystemResult<davd_registry::Opened> {
            Err(davd_registry::SubsystemError::not_found())
        }
    }

    #[tokio::test]
    async fn a_store_that_cannot_keep_history_stops_startup_naming_its_mount() {
        let mut config = mount("/plain", None);
        config.origin = "davd.toml line 9".into();
        config.history = Some(crate::config_history::HistoryConfig::keeping(
            std::time::Duration::from_secs(60),
        ));
        let live = Mount {
            namespace: Some(Arc::new(Plain)),
            properties: None,
            locks: None,
            live: Vec::new(),
            access: None,
        };
        let refused = match open(&config, &live, &[], false).await {
            Ok(_) => panic!("opened"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            refused,
            "davd.toml line 9: history: a plain namespace cannot keep history"
        );
    }

    #[test]
    fn history_is_read_by_the_mounts_readers_and_the_trash_emptied_by_its_writers() {
        let rule = AccessRule {
            read: vec![Grantee::parse("bob")],
            write: vec![Grantee::parse("alice")],
        };
        let all = [mount("/", None), mount("/docs", Some(rule))];
        let (versions, trash) = view_rules(&p("/docs/a"), &all, true);
        for view in [&versions, &trash] {
            assert!(view.may_read(Some("alice")) && view.may_read(Some("bob")));
            assert!(!view.may_read(Some("carol")) && !view.may_read(None));
        }
        assert!(!versions.may_write(Some("alice")));
        assert!(trash.may_write(Some("alice")) && !trash.may_write(Some("bob")));
        // Without a rule: the default in force.
        let (versions, trash) = view_rules(&p("/"), &all, true);
        assert!(versions.may_read(Some("carol")) && !versions.may_read(None));
        assert!(!versions.may_write(Some("carol")) && trash.may_write(Some("carol")));
        assert!(!trash.may_read(None));
        let (versions, trash) = view_rules(&p("/"), &all, false);
        assert!(versions.may_read(None) && !versions.may_write(None) && trash.may_write(None));
    }
}
