//! The [`PropertyManager`] contract, case by case. Each case starts from an empty store.

use std::collections::HashMap;

use davd_registry::{
    DavPath, Marker, PropChange, PropName, PropertyManager, PropsByPath, StoredProp,
};

use super::support::{path, prop};

/// Sets `{urn:t}p` on each path, its value naming the path.
async fn mark(store: &dyn PropertyManager, paths: &[&str]) {
    for at in paths {
        store.set(&path(at), prop("p", at)).await.unwrap();
    }
}

/// The paths a result holds, sorted and each once.
fn paths_of(props: &PropsByPath) -> Vec<String> {
    let mut out: Vec<String> = props.iter().map(|(p, _)| p.as_str().to_owned()).collect();
    out.sort();
    out.dedup();
    out
}

fn member_names(found: &HashMap<String, Vec<StoredProp>>) -> Vec<&str> {
    let mut out: Vec<&str> = found.keys().map(String::as_str).collect();
    out.sort_unstable();
    out
}

/// A resource, its members and theirs, and neighbours whose names extend its own (`/c b`,
/// `/c.txt`, `/ca`: in byte order some sort between `/c` and `/c/`).
const FAMILY: [&str; 9] = [
    "/c", "/c/a", "/c/a b", "/c/ab", "/c/a/x", "/c b", "/c.txt", "/ca", "/",
];

pub async fn set_get_and_remove_report_the_previous_value(store: &dyn PropertyManager) {
    let at = path("/doc");
    assert_eq!(store.get(&at, &prop("p", "").name).await.unwrap(), None);
    assert_eq!(store.set(&at, prop("p", "one")).await.unwrap(), None);
    assert_eq!(
        store.set(&at, prop("p", "two")).await.unwrap(),
        Some(prop("p", "one"))
    );
    assert_eq!(
        store.get(&at, &prop("p", "").name).await.unwrap(),
        Some(prop("p", "two"))
    );
    assert_eq!(
        store.remove(&at, &prop("p", "").name).await.unwrap(),
        Some(prop("p", "two"))
    );
    assert_eq!(store.remove(&at, &prop("p", "").name).await.unwrap(), None);
    assert_eq!(store.get(&at, &prop("p", "").name).await.unwrap(), None);
    // The root has properties like any resource.
    store
        .set(&DavPath::root(), prop("r", "root"))
        .await
        .unwrap();
    assert_eq!(
        store.get_all(&DavPath::root()).await.unwrap(),
        vec![prop("r", "root")]
    );
}

pub async fn names_differ_by_namespace_and_values_are_kept_verbatim(store: &dyn PropertyManager) {
    let at = path("/doc");
    let value = "<p xmlns=\"urn:t\" xml:lang=\"en\">a &amp; <b xmlns=\"urn:u\"/> é</p>";
    let in_t = StoredProp {
        name: PropName::new("urn:t", "p"),
        xml: value.to_owned(),
    };
    let in_u = StoredProp {
        name: PropName::new("urn:u", "p"),
        xml: "<p xmlns=\"urn:u\"/>".to_owned(),
    };
    let no_namespace = StoredProp {
        name: PropName::new("", "p"),
        xml: "<p>bare</p>".to_owned(),
    };
    for p in [&in_t, &in_u, &no_namespace] {
        store.set(&at, p.clone()).await.unwrap();
    }
    assert_eq!(
        store.get(&at, &in_t.name).await.unwrap(),
        Some(in_t.clone())
    );
    assert_eq!(
        store.get(&at, &in_u.name).await.unwrap(),
        Some(in_u.clone())
    );
    let mut all = store.get_all(&at).await.unwrap();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let mut expected = vec![in_t, in_u, no_namespace];
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(all, expected);
}

pub async fn get_all_is_one_resource_only(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    store.set(&path("/c"), prop("q", "second")).await.unwrap();
    let mut own = store.get_all(&path("/c")).await.unwrap();
    own.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(own, vec![prop("p", "/c"), prop("q", "second")]);
    assert!(store.get_all(&path("/nothing")).await.unwrap().is_empty());
}

pub async fn children_are_the_direct_members_keyed_by_name(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    store.set(&path("/c/a"), prop("q", "second")).await.unwrap();
    let found = store
        .get_children(&path("/c"), usize::MAX)
        .await
        .unwrap()
        .expect("under the limit");
    assert_eq!(member_names(&found), ["a", "a b", "ab"]);
    let mut of_a = found["a"].clone();
    of_a.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(of_a, vec![prop("p", "/c/a"), prop("q", "second")]);
    assert_eq!(found["a b"], vec![prop("p", "/c/a b")]);

    let of_root = store
        .get_children(&DavPath::root(), usize::MAX)
        .await
        .unwrap()
        .expect("under the limit");
    assert_eq!(member_names(&of_root), ["c", "c b", "c.txt", "ca"]);
    assert!(
        store
            .get_children(&path("/empty"), 0)
            .await
            .unwrap()
            .is_some_and(|m| m.is_empty()),
        "nothing is under any limit"
    );
}

pub async fn children_past_the_limit_are_not_gathered(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    let all = store
        .get_children(&path("/c"), usize::MAX)
        .await
        .unwrap()
        .expect("under the limit");
    let size: usize = all
        .iter()
        .flat_map(|(member, props)| {
            props
                .iter()
                .map(move |p| davd_registry::prop_size(member, p))
        })
        .sum();
    assert!(
        store
            .get_children(&path("/c"), size)
            .await
            .unwrap()
            .is_some(),
        "exactly at the limit is within it"
    );
    assert!(
        store
            .get_children(&path("/c"), size - 1)
            .await
            .unwrap()
            .is_none(),
        "one byte over is over"
    );
}

pub async fn members_are_exactly_the_named_ones(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    mark(store, &["/c/b", "/c/z"]).await;
    let found = store
        .get_members(&path("/c"), &["a", "ab", "missing"])
        .await
        .unwrap();
    assert_eq!(member_names(&found), ["a", "ab"]);
    assert_eq!(
        found["a"],
        vec![prop("p", "/c/a")],
        "not the member's own members"
    );
    let none = store.get_members(&path("/c"), &[]).await.unwrap();
    assert!(none.is_empty());
    let one = store.get_members(&path("/c"), &["z"]).await.unwrap();
    assert_eq!(member_names(&one), ["z"]);
    let of_root = store
        .get_members(&DavPath::root(), &["c", "ca"])
        .await
        .unwrap();
    assert_eq!(member_names(&of_root), ["c", "ca"]);
}

pub async fn members_within_a_limit_are_all_or_none(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    let names = ["a", "a b", "ab"];
    let all = store.get_members(&path("/c"), &names).await.unwrap();
    let within = store
        .get_members_within(&path("/c"), &names, usize::MAX)
        .await
        .unwrap()
        .expect("under the limit");
    assert_eq!(within, all);
    let size: usize = all
        .iter()
        .flat_map(|(member, props)| {
            props
                .iter()
                .map(move |p| davd_registry::prop_size(member, p))
        })
        .sum();
    let at_limit = store
        .get_members_within(&path("/c"), &names, size)
        .await
        .unwrap();
    assert_eq!(at_limit, Some(all), "exactly at the limit is within it");
    let over = store
        .get_members_within(&path("/c"), &names, size - 1)
        .await
        .unwrap();
    assert_eq!(over, None, "one byte over is over");
}

/// Paging through one resource's properties returns each once, in name order, each page
/// within its budget unless it holds a single property, and nothing of another resource.
pub async fn pages_return_each_property_once_in_name_order(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    let at = path("/c");
    let mut expected = vec![prop("p", "/c")];
    for (namespace, local, size) in [
        ("urn:b", "x", 300),
        ("urn:a", "z", 10),
        ("urn:a", "y", 2000),
        ("urn:t", "q", 50),
        ("", "bare", 5),
        ("urn:a", "yy", 700),
    ] {
        let stored = StoredProp {
            name: PropName::copied(namespace, local),
            xml: format!(
                "<{local} xmlns=\"{namespace}\">{}</{local}>",
                "v".repeat(size)
            ),
        };
        store.set(&at, stored.clone()).await.unwrap();
        expected.push(stored);
    }
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    for budget in [0, 100, 1000, 3000, usize::MAX] {
        let mut seen = Vec::new();
        let mut after: Option<PropName> = None;
        loop {
            let page = store.get_page(&at, after.as_ref(), budget).await.unwrap();
            assert!(!page.props.is_empty(), "budget {budget}: an empty page");
            let size: usize = page
                .props
                .iter()
                .map(|p| davd_registry::prop_size("", p))
                .sum();
            assert!(
                size <= budget || page.props.len() == 1,
                "budget {budget}: a page of {size} bytes"
            );
            after = page.props.last().map(|p| p.name.clone());
            seen.extend(page.props);
            if !page.more {
                break;
            }
        }
        assert_eq!(seen, expected, "budget {budget}");
    }
    let whole = store.get_page(&at, None, usize::MAX).await.unwrap();
    assert!(!whole.more);
    let empty = store.get_page(&path("/nothing"), None, 0).await.unwrap();
    assert_eq!(empty, davd_registry::PropPage::default());
    let last = expected.last().map(|p| p.name.clone());
    let past = store.get_page(&at, last.as_ref(), 0).await.unwrap();
    assert_eq!(
        past,
        davd_registry::PropPage::default(),
        "nothing after the last"
    );
}

pub async fn a_tree_is_a_resource_and_everything_below_it(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    let tree = store.get_tree(&path("/c")).await.unwrap();
    assert_eq!(paths_of(&tree), ["/c", "/c/a", "/c/a b", "/c/a/x", "/c/ab"]);
    assert_eq!(tree.len(), 5, "one entry per property");
    let everything = store.get_tree(&DavPath::root()).await.unwrap();
    assert_eq!(everything.len(), FAMILY.len());
    assert!(store.get_tree(&path("/nothing")).await.unwrap().is_empty());
}

pub async fn a_removed_tree_is_returned_and_can_be_put_back(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    let removed = store.remove_tree(&path("/c/a")).await.unwrap();
    assert_eq!(paths_of(&removed), ["/c/a", "/c/a/x"]);
    assert!(store.get_tree(&path("/c/a")).await.unwrap().is_empty());
    let left = store.get_tree(&DavPath::root()).await.unwrap();
    assert_eq!(
        paths_of(&left),
        ["/", "/c", "/c b", "/c.txt", "/c/a b", "/c/ab", "/ca"]
    );
    // Undo: put_many writes it all back.
    store.put_many(removed).await.unwrap();
    assert_eq!(
        store
            .get(&path("/c/a/x"), &prop("p", "").name)
            .await
            .unwrap(),
        Some(prop("p", "/c/a/x"))
    );
    assert_eq!(
        store.get_tree(&DavPath::root()).await.unwrap().len(),
        FAMILY.len()
    );
}

pub async fn put_many_sets_every_entry(store: &dyn PropertyManager) {
    store.set(&path("/a"), prop("p", "old")).await.unwrap();
    store
        .put_many(vec![
            (path("/a"), prop("p", "new")),
            (path("/a"), prop("q", "q")),
            (path("/b/c"), prop("p", "deep")),
        ])
        .await
        .unwrap();
    let mut of_a = store.get_all(&path("/a")).await.unwrap();
    of_a.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(of_a, vec![prop("p", "new"), prop("q", "q")]);
    assert_eq!(
        store.get_all(&path("/b/c")).await.unwrap(),
        vec![prop("p", "deep")]
    );
    store.put_many(Vec::new()).await.unwrap();
}

/// A store that reports a change count (`PropertyManager::change_count`) raises it after every
/// kind of write, so that nothing read before a write is trusted after it; reads leave it.
pub async fn every_write_raises_the_change_count(store: &dyn PropertyManager) {
    let Some(mut before) = store.change_count() else {
        return;
    };
    let mut raised = |what: &str, store: &dyn PropertyManager| {
        let now = store.change_count().unwrap();
        assert!(now > before, "{what} left the change count at {before}");
        before = now;
    };
    store.set(&path("/a"), prop("p", "1")).await.unwrap();
    raised("set", store);
    store
        .remove(&path("/a"), &prop("p", "").name)
        .await
        .unwrap();
    raised("remove", store);
    store
        .put_many(vec![(path("/t/x"), prop("p", "x"))])
        .await
        .unwrap();
    raised("put_many", store);
    store.move_tree(&path("/t"), &path("/u")).await.unwrap();
    raised("move_tree", store);
    store.remove_tree(&path("/u")).await.unwrap();
    raised("remove_tree", store);
    store
        .apply(
            &[PropChange::Set {
                path: path("/b"),
                prop: prop("p", "b"),
            }],
            Marker::None,
        )
        .await
        .unwrap();
    raised("apply", store);
    let _ = store.get(&path("/b"), &prop("p", "").name).await.unwrap();
    let _ = store.get_all(&path("/b")).await.unwrap();
    let _ = store.get_tree(&path("/")).await.unwrap();
    assert_eq!(
        store.change_count(),
        Some(before),
        "reads changed the count"
    );
}

pub async fn a_moved_tree_leaves_its_neighbours(store: &dyn PropertyManager) {
    mark(store, &FAMILY).await;
    store.move_tree(&path("/c"), &path("/d/e")).await.unwrap();
    assert!(store.get_tree(&path("/c")).await.unwrap().is_empty());
    let moved = store.get_tree(&path("/d/e")).await.unwrap();
    assert_eq!(
        paths_of(&moved),
        ["/d/e", "/d/e/a", "/d/e/a b", "/d/e/a/x", "/d/e/ab"]
    );
    // Values move unchanged: each still names where it was set.
    assert_eq!(
        store
            .get(&path("/d/e/a/x"), &prop("p", "").name)
            .await
            .unwrap(),
        Some(prop("p", "/c/a/x"))
    );
    for neighbour in ["/c b", "/c.txt", "/ca", "/"] {
        assert_eq!(
            store.get_all(&path(neighbour)).await.unwrap(),
            vec![prop("p", neighbour)],
            "{neighbour}"
        );
    }
    // A resource without properties moves as nothing.
    store
        .move_tree(&path("/none"), &path("/elsewhere"))
        .await
        .unwrap();
    assert!(
        store
            .get_tree(&path("/elsewhere"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn flush_is_a_barrier_that_succeeds(store: &dyn PropertyManager) {
    store.set(&path("/f"), prop("p", "v")).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(
        store.get_all(&path("/f")).await.unwrap(),
        vec![prop("p", "v")]
    );
}

/// Everything in the store, sorted, to compare states.
async fn everything(store: &dyn PropertyManager) -> Vec<(String, String, String)> {
    let mut all: Vec<(String, String, String)> = store
        .get_tree(&DavPath::root())
        .await
        .unwrap()
        .into_iter()
        .map(|(p, prop)| (p.as_str().to_owned(), prop.name.local.to_string(), prop.xml))
        .collect();
    all.sort();
    all
}

pub async fn a_batch_applies_in_order_and_its_undo_restores_everything(
    store: &dyn PropertyManager,
) {
    mark(store, &FAMILY).await;
    store
        .set(&path("/d/e"), prop("old", "replaced by the move"))
        .await
        .unwrap();
    let before = everything(store).await;
    let changes = vec![
        PropChange::Set {
            path: path("/n"),
            prop: prop("p", "one"),
        },
        // Later changes see earlier ones.
        PropChange::Set {
            path: path("/n"),
            prop: prop("p", "two"),
        },
        PropChange::Remove {
            path: path("/ca"),
            name: prop("p", "").name,
        },
        PropChange::Remove {
            path: path("/ca"),
            name: prop("absent", "").name,
        },
        PropChange::RemoveTree { path: path("/c/a") },
        // The destination's own properties go first.
        PropChange::MoveTree {
            from: path("/c"),
            to: path("/d/e"),
        },
    ];
    let undo = store
        .apply(&changes, Marker::Record("batch-1"))
        .await
        .unwrap();
    assert_eq!(
        store.get(&path("/n"), &prop("p", "").name).await.unwrap(),
        Some(prop("p", "two"))
    );
    assert!(store.get_all(&path("/ca")).await.unwrap().is_empty());
    assert!(store.get_tree(&path("/c")).await.unwrap().is_empty());
    assert_eq!(
        paths_of(&store.get_tree(&path("/d/e")).await.unwrap()),
        ["/d/e", "/d/e/a b", "/d/e/ab"],
        "moved without what was removed, and without what /d/e had"
    );
    assert_eq!(
        store
            .get(&path("/d/e"), &prop("old", "").name)
            .await
            .unwrap(),
        None
    );
    for neighbour in ["/c b", "/c.txt", "/"] {
        assert_eq!(
            store.get_all(&path(neighbour)).await.unwrap().len(),
            1,
            "{neighbour}"
        );
    }

    store.apply(&undo, Marker::Clear("batch-1")).await.unwrap();
    assert_eq!(
        everything(store).await,
        before,
        "the undo puts back every value"
    );
}

pub async fn markers_go_in_and_out_with_their_batches(store: &dyn PropertyManager) {
    let set = |text: &str| PropChange::Set {
        path: path("/m"),
        prop: prop("p", text),
    };
    let undo = store
        .apply(&[set("one")], Marker::Record("m-1"))
        .await
        .unwrap();
    // A store that keeps nothing across restarts keeps no markers either.
    let durable = store.has_marker("m-1").await.unwrap();
    assert_eq!(
        store.markers().await.unwrap().contains(&"m-1".to_owned()),
        durable
    );
    store.apply(&undo, Marker::Clear("m-1")).await.unwrap();
    assert!(!store.has_marker("m-1").await.unwrap());
    assert!(!store.markers().await.unwrap().contains(&"m-1".to_owned()));
    assert!(store.get_all(&path("/m")).await.unwrap().is_empty());

    store
        .apply(&[set("two")], Marker::Record("m-2"))
        .await
        .unwrap();
    store.apply(&[set("three")], Marker::None).await.unwrap();
    assert_eq!(store.has_marker("m-2").await.unwrap(), durable);
    store.forget_markers(&["m-2".to_owned()]).await.unwrap();
    assert!(!store.has_marker("m-2").await.unwrap());
    assert!(store.markers().await.unwrap().is_empty());
    assert_eq!(
        store.get_all(&path("/m")).await.unwrap(),
        vec![prop("p", "three")],
        "forgetting a marker keeps its batch"
    );
}
