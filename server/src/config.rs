//! The TOML configuration file (`davd --config davd.toml`); see docs/configuration.md.
//!
//! Every mistake stops startup with a message that names the line: unknown keys, unknown
//! subsystem kinds, duplicate scopes, scopes that are not absolute paths, mounts without `/`.
//! Storage kinds and live handlers are looked up by name in the [`Catalog`]; each kind reads
//! its own table, so this file knows none of them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, ValueDeserializer};

use davd_protocol::DavPath;
use davd_subsystems::catalog::{Catalog, ConfigSource, TableConfig};

use crate::access_log::AccessLogTarget;
pub use crate::config_limits::LimitsConfig;
use crate::config_limits::RawLimits;
pub use crate::config_mount::MountConfig;
use crate::config_mount::RawMount;
use crate::settings::Settings;
use crate::{config_limits, config_mount};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    users: Option<Spanned<String>>,
    realm: Option<String>,
    state: Option<Spanned<String>>,
    fsync: Option<bool>,
    fs_inline_io: Option<bool>,
    threads: Option<Spanned<usize>>,
    omit_lockroot_for: Option<Vec<Spanned<String>>>,
    limits: Option<RawLimits>,
    access_log: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    #[serde(default)]
    mount: Vec<RawMount>,
}

/// A problem with its place in the file (a byte range; `None`: the file as a whole).
pub(crate) type Problem = (Option<Range<usize>>, String);

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    /// The users file; turns authentication on.
    pub users: Option<PathBuf>,
    pub realm: Option<String>,
    pub state: Option<PathBuf>,
    pub fsync: Option<bool>,
    pub fs_inline_io: Option<bool>,
    /// Connection threads; 0 serves connections on the process's shared runtime.
    pub threads: Option<usize>,
    /// User-Agent substrings that get lock discovery without `lockroot`.
    pub omit_lockroot_for: Option<Vec<String>>,
    pub limits: LimitsConfig,
    /// `access_log = "FILE" | "-" | "off"`.
    pub access_log: Option<AccessLogTarget>,
    /// `metrics_listen = "ADDR:PORT"`.
    pub metrics_listen: Option<SocketAddr>,
    pub mounts: Vec<MountConfig>,
    /// Top-level tables that kinds of the catalog read (`[cluster]`), for their open context.
    pub tables: BTreeMap<String, toml::Table>,
}

/// A configuration error, with the file and line it points at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl FileConfig {
    /// Reads and checks `path` with davd's own kinds. Relative paths inside it are relative to
    /// the file's directory.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        Self::load_with(path, &Catalog::builtin())
    }

    /// Like [`FileConfig::load`], with the kinds and live handlers of `catalog`.
    pub fn load_with(path: &Path, catalog: &Catalog) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read the configuration: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse_with(&text, &path.display().to_string(), &base, catalog)
    }

    /// Parses configuration text with davd's own kinds; `name` is used in messages, `base` for
    /// relative paths.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<FileConfig, ConfigError> {
        Self::parse_with(text, name, base, &Catalog::builtin())
    }

    /// Like [`FileConfig::parse`], with the kinds and live handlers of `catalog`: the first
    /// problem, if there are any.
    pub fn parse_with(
        text: &str,
        name: &str,
        base: &Path,
        catalog: &Catalog,
    ) -> Result<FileConfig, ConfigError> {
        Self::check_with(text, name, base, catalog).map_err(|mut problems| problems.remove(0))
    }

    /// Parses configuration text and reports **every** problem, in the order of the file
    /// (`davd check-config`). Only a TOML syntax error stops the check where it is; a key
    /// that is unknown or of the wrong type is reported and the rest checked without it.
    pub fn check_with(
        text: &str,
        name: &str,
        base: &Path,
        catalog: &Catalog,
    ) -> Result<FileConfig, Vec<ConfigError>> {
        let error = |span: Option<Range<usize>>, message: String| ConfigError {
            file: name.to_owned(),
            line: span.map_or(0, |s| line_of(text, s.start)),
            message,
        };
        let toml_error = |e: toml::de::Error| error(e.span(), e.message().to_owned());
        let mut problems: Vec<ConfigError> = Vec::new();
        let document = DeTable::parse(text).map_err(|e| vec![toml_error(e)])?;
        // Top-level tables that a kind reads (`[cluster]`) are the kind's to check; the rest
        // of the file is checked here.
        let mut known = document.clone();
        let mut tables = BTreeMap::new();
        let claimed: Vec<String> = document
            .get_ref()
            .keys()
            .map(|k| k.get_ref().to_string())
            .filter(|k| catalog.reads_table(k))
            .collect();
        for key in claimed {
            if let Some(value) = known.get_mut().remove(key.as_str()) {
                match toml::Table::deserialize(ValueDeserializer::from(value)) {
                    Ok(table) => {
                        tables.insert(key, table);
                    }
                    Err(e) => problems.push(toml_error(e)),
                }
            }
        }
        // A key serde refuses is reported and taken out, and the rest deserialized again, so
        // that every such key is reported (each round removes one: the loop ends).
        let raw = loop {
            match RawConfig::deserialize(toml::de::Deserializer::from(known.clone())) {
                Ok(raw) => break Some(raw),
                Err(e) => {
                    let span = e.span();
                    problems.push(toml_error(e));
                    if !span.is_some_and(|span| remove_entry_at(known.get_mut(), &span)) {
                        break None;
                    }
                }
            }
        };
        let source = ConfigSource::new(base, document.get_ref());
        for name in tables.keys() {
            if let Some(value) = document.get_ref().get(name.as_str()) {
                let table = TableConfig::new(&source, value, format!("[{name}]"));
                if let Err(p) = catalog.check_table(name, &table) {
                    problems.push(error(p.span, p.message));
                }
            }
        }
        let Some(raw) = raw else {
            return Err(sorted(problems));
        };
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let address =
            |key: &str, value: &Option<Spanned<String>>, problems: &mut Vec<ConfigError>| {
                let value = value.as_ref()?;
                match value.get_ref().parse::<SocketAddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        problems.push(error(
                            Some(value.span()),
                            format!("{key} = \"{}\" is not an ADDR:PORT", value.get_ref()),
                        ));
                        None
                    }
                }
            };
        let listen = address("listen", &raw.listen, &mut problems);
        let metrics_listen = address("metrics_listen", &raw.metrics_listen, &mut problems);
        let access_log = match &raw.access_log {
            None => None,
            Some(value) => match AccessLogTarget::parse(value.get_ref()) {
                Ok(AccessLogTarget::File(path)) => {
                    Some(AccessLogTarget::File(resolve(&path.to_string_lossy())))
                }
                Ok(target) => Some(target),
                Err(message) => {
                    problems.push(error(Some(value.span()), message));
                    None
                }
            },
        };
        let mut mounts: Vec<MountConfig> = Vec::new();
        let mut scopes: Vec<DavPath> = Vec::new();
        let first_scope = raw.mount.first().map(|m| m.scope.span());
        let place = config_mount::Place {
            array: document.get_ref().get("mount"),
            source: &source,
            catalog,
        };
        // What the mounts' and the limits' checks find, placed on their lines at the end.
        let mut found: Vec<Problem> = Vec::new();
        for (index, m) in raw.mount.into_iter().enumerate() {
            let origin = format!("{name} line {}", line_of(text, m.scope.span().start));
            if let Some(mount) =
                config_mount::check(m, index, origin, &place, &mut scopes, &mut found)
            {
                mounts.push(mount);
            }
        }
        // Mounts replace the embedded default entirely, so one of them must serve "/".
        if !scopes.is_empty() && !scopes.iter().any(DavPath::is_root) {
            problems.push(error(
                first_scope,
                "no [[mount]] has scope = \"/\"; one must serve the root".into(),
            ));
        }
        let omit_lockroot_for = raw.omit_lockroot_for.map(|list| {
            let mut out = Vec::with_capacity(list.len());
            for agent in list {
                if agent.get_ref().trim().is_empty() {
                    problems.push(error(
                        Some(agent.span()),
                        "omit_lockroot_for: an empty string would match every client".into(),
                    ));
                }
                out.push(agent.into_inner());
            }
            out
        });
        if let Some(threads) = &raw.threads
            && *threads.get_ref() > MAX_THREADS
        {
            problems.push(error(
                Some(threads.span()),
                format!("threads must be at most {MAX_THREADS}"),
            ));
        }
        let limits = raw.limits.map(|l| config_limits::check(l, &mut found));
        problems.extend(
            found
                .into_iter()
                .map(|(span, message)| error(span, message)),
        );
        if !problems.is_empty() {
            return Err(sorted(problems));
        }
        Ok(FileConfig {
            listen,
            users: raw.users.map(|u| resolve(u.get_ref())),
            realm: raw.realm,
            state: raw.state.map(|s| resolve(s.get_ref())),
            fsync: raw.fsync,
            fs_inline_io: raw.fs_inline_io,
            threads: raw.threads.map(Spanned::into_inner),
            omit_lockroot_for,
            limits: limits.unwrap_or_default(),
            access_log,
            metrics_listen,
            mounts,
            tables,
        })
    }
}

/// Problems in the order of the file (a stable sort: those of one line keep their order).
fn sorted(mut problems: Vec<ConfigError>) -> Vec<ConfigError> {
    problems.sort_by_key(|p| p.line);
    problems
}

/// Removes the innermost key whose name or scalar value lies at `span`; false if none does.
fn remove_entry_at(table: &mut DeTable<'_>, span: &Range<usize>) -> bool {
    let inside = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end;
    let mut found = None;
    for (key, value) in table.iter_mut() {
        let nested = match value.get_mut() {
            toml::de::DeValue::Table(inner) => Some(remove_entry_at(inner, span)),
            // An array of tables (`[[mount]]`); other arrays are values like any other.
            toml::de::DeValue::Array(items)
                if items
                    .iter()
                    .any(|i| matches!(i.get_ref(), toml::de::DeValue::Table(_))) =>
            {
                Some(items.iter_mut().any(|item| match item.get_mut() {
                    toml::de::DeValue::Table(inner) => remove_entry_at(inner, span),
                    _ => false,
                }))
            }
            _ => None,
        };
        match nested {
            Some(true) => return true,
            // A table or array that holds the span but no entry of its own at it (a required
            // key missing): nothing to take out.
            Some(false) => {}
            None if inside(key.span()) || inside(value.span()) => {
                found = Some(key.get_ref().to_string());
                break;
            }
            None => {}
        }
    }
    match found {
        Some(key) => table.remove(key.as_str()).is_some(),
        None => false,
    }
}

impl FileConfig {
    /// Applies the file to `settings`: what it names replaces what is there.
    pub fn apply(self, settings: &mut Settings) {
        let file = self;
        if let Some(listen) = file.listen {
            settings.listen = listen;
        }
        if let Some(state) = file.state {
            settings.state = state;
        }
        if let Some(fsync) = file.fsync {
            settings.fsync = fsync;
        }
        if let Some(inline) = file.fs_inline_io {
            settings.fs_inline_io = inline;
        }
        if let Some(threads) = file.threads {
            settings.connection_threads = threads;
        }
        if let Some(target) = file.access_log {
            settings.access_log = target;
        }
        if let Some(addr) = file.metrics_listen {
            settings.metrics_listen = Some(addr);
        }
        if let Some(users) = file.users {
            settings.users = Some(users);
        }
        if let Some(realm) = file.realm {
            settings.realm = realm;
        }
        if let Some(agents) = file.omit_lockroot_for {
            settings.executive.omit_lockroot_for = agents;
        }
        let l = file.limits;
        let exec = &mut settings.executive;
        if let Some(v) = l.xml_max_bytes {
            exec.xml_limits.max_bytes = v;
        }
        if let Some(v) = l.propfind_infinity {
            exec.propfind_infinity = v;
        }
        if let Some(v) = l.lock_timeout_default {
            exec.default_lock_timeout = v;
        }
        if let Some(v) = l.lock_timeout_max {
            exec.max_lock_timeout = v;
        }
        if let Some(v) = l.max_locks_per_user {
            exec.max_locks_per_principal = v;
        }
        if let Some(v) = l.listing_dead_budget {
            exec.listing_dead_budget = v;
        }
        if let Some(v) = l.listing_cache_mib {
            exec.listing_cache_bytes = v.saturating_mul(1024 * 1024);
        }
        let conn = &mut settings.limits;
        if let Some(v) = l.header_read_timeout_secs {
            conn.header_read_timeout = Duration::from_secs(v);
        }
        if let Some(v) = l.body_idle_timeout_secs {
            conn.body_idle_timeout = Duration::from_secs(v);
        }
        if let Some(v) = l.max_headers {
            conn.max_headers = v;
        }
        if let Some(v) = l.max_header_bytes {
            conn.max_header_bytes = v;
        }
        if let Some(v) = l.max_connections {
            conn.max_connections = v;
        }
        if let Some(v) = l.min_free_mib {
            settings.min_free_bytes = v.saturating_mul(1024 * 1024);
        }
        settings.mounts = file.mounts;
        settings.tables = file.tables;
    }
}

/// Most connection threads: far more than any machine has cores to run, and a typo of a
/// million threads stops startup instead of exhausting memory.
pub const MAX_THREADS: usize = 1024;

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
