//! The HTML a GET of a collection returns: a plain index for programs, and for browsers
//! (`Accept: text/html`) a page to browse, upload, rename and delete with, and a details
//! panel that shows and changes an item's properties and locks, and copies and moves it.
//!
//! Every name reaches the page only through [`escape`] or [`attr`]; the page's script is a
//! static file that reads names from the DOM, never from generated code, so no name is ever
//! written into a script context.

mod format;
mod history;
mod layout;
mod page;
mod upload;

use std::fmt::Write;

use davd_protocol::DavPath;
use davd_protocol::xml::{escape_attr, escape_text};

use crate::error::{DavError, DavResult};
use crate::walk::Listed;

pub use history::PageHistory;
pub use layout::{nonce, page_response};
pub use page::browser_page;
pub use upload::{Uploaded, upload_page};

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

/// Folders first, then by name.
fn sort_members(members: &mut [Listed]) {
    members.sort_by(|a, b| {
        b.meta
            .collection
            .cmp(&a.meta.collection)
            .then_with(|| a.path.name().cmp(&b.path.name()))
    });
}

/// Members above which a page is rendered on the blocking pool. Rendering costs about a
/// microsecond per member; on a connection thread (ADR 0016) a page of 100,000 members held up
/// the thread's other connections for 145 ms (the index) and 276 ms (the browser page).
pub const RENDER_INLINE_MEMBERS: usize = 1_000;

/// Renders the page of `members` with `render`: here when they are few, on the blocking pool
/// when they are many.
pub async fn render_page<F>(members: Vec<Listed>, render: F) -> DavResult<String>
where
    F: FnOnce(Vec<Listed>) -> String + Send + 'static,
{
    if members.len() <= RENDER_INLINE_MEMBERS {
        return Ok(render(members));
    }
    tokio::task::spawn_blocking(move || render(members))
        .await
        .map_err(|e| DavError::internal(format!("rendering the listing failed: {e}")))
}

/// A plain listing: every name escaped, every link percent-encoded, folders first.
pub fn index_page(path: &DavPath, mut members: Vec<Listed>) -> String {
    sort_members(&mut members);
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

#[cfg(test)]
mod tests {
    use super::page::tests::listed;
    use super::*;

    fn listing(count: usize) -> Vec<Listed> {
        (0..count)
            .map(|i| listed(&format!("/d/f{i}"), false, 1))
            .collect()
    }

    /// Runs `render_page` on a single-threaded runtime, like a connection thread's, and says
    /// whether the page was rendered on that thread.
    fn rendered_here(count: usize) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let here = std::thread::current().id();
        runtime.block_on(async {
            let page = render_page(listing(count), move |members| {
                assert_eq!(members.len(), count);
                format!("{:?}", std::thread::current().id())
            })
            .await
            .unwrap();
            page == format!("{here:?}")
        })
    }

    #[test]
    fn a_long_listing_is_rendered_off_the_connection_thread() {
        assert!(rendered_here(RENDER_INLINE_MEMBERS));
        assert!(!rendered_here(RENDER_INLINE_MEMBERS + 1));
    }

    #[test]
    fn inlined_assets_cannot_close_their_element() {
        for asset in [include_str!("page.css"), page::SCRIPT] {
            let lower = asset.to_ascii_lowercase();
            for end in ["</script", "</style", "<!--"] {
                assert!(!lower.contains(end), "an inlined asset contains {end}");
            }
        }
    }
}
