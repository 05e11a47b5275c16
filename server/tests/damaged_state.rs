//! A damaged or surprising environment gets a clear answer (docs/durability.md): a state
//! database that was truncated, lost writes it had acknowledged, or holds garbage stops
//! startup with a message saying what to do (never a silent start without its data, never a
//! panic a supervisor would restart forever), while a crash's lagging identity file passes; a
//! state directory inside the served root is refused; a staging directory removed while davd
//! runs is made again; an unreadable journal record stops startup instead of being guessed.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use support::Davd;

const ARGS: [&str; 4] = ["--root", "root", "--state", "state"];

/// Runs davd in `dir`, expects it to stop with a failure (within 30 s: a davd that starts
/// serving instead is killed and the test fails), and returns what it printed.
fn refused(dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "davd started instead of refusing:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "davd must exit 1:\n{log}");
    assert!(!log.contains("panicked"), "no panic:\n{log}");
    log
}

/// Starts davd once, stores a property and stops it cleanly, so the state database has data.
async fn a_used_state_directory(dir: &Path) {
    let davd = Davd::start(dir, &ARGS);
    let client = support::client_builder().build().unwrap();
    let doc = format!("{}doc.txt", davd.url);
    assert_eq!(
        client.put(&doc).body("x").send().await.unwrap().status(),
        StatusCode::CREATED
    );
    set_property(&davd, "a", "1").await;
    assert_eq!(davd.stop(), Some(0));
}

/// Sets the dead property `urn:t` `name` of `/doc.txt`, acknowledged with a 207 holding 200.
async fn set_property(davd: &Davd, name: &str, value: &str) {
    let client = support::client_builder().build().unwrap();
    let r = client
        .request(support::method("PROPPATCH"), format!("{}doc.txt", davd.url))
        .body(format!(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:{name} xmlns:t="urn:t">{value}</t:{name}></D:prop></D:set></D:propertyupdate>"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert!(r.text().await.unwrap().contains("200 OK"));
}

/// The value of the dead property `urn:t` `name` of `/doc.txt`, if it has one.
async fn property(davd: &Davd, name: &str) -> Option<String> {
    let client = support::client_builder().build().unwrap();
    let r = client
        .request(support::method("PROPFIND"), format!("{}doc.txt", davd.url))
        .header("Depth", "0")
        .body(format!(r#"<D:propfind xmlns:D="DAV:"><D:prop><t:{name} xmlns:t="urn:t"/></D:prop></D:propfind>"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    // The element under the propstat whose status is 200 (a missing one is under a 404).
    let element = doc
        .descendants()
        .find(|n| n.tag_name().namespace() == Some("urn:t") && n.tag_name().name() == name)?;
    let propstat = element
        .ancestors()
        .find(|n| n.tag_name().name() == "propstat")?;
    let ok = propstat
        .children()
        .any(|n| n.tag_name().name() == "status" && n.text().is_some_and(|t| t.contains("200")));
    ok.then(|| element.text().unwrap_or_default().to_owned())
}

/// A copy of the directory `from` (no davd running on it) at `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_state_database_stops_startup_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    // Cut to nothing, as a disk or a careless copy can leave it: sled would open it as a new,
    // empty database.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("state/db/db"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let log = refused(dir.path(), &ARGS);
    assert!(log.contains("damaged"), "{log}");
    assert!(log.contains("state/db"), "names the database: {log}");
    assert!(log.contains("backup"), "says what to do: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_database_full_of_garbage_stops_startup_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    let file = dir.path().join("state/db/db");
    let len = std::fs::metadata(&file).unwrap().len() as usize;
    let garbage: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&file, garbage).unwrap();
    let log = refused(dir.path(), &ARGS);
    assert!(
        log.contains("damaged") || log.contains("cannot open the state database"),
        "{log}"
    );
}

/// A database that sled opens with a readable beginning holding the identity, but without
/// writes acknowledged later: here the database put back from a copy taken before them, which
/// is what a cut that keeps the beginning of sled's log amounts to. It used to start without
/// a word, the later property silently gone; the flush counter in `db.identity` catches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_lost_acknowledged_writes_is_refused_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let older = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    copy_dir(&dir.path().join("state/db"), older.path());
    let davd = Davd::start(dir.path(), &ARGS);
    set_property(&davd, "b", "acknowledged").await;
    assert_eq!(davd.stop(), Some(0));
    std::fs::remove_dir_all(dir.path().join("state/db")).unwrap();
    copy_dir(older.path(), &dir.path().join("state/db"));

    let log = refused(dir.path(), &ARGS);
    assert!(log.contains("damaged"), "{log}");
    assert!(log.contains("state/db"), "names the database: {log}");
    assert!(log.contains("acknowledged are missing"), "says why: {log}");
    assert!(
        log.contains("remove") && log.contains("state/db.identity"),
        "says how to accept it deliberately: {log}"
    );
    // Accepted as the message says: it serves what the older database holds.
    std::fs::remove_file(dir.path().join("state/db.identity")).unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    assert_eq!(property(&davd, "a").await.as_deref(), Some("1"));
    assert_eq!(property(&davd, "b").await, None);
    assert_eq!(davd.stop(), Some(0));
}

/// The ordinary crash: killed right after acknowledged writes, before any clean shutdown
/// flush; the identity file may lag the database, never lead it, so davd starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_acknowledged_writes_is_not_taken_for_damage() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    for round in 0..3 {
        let davd = Davd::start(dir.path(), &ARGS);
        let value = format!("round{round}");
        set_property(&davd, "a", &value).await;
        set_property(&davd, "b", &value).await;
        davd.signal("KILL");
        assert_eq!(davd.wait(std::time::Duration::from_secs(20)), None);
        let davd = Davd::start(dir.path(), &ARGS);
        assert_eq!(property(&davd, "b").await.as_deref(), Some(value.as_str()));
        davd.signal("KILL");
        assert_eq!(davd.wait(std::time::Duration::from_secs(20)), None);
    }
}

/// A crash between a flush and the copy of its count into `db.identity` leaves the file
/// behind the database: that passes, and the file catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_file_that_lags_the_database_passes() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    let lagging = std::fs::read(dir.path().join("state/db.identity")).unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    set_property(&davd, "b", "later").await;
    assert_eq!(davd.stop(), Some(0));
    std::fs::write(dir.path().join("state/db.identity"), &lagging).unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    assert_eq!(property(&davd, "b").await.as_deref(), Some("later"));
    assert_eq!(davd.stop(), Some(0));
    assert_ne!(
        std::fs::read(dir.path().join("state/db.identity")).unwrap(),
        lagging,
        "the file caught up"
    );
}

/// An identity file written by a davd from before the counter (the identity alone) is adopted,
/// and gets the counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_file_without_a_counter_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    let file = dir.path().join("state/db.identity");
    let text = std::fs::read_to_string(&file).unwrap();
    let identity = text.lines().next().unwrap().to_owned();
    std::fs::write(&file, format!("{identity}\n")).unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    assert_eq!(property(&davd, "a").await.as_deref(), Some("1"));
    assert_eq!(davd.stop(), Some(0));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&format!("{identity}\nflushes ")), "{text}");
}

#[test]
fn a_state_directory_inside_the_served_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = refused(dir.path(), &["--root", "root", "--state", "root/.state"]);
    assert!(log.contains("inside the served directory"), "{log}");
    assert!(
        !dir.path().join("root/.state").exists(),
        "nothing was created there"
    );
    // The same directory spelt another way is caught too.
    let log = refused(dir.path(), &["--root", "./root/../root", "--state", "root"]);
    assert!(log.contains("inside the served directory"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_directory_removed_while_davd_runs_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    let client = support::client_builder().build().unwrap();
    std::fs::remove_dir_all(dir.path().join("root/.davd-staging")).unwrap();
    let r = client
        .put(format!("{}a.txt", davd.url))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    std::fs::remove_dir_all(dir.path().join("root/.davd-staging")).unwrap();
    let r = client
        .put(format!("{}b.bin", davd.url))
        .body(vec![3u8; 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "a large upload too");
    let r = client
        .request(
            reqwest::Method::from_bytes(b"MKCOL").unwrap(),
            format!("{}d", davd.url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    std::fs::remove_dir_all(dir.path().join("root/.davd-staging")).unwrap();
    let r = client
        .delete(format!("{}d", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "a DELETE detaches into it"
    );
    assert_eq!(
        client
            .get(format!("{}b.bin", davd.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len(),
        1024 * 1024
    );
    assert_eq!(davd.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_journal_record_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    std::fs::write(
        dir.path().join("state/journal/0123-abcd.intent"),
        b"{ not json",
    )
    .unwrap();
    let log = refused(dir.path(), &ARGS);
    assert!(log.contains("0123-abcd"), "{log}");
    assert!(log.contains("cannot be read"), "{log}");
    // Moving the record away, as the message says, lets davd start.
    std::fs::remove_file(dir.path().join("state/journal/0123-abcd.intent")).unwrap();
    let davd = Davd::start(dir.path(), &ARGS);
    assert_eq!(davd.stop(), Some(0));
}

/// A database file that lost its second half (a disk or a careless copy cut it part way).
/// sled opens such a file with the records of its readable beginning, identity included, and
/// davd used to start with them, the property and lock writes acknowledged later silently
/// gone. The flush counter tells it from a crash: the beginning holds a lower count than the
/// one `db.identity` saw flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_truncated_state_database_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    a_used_state_directory(dir.path()).await;
    let file = dir.path().join("state/db/db");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let log = refused(dir.path(), &ARGS);
    assert!(log.contains("damaged"), "{log}");
    assert!(log.contains("state/db"), "names the database: {log}");
    assert!(log.contains("acknowledged are missing"), "says why: {log}");
    assert!(log.contains("backup"), "says what to do: {log}");
}
