//! Using davd as a library: a storage kind and a live property of our own, registered by name
//! in the catalog and mounted by a configuration file like davd's own kinds.
//! Run: `cargo run -p davd --example custom_subsystems` and open http://127.0.0.1:8080/numbers/
//! (docs/extending.md walks through this file; the snippets it quotes are marked `ANCHOR`).
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use serde::Deserialize;

use davd::config::{ConfigError, FileConfig};
use davd::{App, Settings};
use davd_registry::*;
use davd_subsystems::catalog::{
    Catalog, ConfigProblem, Kind, KindConfig, LiveKind, Opener, opener,
};

// ANCHOR: numbers
/// A read-only collection of files `1.txt` to `N.txt`, each saying what its square is.
/// Nothing is stored: every answer is computed from the path.
pub struct Numbers {
    up_to: u64,
}

/// `12` for `/12.txt`.
fn number(path: &DavPath) -> Option<u64> {
    path.name()?.strip_suffix(".txt")?.parse().ok()
}

impl Numbers {
    /// The number of the file at `path`, if there is one.
    fn file(&self, path: &DavPath) -> Option<u64> {
        number(path).filter(|n| (1..=self.up_to).contains(n))
    }
}
// ANCHOR_END: numbers

fn content(n: u64) -> String {
    format!("{n} squared is {}\n", n * n)
}

// ANCHOR: meta
/// Metadata of file `n`, or of the collection for `None`. The entity tag names the content,
/// which never changes.
fn meta(n: Option<u64>) -> ResourceMeta {
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    let len = n.map_or(0, |n| content(n).len() as u64);
    let (collection, etag) = (n.is_none(), format!("n{}", n.unwrap_or(0)));
    ResourceMeta {
        collection,
        len,
        modified,
        created: None,
        etag,
        content_type: None,
    }
}
// ANCHOR_END: meta

// ANCHOR: content
struct Text(String);

#[async_trait]
impl OpenedContent for Text {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        let bytes = bytes::Bytes::from(self.0);
        Ok(Body::Full(match range {
            Some(r) => bytes.slice(r.start as usize..=r.end as usize),
            None => bytes,
        }))
    }
}
// ANCHOR_END: content

#[async_trait]
impl NamespaceManager for Numbers {
    fn kind(&self) -> &'static str {
        "numbers"
    }
    // ANCHOR: stat
    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        Ok(if path.is_root() {
            Some(meta(None))
        } else {
            self.file(path).map(|n| meta(Some(n)))
        })
    }
    // ANCHOR_END: stat
    // ANCHOR: list
    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        if !path.is_root() {
            return Err(SubsystemError::not_found());
        }
        let members = (1..=self.up_to)
            .map(|n| Member {
                name: format!("{n}.txt"),
                meta: meta(Some(n)),
            })
            .collect();
        Ok(stream::iter([Ok(members)]).boxed())
    }
    // ANCHOR_END: list
    // ANCHOR: open
    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        let n = self.file(path).ok_or_else(SubsystemError::not_found)?;
        Ok(Opened {
            meta: meta(Some(n)),
            content: Box::new(Text(content(n))),
        })
    }
    // ANCHOR_END: open
    // The changing methods (write, create_collection, detach, ...) keep their defaults: 403.
}

// ANCHOR: parity
/// A live property `{http://example.com/ns}parity`: "even" or "odd" for a numbered file.
pub struct Parity(Vec<PropName>);

#[async_trait]
impl LivePropertyHandler for Parity {
    fn names(&self) -> &[PropName] {
        &self.0
    }
    async fn get(&self, cx: &PropContext<'_>, _: &PropName) -> SubsystemResult<Option<PropValue>> {
        let parity = |n: u64| if n % 2 == 0 { "even" } else { "odd" };
        Ok(number(cx.path).map(|n| PropValue::Text(parity(n).into())))
    }
}
// ANCHOR_END: parity

// ANCHOR: kind
/// The keys of `namespace = { kind = "numbers", up_to = 100 }`. A key the struct does not
/// know stops the server with the line it is on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumbersTable {
    up_to: Option<u64>,
}

/// Reads the kind's table when the configuration is loaded; the closure it returns opens
/// the namespace when the server starts.
fn numbers(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    let NumbersTable { up_to } = config.parse()?;
    let up_to = up_to.unwrap_or(100);
    if up_to == 0 {
        return Err(config.problem("up_to must be at least 1"));
    }
    Ok(opener(move |_cx, _scope| Ok(Numbers { up_to })))
}

/// The kind, by the name configurations use; it serves only as a namespace.
pub const NUMBERS: Kind = Kind::new("numbers").namespace(numbers);

/// The live handler, by the name `live = [...]` uses.
pub const PARITY: LiveKind = LiveKind {
    name: "parity",
    new: parity,
};

fn parity() -> Arc<dyn LivePropertyHandler> {
    let name = PropName::new("http://example.com/ns", "parity");
    Arc::new(Parity(vec![name]))
}

/// davd's own kinds and handlers, and ours.
pub fn catalog() -> Catalog {
    Catalog::builtin().with_kind(NUMBERS).with_live(PARITY)
}
// ANCHOR_END: kind

// ANCHOR: config
/// `/` is an in-memory tree; `/numbers` is ours, with our property. Locks and dead properties
/// are shared with `/` (a mount names only what it changes).
pub const CONFIG: &str = r#"
[[mount]]
scope = "/"
namespace  = { kind = "memory" }
properties = { kind = "memory" }
locks      = { kind = "memory" }

[[mount]]
scope = "/numbers"
namespace = { kind = "numbers", up_to = 100 }
live = ["parity"]
"#;
// ANCHOR_END: config

// ANCHOR: settings
/// The settings of a server reading `config` with our catalog.
pub fn settings(config: &str) -> Result<Settings, ConfigError> {
    let catalog = catalog();
    let file = FileConfig::parse_with(config, "example.toml", Path::new("."), &catalog)?;
    let mut settings = Settings {
        catalog,
        ..Settings::default()
    };
    file.apply(&mut settings);
    Ok(settings)
}
// ANCHOR_END: settings

#[allow(dead_code)] // the HTTP test includes this file and calls settings() only
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: serve
    let settings = settings(CONFIG)?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    println!("serving http://{}/numbers/", listener.local_addr()?);
    let app = App::build(settings).await?;
    davd::serve(listener, Arc::new(app), async {
        tokio::signal::ctrl_c().await.unwrap_or(())
    })
    .await?;
    // ANCHOR_END: serve
    Ok(())
}
