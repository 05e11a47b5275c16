//! Criterion benchmarks of the protocol layer: what every request pays before the executive
//! runs (the request head, the `If` header, the XML bodies) and what a large PROPFIND pays to
//! render its answer (a 1,000-response multistatus), and the digits of the identifiers every
//! GET, PUT and listed member carries (entity tags, `ResourceTag`, `Repl-UID`).
//!
//!   cargo bench -p davd-protocol
//!
//! The inputs are what real clients send: the headers of Windows' mini-redirector and Office,
//! a tagged `If` header as Word sends it while it holds a lock, the `allprop` and `prop`
//! PROPFIND bodies, and a PROPPATCH setting the Win32 properties.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use davd_protocol::digits::{push_decimal, push_hex};
use davd_protocol::headers::ResourceTag;
use davd_protocol::headers::ms::{miniredir_version, repl_uid};
use davd_protocol::headers::parse_if;
use davd_protocol::xml::{
    MultistatusWriter, PropStat, PropValue, XmlLimits, parse_propertyupdate, parse_propfind,
};
use davd_protocol::{DavPath, PropName, Request, RequestHead};

/// The head of a PROPFIND Depth 1 from Windows Explorer (mini-redirector).
fn propfind_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:8080"),
        ("user-agent", "Microsoft-WebDAV-MiniRedir/10.0.19045"),
        ("depth", "1"),
        ("translate", "f"),
        ("connection", "Keep-Alive"),
        ("content-type", "text/xml; charset=\"utf-8\""),
        ("content-length", "312"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
    ] {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

/// A tagged If header as Word sends it on a PUT while it holds a lock, plus an untagged one.
const IF_TAGGED: &str = "<http://127.0.0.1:8080/Shared%20Documents/Quarterly%20report.docx> \
    (<opaquelocktoken:5e6b2c1a-8d4f-4a7e-9c3b-2f1e0d9c8b7a> [\"9959c3-1000-18eaf9f6c9ce3977\"]) \
    (Not <DAV:no-lock>)";
const IF_UNTAGGED: &str = "(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2>)";

const PROPFIND_ALLPROP: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;

/// The properties Windows' mini-redirector asks for on every directory listing.
const PROPFIND_PROP: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:name/><D:parentname/><D:href/><D:ishidden/><D:isreadonly/><D:getcontenttype/>
<D:contentclass/><D:getcontentlanguage/><D:creationdate/><D:lastaccessed/>
<D:getlastmodified/><D:getcontentlength/><D:iscollection/><D:isstructureddocument/>
<D:defaultdocument/><D:displayname/><D:isroot/><D:resourcetype/>
</D:prop></D:propfind>"#;

/// The PROPPATCH Windows sends after copying a file in, plus a dead property and a remove.
const PROPPATCH: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">
<D:set><D:prop>
<Z:Win32CreationTime>Tue, 24 Nov 2026 12:10:39 GMT</Z:Win32CreationTime>
<Z:Win32LastAccessTime>Tue, 24 Nov 2026 12:10:40 GMT</Z:Win32LastAccessTime>
<Z:Win32LastModifiedTime>Tue, 24 Nov 2026 12:10:41 GMT</Z:Win32LastModifiedTime>
<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>
<A:author xmlns:A="http://example.com/ns/">Ada <A:b>Lovelace</A:b></A:author>
</D:prop></D:set>
<D:remove><D:prop><A:draft xmlns:A="http://example.com/ns/"/></D:prop></D:remove>
</D:propertyupdate>"#;

fn request_head(c: &mut Criterion) {
    let headers = propfind_headers();
    c.bench_function("Request::parse PROPFIND head", |b| {
        b.iter(|| {
            Request::parse(black_box(RequestHead {
                method: "PROPFIND",
                path: "/Shared%20Documents/Reports/",
                headers: &headers,
                default_port: 80,
                body_may_exist: false,
            }))
            .expect("a valid PROPFIND head")
        })
    });
    // The smallest head there is, as `scripts/bench.sh`'s wrk sends it (no User-Agent): what
    // every small GET pays before the executive runs.
    let mut bare = HeaderMap::new();
    bare.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    c.bench_function("Request::parse GET head (wrk)", |b| {
        b.iter(|| {
            Request::parse(black_box(RequestHead {
                method: "GET",
                path: "/file-4k.bin",
                headers: &bare,
                default_port: 80,
                body_may_exist: false,
            }))
            .expect("a valid GET head")
        })
    });
}

/// Worked out for every request from its User-Agent (the client's quirks).
fn user_agents(c: &mut Criterion) {
    c.bench_function("miniredir_version (Windows)", |b| {
        b.iter(|| miniredir_version(black_box("Microsoft-WebDAV-MiniRedir/10.0.19045")))
    });
    c.bench_function("miniredir_version (no agent)", |b| {
        b.iter(|| miniredir_version(black_box("")))
    });
}

fn if_header(c: &mut Criterion) {
    c.bench_function("parse_if tagged (Word, locked PUT)", |b| {
        b.iter(|| parse_if(black_box(IF_TAGGED)).expect("a valid If header"))
    });
    c.bench_function("parse_if untagged token", |b| {
        b.iter(|| parse_if(black_box(IF_UNTAGGED)).expect("a valid If header"))
    });
}

fn xml_bodies(c: &mut Criterion) {
    let limits = XmlLimits::default();
    c.bench_function("parse_propfind allprop", |b| {
        b.iter(|| parse_propfind(black_box(PROPFIND_ALLPROP), &limits).expect("valid"))
    });
    c.bench_function("parse_propfind prop (18 names)", |b| {
        b.iter(|| parse_propfind(black_box(PROPFIND_PROP), &limits).expect("valid"))
    });
    c.bench_function("parse_propertyupdate (5 set, 1 remove)", |b| {
        b.iter(|| parse_propertyupdate(black_box(PROPPATCH), &limits).expect("valid"))
    });
}

/// The propstat davd writes for a file under allprop (see the PROPFIND Depth 1 case of
/// scripts/bench.sh).
fn file_propstat(i: usize) -> PropStat {
    let lockentry = |scope: &str| {
        format!(
            "<D:lockentry><D:lockscope><D:{scope}/></D:lockscope>\
             <D:locktype><D:write/></D:locktype></D:lockentry>"
        )
    };
    PropStat {
        status: StatusCode::OK,
        props: vec![
            (
                PropName::dav("creationdate"),
                Some(PropValue::Text("2026-11-24T12:10:41Z".into())),
            ),
            (
                PropName::dav("getcontentlength"),
                Some(PropValue::Text("45".into())),
            ),
            (
                PropName::dav("getcontenttype"),
                Some(PropValue::Text("text/plain".into())),
            ),
            (
                PropName::dav("getetag"),
                Some(PropValue::Text(
                    format!("\"995ae3-2d-18eaf9f6f611{i:04x}\"").into(),
                )),
            ),
            (
                PropName::dav("getlastmodified"),
                Some(PropValue::Text("Tue, 24 Nov 2026 12:10:40 GMT".into())),
            ),
            (PropName::dav("resourcetype"), Some(PropValue::Empty)),
            (
                PropName::dav("supportedlock"),
                Some(PropValue::Xml(
                    format!("{}{}", lockentry("exclusive"), lockentry("shared")).into(),
                )),
            ),
            (PropName::dav("lockdiscovery"), Some(PropValue::Empty)),
        ],
        error: None,
        description: None,
    }
}

fn multistatus(c: &mut Criterion) {
    let responses: Vec<(String, Vec<PropStat>)> = (0..1000)
        .map(|i| {
            (
                format!("/dir1000/member-{i:04}.txt"),
                vec![file_propstat(i)],
            )
        })
        .collect();
    let mut group = c.benchmark_group("MultistatusWriter");
    group.throughput(Throughput::Elements(responses.len() as u64));
    group.bench_function("1,000 allprop responses", |b| {
        b.iter(|| {
            let mut writer = MultistatusWriter::new(&[]);
            let mut bytes = 0;
            for (i, (href, propstats)) in responses.iter().enumerate() {
                writer.prop_response(black_box(href), black_box(propstats));
                // As the executive streams it: hand the bytes on after each batch of members.
                if i % 64 == 63 {
                    bytes += writer.take().len();
                }
            }
            bytes + writer.finish().len()
        })
    });
    group.finish();
}

/// What a GET, a PUT and every listed member spend on identifiers: the fs entity tag's hex
/// fields, the `ResourceTag` and the `Repl-UID` of the document record.
fn identifiers(c: &mut Criterion) {
    let guid = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
    c.bench_function("push_hex u128, 32 digits", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(32);
            push_hex(&mut out, black_box(guid), 32);
            out
        })
    });
    c.bench_function("push_decimal version, 11 digits", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(11);
            push_decimal(&mut out, black_box(1_234_567), 11);
            out
        })
    });
    let tag = ResourceTag { guid, version: 42 };
    c.bench_function("ResourceTag::encode", |b| {
        b.iter(|| black_box(&tag).encode())
    });
    c.bench_function("repl_uid", |b| b.iter(|| repl_uid(black_box(guid))));
}

/// Every request's path: plain ASCII (taken as it is) and one with escapes (decoded and
/// checked for NFC segment by segment).
fn paths(c: &mut Criterion) {
    c.bench_function("parse_url_path plain (/projects/2026/file-4k.bin)", |b| {
        b.iter(|| DavPath::parse_url_path(black_box("/projects/2026/file-4k.bin")))
    });
    c.bench_function(
        "parse_url_path escaped (/Caf%C3%A9/r%C3%A9sum%C3%A9.docx)",
        |b| b.iter(|| DavPath::parse_url_path(black_box("/Caf%C3%A9/r%C3%A9sum%C3%A9.docx"))),
    );
}

criterion_group!(
    benches,
    request_head,
    user_agents,
    if_header,
    xml_bodies,
    multistatus,
    identifiers,
    paths
);
criterion_main!(benches);
