//! The conformance suite on every kind of the catalog, each opened by its name as a
//! configuration file would open it.

use std::path::Path;
use std::sync::Arc;

use toml::de::DeTable;

use davd_registry::{DavPath, LockManager, NamespaceManager, PropertyManager};

use super::Subject;
use crate::catalog::{
    BUILTIN_KINDS, Catalog, ConfigProblem, ConfigSource, Configured, OpenContext, Role, TableConfig,
};

/// What a kind gets from a table, opened for the scope `/t` with a fresh state directory
/// (and served directory) that lives as long as the subject.
async fn open<M: ?Sized>(
    table: &str,
    configure: impl Fn(&Catalog, TableConfig<'_>) -> Result<Configured<M>, ConfigProblem>,
) -> Subject<M> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = table.replace("DIR", &dir.path().join("served").display().to_string());
    let document = DeTable::parse(&text).expect("a table");
    let source = ConfigSource::new(Path::new("/"), document.get_ref());
    let value = document.get_ref().get("t").expect("the table `t`");
    let configured = configure(
        &Catalog::builtin(),
        TableConfig::new(&source, value, "t".into()),
    )
    .expect("the kind reads its table");
    // The file's other top-level tables (`[cluster]`), as the server hands them over.
    let mut cx = OpenContext::new(dir.path().join("state"));
    let whole: toml::Table = toml::from_str(&text).expect("a table");
    for (name, value) in whole {
        if let (true, toml::Value::Table(table)) = (name != "t", value) {
            cx = cx.with_table(name, table);
        }
    }
    let scope = DavPath::parse_url_path("/t").expect("a scope").0;
    let manager: Arc<M> = configured.open(&cx, &scope).await.expect("the kind opens");
    Subject::new(manager).keeping(dir)
}

async fn fs_namespace() -> Subject<dyn NamespaceManager> {
    open("t = { kind = \"fs\", root = \"DIR\" }", |c, t| {
        c.namespace(t)
    })
    .await
}

async fn sled_namespace() -> Subject<dyn NamespaceManager> {
    open("t = { kind = \"sled\" }", |c, t| c.namespace(t)).await
}

async fn memory_namespace() -> Subject<dyn NamespaceManager> {
    open("t = { kind = \"memory\" }", |c, t| c.namespace(t)).await
}

async fn sled_properties() -> Subject<dyn PropertyManager> {
    open("t = { kind = \"sled\" }", |c, t| c.properties(t)).await
}

async fn memory_properties() -> Subject<dyn PropertyManager> {
    open("t = { kind = \"memory\" }", |c, t| c.properties(t)).await
}

async fn sled_locks() -> Subject<dyn LockManager> {
    open("t = { kind = \"sled\" }", |c, t| c.locks(t)).await
}

async fn memory_locks() -> Subject<dyn LockManager> {
    open("t = { kind = \"memory\" }", |c, t| c.locks(t)).await
}

/// The `postgres` kind on a schema of its own in the test database (`cluster.rs`), dropped
/// when the case ends.
async fn postgres<M: ?Sized>(
    configure: impl Fn(&Catalog, TableConfig<'_>) -> Result<Configured<M>, ConfigProblem>,
) -> Subject<M> {
    let url = super::cluster::test_database().expect("checked by `when`");
    let schema = super::cluster::fresh_schema();
    let table = format!(
        "t = {{ kind = \"postgres\" }}\n[cluster]\ndatabase = \"{url}\"\n\
         schema = \"{schema}\"\ninstance = \"conformance\"\n"
    );
    open(&table, configure)
        .await
        .keeping(super::cluster::SchemaGuard { url, schema })
}

/// An `s3` namespace on a fresh prefix of the test bucket, its tree in a fresh schema.
async fn s3_namespace() -> Subject<dyn NamespaceManager> {
    let store = super::s3::test_store().expect("checked by `when`");
    let url = super::cluster::test_database().expect("checked by `when`");
    let schema = super::cluster::fresh_schema();
    let table = format!(
        "t = {{ {} }}\n[cluster]\ndatabase = \"{url}\"\n\
         schema = \"{schema}\"\ninstance = \"conformance\"\n",
        store.table_keys()
    );
    open(&table, |c, t| c.namespace(t))
        .await
        .keeping(super::cluster::SchemaGuard { url, schema })
}

async fn postgres_properties() -> Subject<dyn PropertyManager> {
    postgres(|c, t| c.properties(t)).await
}

async fn postgres_locks() -> Subject<dyn LockManager> {
    postgres(|c, t| c.locks(t)).await
}

crate::namespace_conformance!(fs_namespace_conforms, fs_namespace);
crate::namespace_conformance!(sled_namespace_conforms, sled_namespace);
crate::namespace_conformance!(memory_namespace_conforms, memory_namespace);
crate::properties_conformance!(sled_properties_conform, sled_properties);
crate::properties_conformance!(memory_properties_conform, memory_properties);
crate::changes_conformance!(sled_changes_conform, sled_properties);
crate::changes_conformance!(memory_changes_conform, memory_properties);
crate::locks_conformance!(sled_locks_conform, sled_locks);
crate::locks_conformance!(memory_locks_conform, memory_locks);
crate::namespace_conformance!(
    s3_namespace_conforms,
    s3_namespace,
    when crate::conformance::s3::store_available
);
crate::properties_conformance!(
    postgres_properties_conform,
    postgres_properties,
    when crate::conformance::cluster::database_available
);
crate::changes_conformance!(
    postgres_changes_conform,
    postgres_properties,
    when crate::conformance::cluster::database_available
);
crate::locks_conformance!(
    postgres_locks_conform,
    postgres_locks,
    when crate::conformance::cluster::database_available
);

/// Every role of every built-in kind is instantiated above: a new kind in the catalog fails
/// here until the suite runs on it.
#[test]
fn every_builtin_kind_runs_the_suite() {
    const COVERED: &[(&str, Role)] = &[
        ("fs", Role::Namespace),
        ("sled", Role::Namespace),
        ("memory", Role::Namespace),
        ("sled", Role::Properties),
        ("memory", Role::Properties),
        ("sled", Role::Locks),
        ("memory", Role::Locks),
        ("postgres", Role::Properties),
        ("postgres", Role::Locks),
        ("s3", Role::Namespace),
    ];
    for kind in BUILTIN_KINDS {
        for role in Role::ALL {
            if kind.fills(role) {
                assert!(
                    COVERED.contains(&(kind.name, role)),
                    "kind {:?} as {role} has no conformance instantiation",
                    kind.name
                );
            }
        }
    }
}
