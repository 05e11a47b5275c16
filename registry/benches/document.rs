//! Criterion benchmarks of the document record (docs/adr/0007-document-ids.md): every PUT
//! reads and writes one, and an allprop listing reads one per member.
//!
//!   cargo bench -p davd-registry

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use davd_registry::DocumentRecord;

fn record() -> DocumentRecord {
    DocumentRecord {
        guid: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        version: 17,
        etag: "1a2b3c4d5e6f-1000-18c3f0a1b2c3d4e5".to_owned(),
        modified_by: Some("alice".to_owned()),
    }
}

fn document_record(c: &mut Criterion) {
    let record = record();
    c.bench_function("DocumentRecord::to_prop", |b| {
        b.iter(|| black_box(&record).to_prop())
    });
    let stored = record.to_prop().xml;
    c.bench_function("DocumentRecord::from_prop (davd's own form)", |b| {
        b.iter(|| DocumentRecord::from_prop(black_box(&stored)))
    });
}

criterion_group!(benches, document_record);
criterion_main!(benches);
