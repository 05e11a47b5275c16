//! Unit tests of the configuration file: the documented example, every error at its line.
use super::*;
use davd_registry::{LockManager, NamespaceManager};
use davd_subsystems::catalog::{ConfigProblem, Configured};

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
    let kind = |k: Option<&Configured<dyn NamespaceManager>>| k.map(|k| k.kind());
    assert_eq!(kind(c.mounts[0].namespace.as_ref()), Some("fs"));
    assert_eq!(kind(c.mounts[1].namespace.as_ref()), Some("sled"));
    assert!(c.mounts[1].properties.is_none(), "inherited from /");
    assert_eq!(c.mounts[0].origin, "davd.toml line 6");
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

/// A kind that reads a top-level table (as `postgres` reads `[warehouse]`) makes the table
/// welcome in the file; it reaches the settings for the kind's open context.
#[test]
fn top_level_tables_belong_to_the_kinds_that_read_them() {
    use davd_subsystems::catalog::{Kind, KindConfig, Opener};
    fn locks(config: &KindConfig<'_>) -> Result<Opener<dyn LockManager>, ConfigProblem> {
        config
            .top_level("warehouse")
            .ok_or_else(|| config.problem("needs a [warehouse] table"))?;
        Ok(davd_subsystems::catalog::opener(|_, _| {
            Ok(davd_subsystems::memory::MemoryLocks::new())
        }))
    }
    let catalog = Catalog::builtin().with_kind(
        Kind::new("clustered")
            .locks(locks)
            .reads_tables(&["warehouse"]),
    );
    let text = "[[mount]]\nscope = \"/\"\nlocks = { kind = \"clustered\" }\n\n[warehouse]\ndatabase = \"postgres://db\"\n";
    let c = FileConfig::parse_with(text, "davd.toml", Path::new("/"), &catalog).unwrap();
    assert_eq!(
        c.tables["warehouse"]
            .get("database")
            .and_then(|v| v.as_str()),
        Some("postgres://db")
    );
    let mut settings = Settings::default();
    c.apply(&mut settings);
    assert!(settings.tables.contains_key("warehouse"));

    let without = "[[mount]]\nscope = \"/\"\n\nlocks = { kind = \"clustered\" }\n";
    let e = FileConfig::parse_with(without, "davd.toml", Path::new("/"), &catalog).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("needs a [warehouse] table"), "{e}");
    // Without a kind that reads it, the table is an unknown key, as before.
    let e = parse(text).unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("unknown field `warehouse`"), "{e}");
}

#[test]
fn history_is_read() {
    let c = parse(
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
         history = { keep = \"2w\", max_versions = 3, view = \"/old\" }\n",
    )
    .unwrap();
    let history = c.mounts[0].history.clone().unwrap();
    assert_eq!(history.retention.keep, Duration::from_secs(14 * 86_400));
    assert_eq!(history.retention.max_versions, 3);
    assert_eq!(history.view.unwrap().as_str(), "/old");
    let c =
        parse("[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n").unwrap();
    assert!(c.mounts[0].history.is_none(), "off unless asked for");
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
    assert_eq!(c.limits.listing_dead_budget, None);
    let c = parse("[limits]\nlisting_dead_budget = 65536\n").unwrap();
    assert_eq!(c.limits.listing_dead_budget, Some(65536));
    let mut settings = Settings::default();
    c.apply(&mut settings);
    assert_eq!(settings.executive.listing_dead_budget, 65536);
    assert_eq!(
        settings.executive.listing_cache_bytes,
        32 << 20,
        "the default"
    );
    let mut settings = Settings::default();
    parse("[limits]\nlisting_cache_mib = 0\n")
        .unwrap()
        .apply(&mut settings);
    assert_eq!(settings.executive.listing_cache_bytes, 0, "switched off");
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
            "kind \"fs\" cannot serve as locks (expected sled, memory or postgres)",
        ),
        (
            "[[mount]]\nscope = \"/\"\nlocks = { kind = \"nfs\" }\n",
            3,
            "unknown locks kind \"nfs\" (expected sled, memory or postgres)",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"sled\", root = \"x\" }\n",
            3,
            "namespace kind \"sled\" takes no key `root`",
        ),
        (
            "[[mount]]\nscope = \"/\"\n[mount.properties]\nkind = \"sled\"\n\nroot = \"x\"\n",
            6,
            "properties kind \"sled\" takes no key `root`",
        ),
        (
            "[[mount]]\nscope = \"/\"\n[mount.namespace]\nkind = \"fs\"\nroot = \"r\"\nfsync = true\n",
            6,
            "namespace kind \"fs\": unknown field `fsync`",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { root = \"r\" }\n",
            3,
            "namespace needs kind",
        ),
        (
            "[[mount]]\nscope = \"/\"\n[[mount]]\nscope = \"/b\"\nnamespace = { kind = \"ftp\" }\n",
            5,
            "unknown namespace kind \"ftp\" (expected fs, sled, memory or s3)",
        ),
        (
            "\n[warehouse]\ndatabase = \"x\"\n",
            2,
            "unknown field `warehouse`",
        ),
        (
            "\n[cluster]\ndatabse = \"postgres://db/davd\"\n",
            3,
            "[cluster]: unknown field `databse`",
        ),
        (
            "[cluster]\ndatabase = \"mysql://db\"\n",
            1,
            "[cluster]: database is not a PostgreSQL connection string",
        ),
        (
            "[cluster]\ndatabase = \"postgres://db/davd\"\ninstance = \"a/b\"\n",
            1,
            "[cluster]: instance = \"a/b\"",
        ),
        (
            "[[mount]]\nscope = \"/\"\n\nproperties = { kind = \"postgres\" }\n",
            4,
            "properties kind \"postgres\": needs a [cluster] table",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"postgres\" }\n",
            3,
            "kind \"postgres\" cannot serve as namespace",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"s3\", bucket = \"b\", \
             credentials = \"/nonexistent/keys.toml\" }\n",
            3,
            "cannot read /nonexistent/keys.toml",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"s3\", region = \"x\" }\n",
            3,
            "namespace kind \"s3\": needs bucket",
        ),
        (
            "[[mount]]\nscope = \"/\"\nlive = [\"nope\"]\n",
            3,
            "unknown live-property handler \"nope\" (expected read-only or hit-counter)",
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
        (
            "[limits]\nlisting_dead_budget = 0\n",
            2,
            "listing_dead_budget must be at least 1",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             [[mount]]\nscope = \"/p\"\nhistory = { keep = \"1d\" }\n",
            6,
            "history is kept by the mount's own namespace, and this mount names none",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             history = { keep = \"a month\" }\n",
            4,
            "\"a month\" is not a time to keep history",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             [mount.history]\nkeep = \"1d\"\nmax_versions = 0\n",
            6,
            "max_versions must be at least 1",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             history = { view = \"old\" }\n",
            4,
            "view = \"old\" must be an absolute path below \"/\"",
        ),
        (
            "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\
             history = { days = 3 }\n",
            4,
            "unknown field `days`",
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
