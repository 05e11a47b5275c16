//! The page a browser without script gets after posting the upload form: what happened to
//! each file, and the way back to the folder.

use std::fmt::Write;

use http::StatusCode;

use davd_protocol::DavPath;

use super::layout::{close, crumbs, open};
use super::{attr, escape};

/// What happened to one uploaded file.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub name: String,
    pub status: StatusCode,
    pub message: String,
}

pub fn upload_page(collection: &DavPath, results: &[Uploaded], nonce: &str) -> String {
    let failed = results.iter().filter(|r| !r.status.is_success()).count();
    let heading = match (results.len(), failed) {
        (0, _) => "No file was uploaded",
        (_, 0) => "Upload finished",
        (n, f) if n == f => "Upload failed",
        _ => "Some files were not uploaded",
    };
    let mut html = String::with_capacity(16 * 1024 + results.len() * 256);
    open(&mut html, heading, nonce, collection);
    crumbs(&mut html, collection, true);
    let _ = writeln!(
        html,
        "<main class=\"narrow\"><div class=\"head\"><div class=\"title\"><h1>{heading}</h1></div></div>"
    );
    if results.is_empty() {
        html.push_str("<p class=\"empty\">The form arrived without a file. Choose one or more files and try again.</p>\n");
    } else {
        html.push_str("<ul class=\"results\">\n");
        for r in results {
            let (class, label) = if r.status.is_success() {
                ("ok", "Uploaded")
            } else {
                ("fail", "Failed")
            };
            let _ = writeln!(
                html,
                "<li class=\"{class}\"><span class=\"badge\">{label}</span>\
                 <span class=\"name\">{}</span><span class=\"why\">{} ({} {})</span></li>",
                escape(&r.name),
                escape(&r.message),
                r.status.as_u16(),
                r.status.canonical_reason().unwrap_or(""),
            );
        }
        html.push_str("</ul>\n");
    }
    let _ = writeln!(
        html,
        "<p><a class=\"button primary\" href=\"{}\">Back to {}</a></p></main>",
        attr(&collection.to_href(true)),
        escape(collection.name().unwrap_or("Home")),
    );
    close(&mut html, nonce, None);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_are_escaped() {
        let page = upload_page(
            &DavPath::root(),
            &[
                Uploaded {
                    name: "<b>.txt".into(),
                    status: StatusCode::CREATED,
                    message: "created".into(),
                },
                Uploaded {
                    name: "x".into(),
                    status: StatusCode::LOCKED,
                    message: "<locked>".into(),
                },
            ],
            "n",
        );
        assert!(page.contains("Some files were not uploaded"));
        assert!(page.contains("&lt;b&gt;.txt"));
        assert!(page.contains("&lt;locked&gt; (423 Locked)"));
        assert!(page.contains("href=\"/\">Back to Home</a>"));
    }
}
