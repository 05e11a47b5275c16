//! What every browser page shares: head, styles, icons, breadcrumb, and the headers it is
//! served with.

use std::fmt::Write;

use bytes::Bytes;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use http::header::{REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};

use davd_protocol::{Body, DavPath, Response};

use super::{attr, escape};

const CSS: &str = include_str!("page.css");

/// A folder in the site's blue: the tab icon, inline so the page needs nothing else.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Cpath d='M2 6.5A2.5 2.5 0 0 1 4.5 4h4.2l2.3 2.3h8.5A2.5 2.5 0 0 1 22 8.8v8.7a2.5 2.5 0 0 1-2.5 2.5h-15A2.5 2.5 0 0 1 2 17.5z' fill='%232563eb'/%3E%3C/svg%3E";

/// Stroked 24x24 icons, referenced with `<use href="#i-NAME">` so each is written once.
const ICONS: &str = concat!(
    "<svg class=\"sprite\" xmlns=\"http://www.w3.org/2000/svg\" aria-hidden=\"true\">",
    "<symbol id=\"i-folder\" viewBox=\"0 0 24 24\"><path d=\"M2.5 7A2.5 2.5 0 0 1 5 4.5h3.8l2.2 2.2h8A2.5 2.5 0 0 1 21.5 9.2V17a2.5 2.5 0 0 1-2.5 2.5H5A2.5 2.5 0 0 1 2.5 17z\"/></symbol>",
    "<symbol id=\"i-file\" viewBox=\"0 0 24 24\"><path d=\"M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z\"/><path d=\"M14 3v5h5\"/></symbol>",
    "<symbol id=\"i-upload\" viewBox=\"0 0 24 24\"><path d=\"M12 15V4M7.5 8.5 12 4l4.5 4.5\"/><path d=\"M4 15v3.5A2.5 2.5 0 0 0 6.5 21h11a2.5 2.5 0 0 0 2.5-2.5V15\"/></symbol>",
    "<symbol id=\"i-rename\" viewBox=\"0 0 24 24\"><path d=\"M4 20h4L19 9l-4-4L4 16z\"/><path d=\"m13 7 4 4\"/></symbol>",
    "<symbol id=\"i-trash\" viewBox=\"0 0 24 24\"><path d=\"M4 7h16M10 11v6M14 11v6\"/><path d=\"m6 7 1 12.5A1.5 1.5 0 0 0 8.5 21h7a1.5 1.5 0 0 0 1.5-1.5L18 7M9 7V4h6v3\"/></symbol>",
    "<symbol id=\"i-new-folder\" viewBox=\"0 0 24 24\"><path d=\"M2.5 7A2.5 2.5 0 0 1 5 4.5h3.8l2.2 2.2h8A2.5 2.5 0 0 1 21.5 9.2V17a2.5 2.5 0 0 1-2.5 2.5H5A2.5 2.5 0 0 1 2.5 17z\"/><path d=\"M12 10v6M9 13h6\"/></symbol>",
    "<symbol id=\"i-restore\" viewBox=\"0 0 24 24\"><path d=\"M4.5 12a7.5 7.5 0 1 0 2.2-5.3L4 9.5\"/><path d=\"M4 4.5v5h5\"/></symbol>",
    "<symbol id=\"i-info\" viewBox=\"0 0 24 24\"><circle cx=\"12\" cy=\"12\" r=\"9\"/><path d=\"M12 11v5.5M12 7.5v.01\"/></symbol>",
    "<symbol id=\"i-lock\" viewBox=\"0 0 24 24\"><rect x=\"5\" y=\"10.5\" width=\"14\" height=\"10\" rx=\"2\"/><path d=\"M8 10.5V7.5a4 4 0 0 1 8 0v3\"/></symbol>",
    "<symbol id=\"i-up\" viewBox=\"0 0 24 24\"><path d=\"M12 19V5M6 11l6-6 6 6\"/></symbol>",
    "<symbol id=\"i-home\" viewBox=\"0 0 24 24\"><path d=\"M3 11 12 4l9 7\"/><path d=\"M5 9.5V20h5v-6h4v6h5V9.5\"/></symbol>",
    "</svg>\n"
);

/// A fresh nonce for one page: the only inline style and script the page may run.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `<!DOCTYPE html>` up to and including the opening `<body>` and the icon sprite.
pub fn open(html: &mut String, title: &str, nonce: &str, collection: &DavPath) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{} \u{2014} davd</title><link rel=\"icon\" href=\"{FAVICON}\">\
         <style nonce=\"{nonce}\">{CSS}</style></head>\n\
         <body data-collection=\"{}\">\n{ICONS}",
        escape(title),
        attr(&collection.to_href(true)),
    );
}

/// The top bar: the path from the root, each ancestor a link.
pub fn crumbs(html: &mut String, path: &DavPath, current_is_link: bool) {
    html.push_str("<header class=\"top\"><nav class=\"crumbs\" aria-label=\"Folder path\"><ol>");
    let ancestors = path.ancestors_and_self();
    let last = ancestors.len().saturating_sub(1);
    for (i, ancestor) in ancestors.iter().enumerate() {
        let label = match ancestor.name() {
            Some(name) => escape(name),
            None => "<svg class=\"icon\"><use href=\"#i-home\"/></svg><span>Home</span>".into(),
        };
        if i == last && !current_is_link {
            let _ = write!(html, "<li><span aria-current=\"page\">{label}</span></li>");
        } else {
            let _ = write!(
                html,
                "<li><a href=\"{}\">{label}</a></li>",
                attr(&ancestor.to_href(true))
            );
        }
    }
    html.push_str("</ol></nav></header>\n");
}

/// Closes the page, with the page's script when it has one.
pub fn close(html: &mut String, nonce: &str, script: Option<&str>) {
    if let Some(script) = script {
        let _ = writeln!(html, "<script nonce=\"{nonce}\">{script}</script>");
    }
    html.push_str("</body></html>\n");
}

/// A browser page with headers that keep it safe and fresh.
///
/// The content security policy allows only the page's own nonce-tagged style and script, so
/// even a name that escaped escaping could not run. `no-store`: the page shows sizes and
/// dates of members, which the collection's validators do not cover.
pub fn page_response(status: StatusCode, page: String, nonce: &str, head: bool) -> Response {
    let mut response = Response::new(status);
    response.set_header(CONTENT_TYPE, "text/html; charset=utf-8");
    response.set_header(CONTENT_LENGTH, page.len().to_string());
    response.set_header(CACHE_CONTROL, "no-store");
    response.set_header(X_CONTENT_TYPE_OPTIONS, "nosniff");
    response.set_header(REFERRER_POLICY, "same-origin");
    response.set_header(
        CONTENT_SECURITY_POLICY,
        format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
             img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'"
        ),
    );
    if !head {
        response.body = Body::Full(Bytes::from(page));
    }
    response
}
