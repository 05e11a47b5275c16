//! Bounded memory for uploads to an s3 mount (issue 21): sixteen concurrent 1 GiB PUTs to a
//! spawned davd keep its peak resident memory under the mount's upload budget plus a fixed
//! allowance, and every upload arrives whole. Then the uploads are deleted and collected, so
//! the 16 GiB do not stay in the store.
//!
//! It needs a database and a store (`davd_subsystems::conformance::s3`); without them it passes
//! after a loud line, and fails when `DAVD_REQUIRE_S3_TESTS` is set.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;

use davd_subsystems::conformance::s3::test_store;
use davd_subsystems::postgres::{Cluster as PgCluster, ClusterTable};
use davd_subsystems::s3::{Blobs, PART_SIZE, S3Namespace, S3Table};
use davd_tests::cluster::Cluster;

const BINARY: &str = env!("CARGO_BIN_EXE_davd-node");
const MIB: u64 = 1024 * 1024;
const UPLOADS: u64 = 16;
const SIZE: u64 = 1024 * MIB;

/// The mount's budget: the default, what an operator who sets nothing gets.
const BUDGET_MIB: u64 = davd_subsystems::s3::DEFAULT_UPLOAD_BUFFER_MIB;

/// What davd may hold besides the part buffers. Measured (2026-12-05, debug build, 2 busy
/// cores): 19 MiB at rest (code, runtime, the database pools) and 8 MiB more at the peak
/// (sixteen connections' read buffers and one chunk each beyond its part, the store client's
/// connections, code first run during the uploads): 155 MiB for a 128 MiB budget. The
/// allowance doubles those 27 MiB and rounds up, for other builds and allocators.
const ALLOWANCE_MIB: u64 = 64;

/// The pattern's 1 MiB block, the same in every MiB of every upload but for its stamp.
///
/// It is text on purpose: a store that compresses (SeaweedFS gzips what looks compressible)
/// then keeps the sixteen gibibytes in a few hundred mebibytes of disk, which a CI machine
/// has. davd sees the same bytes either way, so the memory bound is tested all the same.
fn block() -> Bytes {
    let mut text = Vec::with_capacity(MIB as usize + 64);
    let mut line = 0u64;
    while (text.len() as u64) < MIB {
        text.extend_from_slice(format!("davd upload budget test, line {line:08}\n").as_bytes());
        line += 1;
    }
    text.truncate(MIB as usize);
    Bytes::from(text)
}

/// Each MiB starts with a stamp naming its upload and its place, so that a misplaced,
/// doubled or missing part shows; the rest is the block.
const STAMP: usize = 16;

fn stamp(upload: u64, mib: u64) -> [u8; STAMP] {
    let mut stamp = [0u8; STAMP];
    stamp[..8].copy_from_slice(&upload.to_le_bytes());
    stamp[8..].copy_from_slice(&mib.to_le_bytes());
    stamp
}

/// The body of upload `upload`, made as it is sent: the test holds one block, never a body.
fn body(upload: u64, block: Bytes) -> reqwest::Body {
    let chunks = futures_util::stream::iter(0..SIZE / MIB).flat_map(move |mib| {
        let pieces = [
            Bytes::copy_from_slice(&stamp(upload, mib)),
            block.slice(STAMP..),
        ];
        futures_util::stream::iter(pieces.map(Ok::<_, std::io::Error>))
    });
    reqwest::Body::wrap_stream(chunks)
}

/// The bytes `start..=end` of upload `upload`.
fn expected(upload: u64, block: &Bytes, start: u64, end: u64) -> Vec<u8> {
    (start..=end)
        .map(|at| {
            let within = (at % MIB) as usize;
            if within < STAMP {
                stamp(upload, at / MIB)[within]
            } else {
                block[within]
            }
        })
        .collect()
}

/// Peak resident memory (VmHWM) of the process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_one_gib_uploads_to_s3_in_bounded_memory() {
    let Some(store) = test_store() else {
        return;
    };
    let prefix = format!("test-{}", uuid_like());
    let table = serde_json::json!({
        "bucket": store.bucket,
        "endpoint": store.endpoint,
        "region": store.region,
        "prefix": prefix,
        // No grace for the test's own collector, run once the uploads are deleted (davd's
        // keeps the default: with none it would collect the uploads in progress).
        "grace_secs": 0,
    });
    let mount = format!(
        "\n[[mount]]\nscope = \"/s3\"\nnamespace = {{ kind = \"s3\", bucket = \"{}\", \
         endpoint = \"{}\", region = \"{}\", prefix = \"{prefix}\" }}\n",
        store.bucket, store.endpoint, store.region
    );
    let Some(cluster) = Cluster::start_with(BINARY, &["m"], &mount).await else {
        return;
    };
    let pid = cluster.pid(0).unwrap();
    let at_rest = peak_rss(pid);
    let started = Instant::now();
    // Generous: sixteen gigabytes through one busy machine; a bound against hanging only.
    let client = davd_tests::client_builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let block = block();
    let mut uploads = Vec::new();
    for upload in 0..UPLOADS {
        let request = client
            .put(cluster.url(0, &format!("/s3/upload-{upload}.bin")))
            .header("Content-Length", SIZE.to_string())
            .body(body(upload, block.clone()));
        uploads.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    // What is wrong is gathered and asserted at the end, after the clean-up: a failed run
    // must not leave 16 GiB in the store.
    let mut problems = Vec::new();
    for (upload, status) in uploads.into_iter().enumerate() {
        let status = status.await.unwrap();
        if status != StatusCode::CREATED {
            problems.push(format!("upload {upload}: {status}"));
        }
    }
    let uploaded = started.elapsed();
    let peak = peak_rss(pid);
    eprintln!(
        "{UPLOADS} x {} MiB uploaded in {:.0} s; davd at rest {} MiB, peak {} MiB \
         (budget {BUDGET_MIB} MiB + allowance {ALLOWANCE_MIB} MiB)",
        SIZE / MIB,
        uploaded.as_secs_f64(),
        at_rest / MIB,
        peak / MIB
    );
    if peak >= (BUDGET_MIB + ALLOWANCE_MIB) * MIB {
        problems.push(format!("peak resident memory {} MiB", peak / MIB));
    }

    // Whole: the size, and ranges at the start, across the first part boundary, in the
    // middle and at the end, byte for byte.
    let part = PART_SIZE as u64;
    let ranges = [
        (0, 99),
        (part - 50, part + 49),
        (SIZE / 2 + 12_345, SIZE / 2 + 12_345 + 4096),
        (SIZE - 100, SIZE - 1),
    ];
    let size = SIZE.to_string();
    for upload in 0..UPLOADS {
        let path = format!("/s3/upload-{upload}.bin");
        let head = cluster.request(0, "HEAD", &path).send().await.unwrap();
        let length = head.headers().get("content-length").cloned();
        if head.status() != StatusCode::OK || length.as_ref().is_none_or(|l| *l != size.as_str()) {
            problems.push(format!(
                "upload {upload}: HEAD {} {length:?}",
                head.status()
            ));
        }
        for (start, end) in ranges {
            let got = cluster
                .request(0, "GET", &path)
                .header("Range", format!("bytes={start}-{end}"))
                .send()
                .await
                .unwrap();
            let status = got.status();
            let bytes = got.bytes().await.unwrap();
            if status != StatusCode::PARTIAL_CONTENT
                || bytes[..] != expected(upload, &block, start, end)[..]
            {
                problems.push(format!(
                    "upload {upload}: bytes {start}-{end} differ ({status})"
                ));
            }
        }
    }

    // The store keeps nothing: delete, then collect (grace 0) and check the objects are gone.
    let database = cluster.database().await;
    let store_name = format!("{}/{prefix}", store.bucket);
    let blobs: Vec<String> = database
        .query(
            "SELECT blob FROM davd_s3_tree WHERE store = $1 AND blob IS NOT NULL",
            &[&store_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for upload in 0..UPLOADS {
        let path = format!("/s3/upload-{upload}.bin");
        let deleted = cluster.request(0, "DELETE", &path).send().await.unwrap();
        if deleted.status() != StatusCode::NO_CONTENT {
            problems.push(format!("upload {upload}: DELETE {}", deleted.status()));
        }
    }
    let table: S3Table = serde_json::from_value(table).unwrap();
    let settings = table.check(None, |name| std::env::var(name).ok()).unwrap();
    let pg: ClusterTable = serde_json::from_value(serde_json::json!({
        "database": cluster.database,
        "schema": cluster.schema,
    }))
    .unwrap();
    let pg = PgCluster::open(&pg.check(None).unwrap(), "collector")
        .await
        .unwrap();
    let namespace = S3Namespace::open(pg, &settings).await.unwrap();
    namespace.collect().await.unwrap();
    let left = database
        .query(
            "SELECT blob FROM davd_s3_unreferenced WHERE store = $1",
            &[&store_name],
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "every deleted upload collected");
    let objects = Blobs::new(&settings).unwrap();
    for blob in &blobs {
        let gone = objects.read(blob, None).await.err().unwrap();
        assert_eq!(
            gone.status,
            davd_registry::StatusCode::INTERNAL_SERVER_ERROR,
            "the object {blob} is gone from the bucket"
        );
    }
    eprintln!(
        "the whole test took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(blobs.len() as u64, UPLOADS, "one object per upload");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A fresh name for the test's prefix.
fn uuid_like() -> String {
    davd_subsystems::conformance::cluster::fresh_schema()
}
