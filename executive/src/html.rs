//! The HTML index a GET of a collection returns.

use std::fmt::Write;

use davd_protocol::DavPath;
use davd_protocol::xml::{escape_attr, escape_text};

use crate::walk::Listed;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_text(text, &mut out);
    out.replace('"', "&quot;").replace('\'', "&#39;")
}

fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_attr(text, &mut out);
    out.replace('\'', "&#39;")
}

/// A plain listing: every name escaped, every link percent-encoded, folders first.
pub fn index_page(path: &DavPath, mut members: Vec<Listed>) -> String {
    members.sort_by(|a, b| {
        b.meta
            .collection
            .cmp(&a.meta.collection)
            .then_with(|| a.path.name().cmp(&b.path.name()))
    });
    let title = escape(path.as_str());
    let mut html = String::with_capacity(1024 + members.len() * 128);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if let Some(parent) = path.parent() {
        let _ = writeln!(
            html,
            "<li><a href=\"{}\">../</a></li>",
            attr(&parent.to_href(true))
        );
    }
    for member in &members {
        let name = member.path.name().unwrap_or("");
        let slash = if member.meta.collection { "/" } else { "" };
        let _ = writeln!(
            html,
            "<li><a href=\"{}\">{}{slash}</a></li>",
            attr(&member.path.to_href(member.meta.collection)),
            escape(name)
        );
    }
    html.push_str("</ul>\n</body></html>\n");
    html
}
