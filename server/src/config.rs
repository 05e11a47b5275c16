//! The TOML configuration file (`davd --config davd.toml`); see docs/configuration.md.
//!
//! Every mistake stops startup with a message that names the line: unknown keys, unknown
//! subsystem kinds, duplicate scopes, scopes that are not absolute paths, mounts without `/`.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use davd_protocol::DavPath;
use davd_registry::{ANONYMOUS, AccessRule, Grantee};

/// A subsystem choice: `{ kind = "fs", root = "./dav-root" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubsystem {
    kind: Spanned<String>,
    root: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    scope: Spanned<String>,
    namespace: Option<Spanned<RawSubsystem>>,
    properties: Option<Spanned<RawSubsystem>>,
    locks: Option<Spanned<RawSubsystem>>,
    #[serde(default)]
    live: Vec<Spanned<String>>,
    read: Option<Vec<Spanned<String>>>,
    write: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    xml_max_bytes: Option<Spanned<usize>>,
    propfind_infinity: Option<bool>,
    lock_timeout_default: Option<Spanned<u64>>,
    lock_timeout_max: Option<Spanned<u64>>,
    max_locks_per_user: Option<usize>,
    header_read_timeout_secs: Option<Spanned<u64>>,
    body_idle_timeout_secs: Option<Spanned<u64>>,
    max_headers: Option<Spanned<usize>>,
    max_header_bytes: Option<Spanned<usize>>,
    max_connections: Option<Spanned<usize>>,
    min_free_mib: Option<u64>,
}

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
    #[serde(default)]
    mount: Vec<RawMount>,
}

/// Namespace manager kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceKind {
    Fs { root: PathBuf },
    Sled,
    Memory,
}

/// Property and lock manager kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sled,
    Memory,
}

/// Opt-in live-property handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraHandler {
    ReadOnly,
    HitCounter,
}

/// One `[[mount]]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    /// Where it was written (`davd.toml line 12`), for errors found later such as an unreadable
    /// root.
    pub origin: String,
    pub scope: DavPath,
    pub namespace: Option<NamespaceKind>,
    pub properties: Option<StoreKind>,
    pub locks: Option<StoreKind>,
    pub live: Vec<ExtraHandler>,
    /// `read` / `write` lists; `None` when the mount names neither.
    pub access: Option<AccessRule>,
}

/// Limits from `[limits]`, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsConfig {
    pub xml_max_bytes: Option<usize>,
    pub propfind_infinity: Option<bool>,
    pub lock_timeout_default: Option<u64>,
    pub lock_timeout_max: Option<u64>,
    pub max_locks_per_user: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_idle_timeout_secs: Option<u64>,
    pub max_headers: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    /// Writes are refused with 507 while less than this many MiB are free on a store's disk.
    pub min_free_mib: Option<u64>,
}

/// The whole file, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    pub mounts: Vec<MountConfig>,
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
    /// Reads and checks `path`. Relative paths inside it are relative to the file's directory.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read the configuration: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &path.display().to_string(), &base)
    }

    /// Parses configuration text; `name` is used in messages, `base` for relative paths.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<FileConfig, ConfigError> {
        let error = |span: Option<Range<usize>>, message: String| ConfigError {
            file: name.to_owned(),
            line: span.map_or(0, |s| line_of(text, s.start)),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            error(e.span(), message)
        })?;
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let listen = match &raw.listen {
            Some(l) => Some(l.get_ref().parse::<SocketAddr>().map_err(|_| {
                error(
                    Some(l.span()),
                    format!("listen = \"{}\" is not an ADDR:PORT", l.get_ref()),
                )
            })?),
            None => None,
        };
        let mut mounts: Vec<MountConfig> = Vec::new();
        let first_scope = raw.mount.first().map(|m| m.scope.span());
        for m in raw.mount {
            let scope_text = m.scope.get_ref();
            if !scope_text.starts_with('/') {
                return Err(error(
                    Some(m.scope.span()),
                    format!("scope \"{scope_text}\" must start with '/'"),
                ));
            }
            let (scope, _) = DavPath::parse_url_path(scope_text)
                .map_err(|e| error(Some(m.scope.span()), format!("scope \"{scope_text}\": {e}")))?;
            if mounts.iter().any(|other| other.scope == scope) {
                return Err(error(
                    Some(m.scope.span()),
                    format!("scope \"{scope_text}\" is mounted twice"),
                ));
            }
            let namespace = match m.namespace {
                None => None,
                Some(ns) => {
                    let span = ns.span();
                    let ns = ns.into_inner();
                    let kind = ns.kind.get_ref().as_str();
                    let root_allowed = kind == "fs";
                    if let (Some(root), false) = (&ns.root, root_allowed) {
                        return Err(error(
                            Some(root.span()),
                            format!("root applies only to kind = \"fs\", not \"{kind}\""),
                        ));
                    }
                    Some(match kind {
                        "fs" => {
                            let root = ns.root.ok_or_else(|| {
                                error(
                                    Some(span.clone()),
                                    "kind = \"fs\" needs root = \"DIR\"".into(),
                                )
                            })?;
                            NamespaceKind::Fs {
                                root: resolve(root.get_ref()),
                            }
                        }
                        "sled" => NamespaceKind::Sled,
                        "memory" => NamespaceKind::Memory,
                        other => {
                            return Err(error(
                                Some(ns.kind.span()),
                                format!(
                                    "unknown namespace kind \"{other}\" (expected fs, sled or memory)"
                                ),
                            ));
                        }
                    })
                }
            };
            let store = |which: &str,
                         s: Option<Spanned<RawSubsystem>>|
             -> Result<Option<StoreKind>, ConfigError> {
                let Some(s) = s else { return Ok(None) };
                let s = s.into_inner();
                if let Some(root) = &s.root {
                    return Err(error(
                        Some(root.span()),
                        format!("{which} take no root; they live in the state directory"),
                    ));
                }
                match s.kind.get_ref().as_str() {
                    "sled" => Ok(Some(StoreKind::Sled)),
                    "memory" => Ok(Some(StoreKind::Memory)),
                    other => Err(error(
                        Some(s.kind.span()),
                        format!("unknown {which} kind \"{other}\" (expected sled or memory)"),
                    )),
                }
            };
            let properties = store("properties", m.properties)?;
            let locks = store("locks", m.locks)?;
            let mut live = Vec::new();
            for handler in m.live {
                live.push(match handler.get_ref().as_str() {
                    "read-only" => ExtraHandler::ReadOnly,
                    "hit-counter" => ExtraHandler::HitCounter,
                    other => {
                        return Err(error(
                            Some(handler.span()),
                            format!("unknown live-property handler \"{other}\" (expected read-only or hit-counter)"),
                        ));
                    }
                });
            }
            let grantees =
                |list: Option<Vec<Spanned<String>>>| -> Result<Option<Vec<Grantee>>, ConfigError> {
                    let Some(list) = list else { return Ok(None) };
                    let mut out = Vec::new();
                    for word in list {
                        let w = word.get_ref();
                        let special = w == "*" || w == ANONYMOUS;
                        if !special && !crate::auth::users::valid_name(w) {
                            return Err(error(
                                Some(word.span()),
                                format!("\"{w}\" is not a user name, \"*\" or \"anonymous\""),
                            ));
                        }
                        out.push(Grantee::parse(w));
                    }
                    Ok(Some(out))
                };
            let (read, write) = (grantees(m.read)?, grantees(m.write)?);
            let access = match (read, write) {
                (None, None) => None,
                (read, write) => Some(AccessRule {
                    read: read.unwrap_or_default(),
                    write: write.unwrap_or_default(),
                }),
            };
            let origin = format!("{name} line {}", line_of(text, m.scope.span().start));
            mounts.push(MountConfig {
                origin,
                scope,
                namespace,
                properties,
                locks,
                live,
                access,
            });
        }
        // Mounts replace the embedded default entirely, so one of them must serve "/".
        if !mounts.is_empty() && !mounts.iter().any(|m| m.scope.is_root()) {
            return Err(error(
                first_scope,
                "no [[mount]] has scope = \"/\"; one must serve the root".into(),
            ));
        }
        let omit_lockroot_for = match raw.omit_lockroot_for {
            None => None,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for agent in list {
                    if agent.get_ref().trim().is_empty() {
                        return Err(error(
                            Some(agent.span()),
                            "omit_lockroot_for: an empty string would match every client".into(),
                        ));
                    }
                    out.push(agent.into_inner());
                }
                Some(out)
            }
        };
        if let Some(threads) = &raw.threads
            && *threads.get_ref() > MAX_THREADS
        {
            return Err(error(
                Some(threads.span()),
                format!("threads must be at most {MAX_THREADS}"),
            ));
        }
        let limits = match raw.limits {
            None => None,
            Some(l) => {
                // A zero in any of these would refuse every request (or every body, header,
                // lock); it is a mistake, so it stops startup naming its line.
                let at_least_one = |name: &str, value: Option<Spanned<u64>>| match value {
                    Some(v) if *v.get_ref() == 0 => {
                        Err(error(Some(v.span()), format!("{name} must be at least 1")))
                    }
                    other => Ok(other.map(Spanned::into_inner)),
                };
                let widen = |v: Option<Spanned<usize>>| {
                    v.map(|v| {
                        let span = v.span();
                        Spanned::new(span, v.into_inner() as u64)
                    })
                };
                let narrow = |v: Option<u64>| v.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                Some(LimitsConfig {
                    xml_max_bytes: narrow(at_least_one("xml_max_bytes", widen(l.xml_max_bytes))?),
                    propfind_infinity: l.propfind_infinity,
                    lock_timeout_default: at_least_one(
                        "lock_timeout_default",
                        l.lock_timeout_default,
                    )?,
                    lock_timeout_max: at_least_one("lock_timeout_max", l.lock_timeout_max)?,
                    max_locks_per_user: l.max_locks_per_user,
                    header_read_timeout_secs: at_least_one(
                        "header_read_timeout_secs",
                        l.header_read_timeout_secs,
                    )?,
                    body_idle_timeout_secs: at_least_one(
                        "body_idle_timeout_secs",
                        l.body_idle_timeout_secs,
                    )?,
                    max_headers: narrow(at_least_one("max_headers", widen(l.max_headers))?),
                    max_header_bytes: narrow(at_least_one(
                        "max_header_bytes",
                        widen(l.max_header_bytes),
                    )?),
                    max_connections: narrow(at_least_one(
                        "max_connections",
                        widen(l.max_connections),
                    )?),
                    min_free_mib: l.min_free_mib,
                })
            }
        };
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
            mounts,
        })
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
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(text, "davd.toml", Path::new("/etc/davd"))
    }

    #[test]
    fn the_documented_example() {
        let c = parse(
            r#"
listen = "127.0.0.1:8080"
state = "./dav-state"

[[mount]]
scope = "/"
namespace  = { kind = "fs", root = "./dav-root" }
properties = { kind = "sled" }
locks      = { kind = "sled" }

[[mount]]
scope = "/db"
namespace  = { kind = "sled" }
"#,
        )
        .unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(c.state, Some(PathBuf::from("/etc/davd/./dav-state")));
        assert_eq!(c.mounts.len(), 2);
        assert_eq!(
            c.mounts[0].namespace,
            Some(NamespaceKind::Fs {
                root: PathBuf::from("/etc/davd/./dav-root")
            })
        );
        assert_eq!(c.mounts[1].namespace, Some(NamespaceKind::Sled));
        assert_eq!(c.mounts[1].properties, None, "inherited from /");
        assert_eq!(c.omit_lockroot_for, None, "the default list applies");
        let c = parse("omit_lockroot_for = [\"Old Office\"]\n").unwrap();
        assert_eq!(c.omit_lockroot_for, Some(vec!["Old Office".to_owned()]));
    }

    #[test]
    fn the_example_file_parses() {
        let c = parse(include_str!("../../davd.example.toml")).unwrap();
        assert_eq!(
            c.omit_lockroot_for,
            Some(
                davd_executive::client::DEFAULT_OMIT_LOCKROOT_FOR
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            ),
            "the example shows the default"
        );
        assert_eq!(c.mounts.len(), 3);
        assert_eq!(
            c.limits.max_connections,
            Some(1024),
            "the example shows the default"
        );
    }

    #[test]
    fn threads_are_read() {
        assert_eq!(parse("threads = 6\n").unwrap().threads, Some(6));
        assert_eq!(parse("threads = 0\n").unwrap().threads, Some(0));
        assert_eq!(parse("fsync = true\n").unwrap().threads, None);
    }

    #[test]
    fn limits_are_read() {
        let c = parse("[limits]\nmax_connections = 8\nmax_headers = 20\n").unwrap();
        assert_eq!(c.limits.max_connections, Some(8));
        assert_eq!(c.limits.max_headers, Some(20));
        let c = parse("[limits]\nxml_max_bytes = 10\n").unwrap();
        assert_eq!(
            c.limits.max_connections, None,
            "the built-in default applies"
        );
        // Only limits, no mounts: the embedded default serves "/".
        assert!(
            parse("[limits]\nmax_connections = 2\n")
                .unwrap()
                .mounts
                .is_empty()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"ftp\" }\n",
                3,
                "unknown namespace kind",
            ),
            ("listen = \"x\"\n", 1, "not an ADDR:PORT"),
            ("\n\nbogus = 1\n", 3, "unknown field"),
            (
                "[[mount]]\nscope = \"/\"\n[[mount]]\nscope = \"/\"\n",
                4,
                "mounted twice",
            ),
            ("[[mount]]\nscope = \"db\"\n", 2, "must start with '/'"),
            (
                "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\" }\n",
                3,
                "needs root",
            ),
            (
                "[[mount]]\nscope = \"/\"\nlocks = { kind = \"fs\" }\n",
                3,
                "unknown locks kind",
            ),
            (
                "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"sled\", root = \"x\" }\n",
                3,
                "root applies only",
            ),
            (
                "[[mount]]\nscope = \"/\"\nlive = [\"nope\"]\n",
                3,
                "unknown live-property handler",
            ),
            ("[[mount]]\nscope = \"/a/../b\"\n", 2, ".."),
            (
                "\nomit_lockroot_for = [\"x\",\n  \"\"]\n",
                3,
                "would match every client",
            ),
            (
                "listen = \"127.0.0.1:1\"\n\n[[mount]]\nscope = \"/db\"\n[[mount]]\nscope = \"/x\"\n",
                4,
                "no [[mount]] has scope = \"/\"",
            ),
            ("[limits]\nmax_connections = 0\n", 2, "at least 1"),
            (
                "fsync = true\nthreads = 5000\n",
                2,
                "threads must be at most 1024",
            ),
            (
                "[limits]\nmax_headers = 20\n\nbody_idle_timeout_secs = 0\n",
                4,
                "body_idle_timeout_secs must be at least 1",
            ),
            (
                "[limits]\nheader_read_timeout_secs = 0\n",
                2,
                "header_read_timeout_secs must be at least 1",
            ),
            (
                "[limits]\nxml_max_bytes = 0\n",
                2,
                "xml_max_bytes must be at least 1",
            ),
            (
                "[limits]\nlock_timeout_max = 0\n",
                2,
                "lock_timeout_max must be at least 1",
            ),
        ];
        for (text, line, fragment) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(fragment), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("davd.toml line {line}: "))
            );
        }
    }
}
