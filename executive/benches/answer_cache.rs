//! Criterion benchmarks of the executive's listing cache (`davd_executive::listing_cache`):
//! what a PROPFIND served from it pays besides hyper and the `statx` (finding the kept answer
//! under a key built from the request), and what keeping an answer costs the request that
//! rendered it.
//!
//!   cargo bench -p davd-executive
//!
//! The key is what Windows Explorer sends for a folder: a path of a few segments and a
//! `prop` body of about 300 bytes.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};

use davd_executive::listing_cache::{Freshness, ListingCache, ListingKey, Recording, Shown};
use davd_registry::{ListingVersion, Quirks};

const EXPLORER_BODY: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><D:name/><D:parentname/><D:href/><D:ishidden/><D:isreadonly/><D:getcontenttype/><D:contentclass/><D:getcontentlanguage/><D:creationdate/><D:lastaccessed/><D:getlastmodified/><D:getcontentlength/><D:iscollection/><D:isstructureddocument/><D:defaultdocument/><D:displayname/><D:isroot/><D:resourcetype/></D:prop></D:propfind>"#;

fn key(path: &str) -> ListingKey {
    ListingKey {
        path: path.to_owned(),
        depth: 1,
        principal: Some("alice".to_owned()),
        quirks: Quirks::default(),
        body: EXPLORER_BODY.to_owned(),
    }
}

fn fresh() -> Freshness {
    Freshness {
        namespace: Shown::Listing(ListingVersion(vec![0, 7, 42])),
        properties: 1234,
    }
}

fn cache(c: &mut Criterion) {
    let cache = ListingCache::new(32 << 20);
    let answer = Bytes::from(vec![b'x'; 400 * 1024]);
    for folder in 0..100 {
        cache.insert(
            key(&format!("/projects/folder-{folder}/")),
            fresh(),
            answer.clone(),
        );
    }
    let fresh = fresh();
    c.bench_function("answer cache: key and hit (Explorer folder)", |b| {
        b.iter(|| {
            let key = key(black_box("/projects/folder-42/"));
            black_box(cache.get(&key, &fresh))
        })
    });
    let chunks: Vec<Bytes> = (0..16)
        .map(|_| Bytes::from(vec![b'y'; 16 * 1024]))
        .collect();
    c.bench_function("answer cache: record and keep a 256 KiB listing", |b| {
        b.iter(|| {
            let mut recording = Recording::new(&cache, key("/projects/kept/"), fresh.clone());
            for chunk in &chunks {
                recording.record(chunk);
            }
            recording.keep(&cache);
        })
    });
}

criterion_group!(benches, cache);
criterion_main!(benches);
