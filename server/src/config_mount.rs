//! One `[[mount]]` of the configuration file, checked: its scope, the kinds that read its
//! `namespace`, `properties` and `locks` tables (found by name in the [`Catalog`]), its
//! live-property handlers, its `read` and `write` lists and its history.

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;
use toml::de::DeValue;

use davd_protocol::DavPath;
use davd_registry::{
    ANONYMOUS, AccessRule, Grantee, LockManager, NamespaceManager, PropertyManager,
};
use davd_subsystems::catalog::{
    Catalog, ConfigProblem, ConfigSource, Configured, LiveKind, Role, TableConfig,
};

use crate::config::Problem;
use crate::config_history::{HistoryConfig, RawHistory};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMount {
    pub(crate) scope: Spanned<String>,
    // Read by the kinds themselves (`Catalog::namespace` and the others), from the document;
    // named here so that `deny_unknown_fields` knows them.
    #[serde(rename = "namespace")]
    _namespace: Option<IgnoredAny>,
    #[serde(rename = "properties")]
    _properties: Option<IgnoredAny>,
    #[serde(rename = "locks")]
    _locks: Option<IgnoredAny>,
    #[serde(default)]
    live: Vec<Spanned<String>>,
    read: Option<Vec<Spanned<String>>>,
    write: Option<Vec<Spanned<String>>>,
    history: Option<Spanned<RawHistory>>,
}

/// One `[[mount]]`, checked: each role's kind has read its table and opens when the server
/// starts.
#[derive(Debug, Clone)]
pub struct MountConfig {
    /// Where it was written (`davd.toml line 12`), for errors found later such as an unreadable
    /// root.
    pub origin: String,
    pub scope: DavPath,
    pub namespace: Option<Configured<dyn NamespaceManager>>,
    pub properties: Option<Configured<dyn PropertyManager>>,
    pub locks: Option<Configured<dyn LockManager>>,
    /// Opt-in live-property handlers (`live = [...]`).
    pub live: Vec<LiveKind>,
    /// `read` / `write` lists; `None` when the mount names neither.
    pub access: Option<AccessRule>,
    /// `history = { ... }`; `None`: the mount keeps none.
    pub history: Option<HistoryConfig>,
}

impl MountConfig {
    /// A mount of `scope` that names nothing (everything inherited).
    pub fn new(scope: DavPath) -> MountConfig {
        MountConfig {
            origin: String::new(),
            scope,
            namespace: None,
            properties: None,
            locks: None,
            live: Vec::new(),
            access: None,
            history: None,
        }
    }
}

/// What a mount's check reads besides the mount: the document's `mount` array (where the
/// kinds find their tables, with every key's place in the file) and the catalog of kinds.
pub(crate) struct Place<'a> {
    pub(crate) array: Option<&'a Spanned<DeValue<'a>>>,
    pub(crate) source: &'a ConfigSource<'a>,
    pub(crate) catalog: &'a Catalog,
}

/// Checks the mount at `index` of the file's `[[mount]]`s (`origin`: where it is written):
/// the mount, or `None` with what is wrong with it added to `found`. `scopes` holds the scopes
/// of the mounts before it, so that one mounted twice is refused.
pub(crate) fn check(
    m: RawMount,
    index: usize,
    origin: String,
    place: &Place<'_>,
    scopes: &mut Vec<DavPath>,
    found: &mut Vec<Problem>,
) -> Option<MountConfig> {
    let before = found.len();
    let scope_text = m.scope.get_ref();
    let scope = if !scope_text.starts_with('/') {
        found.push((
            Some(m.scope.span()),
            format!("scope \"{scope_text}\" must start with '/'"),
        ));
        None
    } else {
        match DavPath::parse_url_path(scope_text) {
            Ok((scope, _)) => Some(scope),
            Err(e) => {
                found.push((Some(m.scope.span()), format!("scope \"{scope_text}\": {e}")));
                None
            }
        }
    };
    if let Some(scope) = &scope {
        if scopes.contains(scope) {
            found.push((
                Some(m.scope.span()),
                format!("scope \"{scope_text}\" is mounted twice"),
            ));
        }
        scopes.push(scope.clone());
    }
    // The kinds read their own tables, from the document (which keeps every key's
    // place in the file).
    let table = |role: Role| -> Option<TableConfig<'_>> {
        let value = place
            .array?
            .get_ref()
            .get(index)?
            .get_ref()
            .get(role.key())?;
        Some(TableConfig::new(place.source, value, role.key().to_owned()))
    };
    let mut problem = |p: ConfigProblem| found.push((p.span, p.message));
    let namespace =
        table(Role::Namespace).and_then(|t| place.catalog.namespace(t).map_err(&mut problem).ok());
    let properties = table(Role::Properties)
        .and_then(|t| place.catalog.properties(t).map_err(&mut problem).ok());
    let locks = table(Role::Locks).and_then(|t| place.catalog.locks(t).map_err(&mut problem).ok());
    let mut live = Vec::new();
    for handler in m.live {
        match place.catalog.live(handler.get_ref()) {
            Some(kind) => live.push(*kind),
            None => found.push((
                Some(handler.span()),
                format!(
                    "unknown live-property handler \"{}\" (expected {})",
                    handler.get_ref(),
                    place.catalog.live_names()
                ),
            )),
        }
    }
    let mut grantees = |list: Option<Vec<Spanned<String>>>| -> Option<Vec<Grantee>> {
        let list = list?;
        let mut out = Vec::new();
        for word in list {
            let w = word.get_ref();
            let special = w == "*" || w == ANONYMOUS;
            if !special && !crate::auth::users::valid_name(w) {
                found.push((
                    Some(word.span()),
                    format!("\"{w}\" is not a user name, \"*\" or \"anonymous\""),
                ));
            }
            out.push(Grantee::parse(w));
        }
        Some(out)
    };
    let (read, write) = (grantees(m.read), grantees(m.write));
    let access = match (read, write) {
        (None, None) => None,
        (read, write) => Some(AccessRule {
            read: read.unwrap_or_default(),
            write: write.unwrap_or_default(),
        }),
    };
    let history =
        m.history.and_then(
            |raw| match crate::config_history::check(raw, namespace.is_some()) {
                Ok(history) => Some(history),
                Err(history_problems) => {
                    found.extend(history_problems);
                    None
                }
            },
        );
    let (Some(scope), true) = (scope, found.len() == before) else {
        return None;
    };
    Some(MountConfig {
        origin,
        scope,
        namespace,
        properties,
        locks,
        live,
        access,
        history,
    })
}
