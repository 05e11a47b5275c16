//! Criterion benchmark of the `ETag` and `Last-Modified` values a GET sends
//! (`davd_executive::validators`): made for a file this thread answered for a moment ago, and
//! made anew.
//!
//!   cargo bench -p davd-executive --bench validators

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};

use davd_executive::validators::headers_for;

const ETAG: &str = "9b40be-1000-18eea69aebc63507";

fn validators(c: &mut Criterion) {
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_556_485);
    c.bench_function("validators: the same file again", |b| {
        b.iter(|| headers_for(black_box(ETAG), black_box(modified)))
    });
    let mut second = 0;
    c.bench_function("validators: a file not seen before", |b| {
        b.iter(|| {
            second += 1;
            headers_for(black_box(ETAG), modified + Duration::from_secs(second))
        })
    });
}

criterion_group!(benches, validators);
criterion_main!(benches);
