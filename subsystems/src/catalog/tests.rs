//! The catalog reads kinds' tables with their lines, and opens what mounts share once.
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::de::DeTable;

use super::*;

/// The line of a byte offset, as the server reports it.
fn line(text: &str, problem: &ConfigProblem) -> usize {
    let at = problem.span.clone().map_or(0, |s| s.start);
    text[..at].matches('\n').count() + 1
}

/// Reads the table under `key` of `text` for `role` with `catalog`; the problem and its line on
/// failure.
fn read(catalog: &Catalog, text: &str, key: &str, role: Role) -> Result<String, (usize, String)> {
    let document = DeTable::parse(text).unwrap();
    let source = ConfigSource::new(Path::new("/etc/davd"), document.get_ref());
    let value = document.get_ref().get(key).unwrap();
    let table = TableConfig::new(&source, value, key.to_owned());
    let kind = match role {
        Role::Namespace => catalog.namespace(table).map(|c| c.kind()),
        Role::Properties => catalog.properties(table).map(|c| c.kind()),
        Role::Locks => catalog.locks(table).map(|c| c.kind()),
    };
    kind.map(str::to_owned)
        .map_err(|p| (line(text, &p), p.message))
}

#[test]
fn builtin_kinds_read_their_tables() {
    let catalog = Catalog::builtin();
    for (text, role, kind) in [
        ("n = { kind = \"fs\", root = \"r\" }", Role::Namespace, "fs"),
        ("n = { kind = \"sled\" }", Role::Namespace, "sled"),
        ("n = { kind = \"memory\" }", Role::Namespace, "memory"),
        ("n = { kind = \"sled\" }", Role::Properties, "sled"),
        ("n = { kind = \"memory\" }", Role::Properties, "memory"),
        ("n = { kind = \"sled\" }", Role::Locks, "sled"),
        ("n = { kind = \"memory\" }", Role::Locks, "memory"),
        // A table written as a section of its own reads the same.
        ("\n[n]\nkind = \"memory\"\n", Role::Locks, "memory"),
    ] {
        assert_eq!(
            read(&catalog, text, "n", role),
            Ok(kind.to_owned()),
            "{text}"
        );
    }
}

#[test]
fn mistakes_are_reported_at_their_line() {
    let catalog = Catalog::builtin();
    let cases = [
        (
            "\nn = { kind = \"ftp\" }",
            Role::Namespace,
            2,
            "unknown namespace kind \"ftp\" (expected fs, sled, memory or s3)",
        ),
        (
            "n = { kind = \"fs\" }",
            Role::Locks,
            1,
            "kind \"fs\" cannot serve as locks (expected sled, memory or postgres)",
        ),
        (
            "\n\nn = { kind = \"fs\" }",
            Role::Namespace,
            3,
            "namespace kind \"fs\": needs root = \"DIR\"",
        ),
        (
            "[n]\nkind = \"fs\"\nroot = \"r\"\nrot = \"x\"\n",
            Role::Namespace,
            4,
            "namespace kind \"fs\": unknown field `rot`",
        ),
        (
            "[n]\nkind = \"sled\"\n\nroot = \"r\"\n",
            Role::Namespace,
            4,
            "namespace kind \"sled\" takes no key `root`",
        ),
        (
            "[n]\nkind = \"memory\"\nroot = \"r\"\n",
            Role::Properties,
            3,
            "properties kind \"memory\" takes no key `root`",
        ),
        (
            "n = { root = \"r\" }",
            Role::Namespace,
            1,
            "namespace needs kind = \"...\"",
        ),
        (
            "n = { kind = 3 }",
            Role::Namespace,
            1,
            "kind must be a string",
        ),
        ("\nn = \"fs\"", Role::Namespace, 2, "must be a table"),
        (
            "[n]\nkind = \"fs\"\nroot = 5\n",
            Role::Namespace,
            3,
            "namespace kind \"fs\": invalid type",
        ),
    ];
    for (text, role, line, fragment) in cases {
        let (at, message) = read(&catalog, text, "n", role).unwrap_err();
        assert!(message.contains(fragment), "{text:?}: {message}");
        assert_eq!(at, line, "{text:?}: {message}");
    }
}

/// A kind in the shape of `postgres`: it needs a top-level table of its own (`[warehouse]`)
/// and shares one pool between its mounts.
mod cluster_kind {
    use super::*;

    pub const KIND: Kind = Kind::new("cluster-db")
        .properties(properties)
        .reads_tables(&["warehouse"]);

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cluster {
        database: String,
    }

    pub struct Pool(pub String);

    fn properties(config: &KindConfig<'_>) -> Result<Opener<dyn PropertyManager>, ConfigProblem> {
        config.no_keys()?;
        let cluster = config
            .top_level("warehouse")
            .ok_or_else(|| config.problem("needs a [warehouse] table with database = \"...\""))?;
        let Cluster { database } = cluster.parse()?;
        Ok(Arc::new(
            move |cx: &OpenContext, _: &DavPath| -> Result<Arc<dyn PropertyManager>, OpenError> {
                let pool = cx.shared("cluster: pool", || Ok(Pool(database.clone())))?;
                assert_eq!(
                    cx.table("warehouse").and_then(|t| t.get("database")),
                    Some(&toml::Value::String(pool.0.clone())),
                    "the open context has the top-level table too"
                );
                Ok(Arc::new(crate::memory::MemoryProperties::new()))
            },
        ))
    }
}

#[test]
fn a_kind_can_require_a_top_level_table_and_report_its_mistakes() {
    let catalog = Catalog::builtin().with_kind(cluster_kind::KIND);
    assert!(catalog.reads_table("warehouse"));
    assert!(!Catalog::builtin().reads_table("warehouse"));
    assert!(
        Catalog::builtin().reads_table("cluster"),
        "the postgres kind reads it"
    );
    let missing = "\n\np = { kind = \"cluster-db\" }\n";
    let (at, message) = read(&catalog, missing, "p", Role::Properties).unwrap_err();
    assert_eq!(at, 3);
    assert!(message.contains("needs a [warehouse] table"), "{message}");

    let misspelt = "p = { kind = \"cluster-db\" }\n[warehouse]\ndatabse = \"postgres://x\"\n";
    let (at, message) = read(&catalog, misspelt, "p", Role::Properties).unwrap_err();
    assert_eq!(at, 3);
    assert!(
        message.starts_with("[warehouse]: unknown field `databse`"),
        "{message}"
    );

    let good = "p = { kind = \"cluster-db\" }\n[warehouse]\ndatabase = \"postgres://x\"\n";
    assert_eq!(
        read(&catalog, good, "p", Role::Properties),
        Ok("cluster-db".into())
    );
}

#[test]
fn later_kinds_replace_those_of_the_same_name() {
    let replaced = Catalog::builtin().with_kind(Kind::new("memory"));
    let e = read(&replaced, "n = { kind = \"memory\" }", "n", Role::Namespace).unwrap_err();
    assert!(
        e.1.contains("cannot serve as namespace (expected fs, sled or s3)"),
        "{e:?}"
    );
    assert_eq!(replaced.kinds().len(), BUILTIN_KINDS.len());
}

fn configured<M: ?Sized>(
    text: &str,
    pick: impl Fn(&Catalog, TableConfig<'_>) -> Result<Configured<M>, ConfigProblem>,
) -> Configured<M> {
    let document = DeTable::parse(text).unwrap();
    let source = ConfigSource::new(Path::new("/"), document.get_ref());
    let table = TableConfig::new(&source, document.get_ref().get("n").unwrap(), "n".into());
    pick(&Catalog::builtin(), table).unwrap()
}

#[tokio::test]
async fn sled_stores_are_shared_and_memory_ones_are_not() {
    let state = tempfile::tempdir().unwrap();
    let cx = OpenContext::new(state.path().join("state"));
    let root = DavPath::root();
    let scope = DavPath::parse_url_path("/db").unwrap().0;

    let sled = configured("n = { kind = \"sled\" }", |c, t| c.locks(t));
    let (a, b) = (
        sled.open(&cx, &root).await.unwrap(),
        sled.open(&cx, &scope).await.unwrap(),
    );
    assert!(Arc::ptr_eq(&a, &b), "one sled lock table for every scope");
    let default = (Catalog::builtin().defaults().locks)();
    assert!(Arc::ptr_eq(&a, &default.open(&cx, &root).await.unwrap()));
    let props = configured("n = { kind = \"sled\" }", |c, t| c.properties(t));
    let (a, b) = (
        props.open(&cx, &root).await.unwrap(),
        props.open(&cx, &scope).await.unwrap(),
    );
    assert!(
        Arc::ptr_eq(&a, &b),
        "one sled property store for every scope"
    );
    assert_eq!(
        cx.closers().len(),
        1,
        "the database is flushed once at the end"
    );
    assert!(state.path().join("state/db").is_dir());

    let memory = configured("n = { kind = \"memory\" }", |c, t| c.locks(t));
    let (a, b) = (
        memory.open(&cx, &root).await.unwrap(),
        memory.open(&cx, &scope).await.unwrap(),
    );
    assert!(
        !Arc::ptr_eq(&a, &b),
        "memory stores are private to their mount"
    );
}

#[tokio::test]
async fn a_memory_only_server_leaves_the_state_directory_alone() {
    let state = tempfile::tempdir().unwrap();
    let cx = OpenContext::new(state.path().join("state"));
    let text = "n = { kind = \"memory\" }";
    configured(text, |c, t| c.namespace(t))
        .open(&cx, &DavPath::root())
        .await
        .unwrap();
    configured(text, |c, t| c.properties(t))
        .open(&cx, &DavPath::root())
        .await
        .unwrap();
    configured(text, |c, t| c.locks(t))
        .open(&cx, &DavPath::root())
        .await
        .unwrap();
    assert!(!state.path().join("state").exists());
    assert!(cx.closers().is_empty());
}

#[tokio::test]
async fn fs_serves_a_directory_that_root_can_replace() {
    let dir = tempfile::tempdir().unwrap();
    let cx = OpenContext::new(dir.path().join("state"));
    let text = format!(
        "n = {{ kind = \"fs\", root = \"{}\" }}",
        dir.path().join("a").display()
    );
    let fs = configured(&text, |c, t| c.namespace(t));
    let elsewhere = fs.serving_directory(&dir.path().join("b")).unwrap();
    elsewhere.open(&cx, &DavPath::root()).await.unwrap();
    assert!(dir.path().join("b").is_dir() && !dir.path().join("a").exists());
    let sled = configured("n = { kind = \"sled\" }", |c, t| c.namespace(t));
    assert!(sled.serving_directory(dir.path()).is_none());

    // A file where the directory should be: the message names it.
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let e = match fs
        .serving_directory(&dir.path().join("file"))
        .unwrap()
        .open(&cx, &DavPath::root())
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a file cannot be served as a directory"),
    };
    assert!(
        e.to_string().starts_with("cannot use the served directory"),
        "{e}"
    );
}

#[test]
fn relative_roots_are_relative_to_the_file() {
    let document = DeTable::parse("n = { kind = \"fs\", root = \"data\" }").unwrap();
    let source = ConfigSource::new(Path::new("/etc/davd"), document.get_ref());
    let table = TableConfig::new(&source, document.get_ref().get("n").unwrap(), "n".into());
    assert_eq!(table.path("data"), Path::new("/etc/davd/data"));
    assert_eq!(table.path("/abs"), Path::new("/abs"));
}

#[test]
fn live_handlers_by_name() {
    let catalog = Catalog::builtin();
    assert!(catalog.live("read-only").is_some());
    assert!(catalog.live("hit-counter").is_some());
    assert!(catalog.live("nope").is_none());
    assert_eq!(catalog.live_names(), "read-only or hit-counter");
}
