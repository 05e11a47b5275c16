//! A damaged or surprising environment gets a clear answer (docs/durability.md): a state
//! database that was truncated or holds garbage stops startup with a message saying what to
//! do (never a silent empty start, never a panic a supervisor would restart forever); a
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
    let r = client
        .request(reqwest::Method::from_bytes(b"PROPPATCH").unwrap(), &doc)
        .body(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:a xmlns:t="urn:t">1</t:a></D:prop></D:set></D:propertyupdate>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_eq!(davd.stop(), Some(0));
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
/// Whether this can be told from a crash is not settled (docs/durability.md, "A damaged or
/// surprising state directory"): davd either refuses it with a message, or starts with what
/// the first half holds. What it never does is panic, hang, or refuse with a panic's text, which
/// a supervisor would turn into a restart loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_truncated_state_database_is_refused_or_opened_never_a_panic() {
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_davd"))
        .current_dir(dir.path())
        .args(ARGS)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut log = String::new();
    let serving = loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(line) => {
                let found = line.contains("http://");
                log.push_str(&line);
                log.push('\n');
                if found {
                    break line;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break String::new(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "davd neither served nor stopped:\n{log}"
        );
    };
    if serving.is_empty() {
        let out = child.wait_with_output().unwrap();
        let log = log + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "refused with exit 1:\n{log}");
        assert!(!log.contains("panicked"), "no panic:\n{log}");
        assert!(log.contains("state/db"), "names the database: {log}");
        return;
    }
    let url = serving[serving.find("http://").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let client = support::client_builder().build().unwrap();
    let r = client.get(format!("{url}doc.txt")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "it serves what it opened");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = log + &String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("panicked"), "no panic:\n{log}");
}
