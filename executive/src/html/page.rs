//! The directory page a browser gets: the listing as a table, with forms to upload, create a
//! folder, rename and delete, and a details panel per item. The table is complete without the
//! script; the script (`page.js`) adds sorting, progress, drag and drop and the WebDAV actions,
//! and `details.js` the panel (properties, locks, copy and move).

use std::fmt::Write;

use davd_protocol::DavPath;

use super::format::{display_time, epoch_seconds, human_size, iso_time, kind_label};
use super::history::{PageHistory, RowActions};
use super::layout::{close, crumbs, open};
use super::{attr, escape, sort_members};
use crate::walk::Listed;

/// The page's one script: `page.js`, then `details.js`, which uses what `page.js` hands it.
/// One element, so that the page keeps a single nonce-tagged script.
pub(super) const SCRIPT: &str = concat!(include_str!("page.js"), include_str!("details.js"));

/// The browser page for the collection at `path`, with what it offers about `history`.
pub fn browser_page(
    path: &DavPath,
    mut members: Vec<Listed>,
    nonce: &str,
    history: &PageHistory,
) -> String {
    sort_members(&mut members);
    let title = path.name().unwrap_or("Home");
    let mut html = String::with_capacity(24 * 1024 + members.len() * 900);
    open(&mut html, title, nonce, path);
    crumbs(&mut html, path, false);
    let _ = writeln!(html, "<main{}>", history.main_attributes());
    heading(&mut html, path, title, history.allows_changes());
    history.banner(&mut html);
    if history.allows_changes() {
        upload_form(&mut html, path);
    }
    html.push_str(
        "<div id=\"message\" class=\"message\" role=\"alert\" hidden>\
         <span id=\"message-text\"></span>\
         <button type=\"button\" id=\"message-close\" class=\"close\" aria-label=\"Dismiss\">\u{d7}</button></div>\n",
    );
    table(&mut html, &members, history);
    footer(&mut html, &members);
    html.push_str("</main>\n");
    dialog(&mut html);
    if history.allows_changes() {
        details_panel(&mut html);
    }
    close(&mut html, nonce, Some(SCRIPT));
    html
}

fn heading(html: &mut String, path: &DavPath, title: &str, changes: bool) {
    html.push_str("<div class=\"head\"><div class=\"title\">");
    if let Some(parent) = path.parent() {
        let _ = write!(
            html,
            "<a class=\"button ghost square\" href=\"{}\" title=\"Parent folder\" \
             aria-label=\"Parent folder\"><svg class=\"icon\"><use href=\"#i-up\"/></svg></a>",
            attr(&parent.to_href(true))
        );
    }
    let _ = write!(html, "<h1>{}</h1></div>", escape(title));
    if !changes {
        html.push_str("</div>\n");
        return;
    }
    html.push_str(
        "<form id=\"mkcol\" class=\"mkcol needs-js\" autocomplete=\"off\">\
         <input id=\"mkcol-name\" name=\"name\" placeholder=\"New folder name\" \
         aria-label=\"New folder name\" required maxlength=\"255\">\
         <button class=\"button\" type=\"submit\"><svg class=\"icon\"><use href=\"#i-new-folder\"/></svg>\
         <span>Create folder</span></button></form></div>\n",
    );
}

fn upload_form(html: &mut String, path: &DavPath) {
    let _ = writeln!(
        html,
        "<form id=\"upload\" class=\"drop\" method=\"post\" action=\"{}\" enctype=\"multipart/form-data\">\
         <svg class=\"icon big\"><use href=\"#i-upload\"/></svg>\
         <div class=\"drop-text\"><label class=\"button primary\" for=\"files\">Choose files</label>\
         <span class=\"hint\"><span class=\"needs-js\">or drop them anywhere on this page</span>\
         <span class=\"no-js\">then press Upload</span></span></div>\
         <input id=\"files\" class=\"files\" type=\"file\" name=\"files\" multiple>\
         <button class=\"button no-js\" type=\"submit\">Upload</button>\
         <div id=\"progress\" class=\"progress\" hidden>\
         <progress id=\"progress-bar\" max=\"100\" value=\"0\"></progress>\
         <span id=\"progress-text\" class=\"progress-text\"></span></div></form>",
        attr(&path.to_href(true))
    );
}

fn table(html: &mut String, members: &[Listed], history: &PageHistory) {
    html.push_str(
        "<div class=\"table-wrap\"><table id=\"listing\" class=\"listing\"><thead><tr>\
         <th class=\"c-name\" data-key=\"name\" aria-sort=\"ascending\"><button type=\"button\" class=\"sort\">Name</button></th>\
         <th class=\"c-size\" data-key=\"size\"><button type=\"button\" class=\"sort\">Size</button></th>\
         <th class=\"c-modified\" data-key=\"modified\"><button type=\"button\" class=\"sort\">Modified</button></th>\
         <th class=\"c-type\" data-key=\"type\"><button type=\"button\" class=\"sort\">Type</button></th>\
         <th class=\"c-actions\"><span class=\"sr\">Actions</span></th></tr></thead>\n<tbody>\n",
    );
    for member in members {
        let name = member.path.name().unwrap_or("");
        row(
            html,
            member,
            history.row_actions(name, member.meta.collection),
        );
    }
    html.push_str("</tbody></table></div>\n");
    let _ = writeln!(
        html,
        "<p id=\"empty\" class=\"empty\"{}>This folder is empty. Upload files or create a folder.</p>",
        if members.is_empty() { "" } else { " hidden" }
    );
}

/// The buttons of a row with `actions`, for the item `name_attr` (already an attribute).
fn action_buttons(actions: RowActions, name_attr: &str) -> String {
    let rename = format!(
        "<button type=\"button\" class=\"icon-button\" data-action=\"rename\" title=\"Rename\" \
         aria-label=\"Rename {name_attr}\"><svg class=\"icon\"><use href=\"#i-rename\"/></svg></button>"
    );
    let restore = format!(
        "<button type=\"button\" class=\"icon-button\" data-action=\"restore\" title=\"Restore\" \
         aria-label=\"Restore {name_attr}\"><svg class=\"icon\"><use href=\"#i-restore\"/></svg></button>"
    );
    let details = format!(
        "<button type=\"button\" class=\"icon-button\" data-action=\"details\" title=\"Details\" \
         aria-label=\"Details of {name_attr}\" aria-haspopup=\"dialog\"><svg class=\"icon\"><use href=\"#i-info\"/></svg></button>"
    );
    let delete = format!(
        "<button type=\"button\" class=\"icon-button danger\" data-action=\"delete\" title=\"Delete\" \
         aria-label=\"Delete {name_attr}\"><svg class=\"icon\"><use href=\"#i-trash\"/></svg></button>"
    );
    match actions {
        RowActions::Change => details + &rename + &delete,
        RowActions::Restore { delete: true } => restore + &delete,
        RowActions::Restore { delete: false } => restore,
        RowActions::Nothing => String::new(),
    }
}

fn row(html: &mut String, member: &Listed, actions: RowActions) {
    let name = member.path.name().unwrap_or("");
    let folder = member.meta.collection;
    let href = attr(&member.path.to_href(folder));
    let (kind, icon, size, label, media) = if folder {
        let dash = "\u{2014}".to_owned();
        (
            "folder",
            "i-folder",
            dash,
            "Folder".to_owned(),
            "folder".into(),
        )
    } else {
        let media = member.meta.media_type(name).into_owned();
        let label = kind_label(name, &media);
        ("file", "i-file", human_size(member.meta.len), label, media)
    };
    let name_attr = attr(name);
    let _ = writeln!(
        html,
        "<tr data-name=\"{name_attr}\" data-kind=\"{kind}\" data-size=\"{}\" data-modified=\"{}\" \
         data-type=\"{}\" data-href=\"{href}\">\
         <td class=\"c-name\"><a href=\"{href}\"><svg class=\"icon {kind}\"><use href=\"#{icon}\"/></svg>\
         <span class=\"name\">{}</span></a></td>\
         <td class=\"c-size\">{size}</td>\
         <td class=\"c-modified\"><time datetime=\"{}\">{}</time></td>\
         <td class=\"c-type\" title=\"{}\">{}</td>\
         <td class=\"c-actions\"><span class=\"actions needs-js\">{}</span></td></tr>",
        if folder { 0 } else { member.meta.len },
        epoch_seconds(member.meta.modified),
        attr(&label),
        escape(name),
        iso_time(member.meta.modified),
        display_time(member.meta.modified),
        attr(&media),
        escape(&label),
        action_buttons(actions, &name_attr),
    );
}

fn footer(html: &mut String, members: &[Listed]) {
    let folders = members.iter().filter(|m| m.meta.collection).count();
    let files = members.len() - folders;
    let bytes: u64 = members
        .iter()
        .filter(|m| !m.meta.collection)
        .map(|m| m.meta.len)
        .fold(0, u64::saturating_add);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        html,
        "<footer class=\"foot\"><span id=\"summary\">{} \u{b7} {} \u{b7} {}</span>\
         <span class=\"dav needs-js\">WebDAV address <code id=\"dav-url\"></code></span></footer>",
        plural(folders, "folder", "folders"),
        plural(files, "file", "files"),
        human_size(bytes),
    );
}

/// One dialog serves rename, delete and confirmations; the script fills it in.
fn dialog(html: &mut String) {
    html.push_str(
        "<dialog id=\"dialog\" class=\"dialog\" aria-labelledby=\"dialog-title\">\
         <form method=\"dialog\" id=\"dialog-form\">\
         <h2 id=\"dialog-title\"></h2><p id=\"dialog-text\"></p>\
         <input id=\"dialog-input\" aria-labelledby=\"dialog-title\" autocomplete=\"off\" spellcheck=\"false\">\
         <div class=\"dialog-buttons\">\
         <button type=\"button\" id=\"dialog-cancel\" class=\"button ghost\">Cancel</button>\
         <button type=\"submit\" id=\"dialog-ok\" class=\"button primary\">OK</button></div>\
         </form></dialog>\n",
    );
}

/// The details panel: a dialog the script fills in from a PROPFIND of one item, with forms for
/// PROPPATCH, LOCK and UNLOCK, COPY and MOVE, and the requests it sent. It holds no name:
/// the script writes those with `textContent`.
fn details_panel(html: &mut String) {
    html.push_str(
        "<dialog id=\"details\" class=\"details\" aria-labelledby=\"details-title\">\
         <div class=\"details-head\"><h2 id=\"details-title\">Details</h2>\
         <button type=\"button\" id=\"details-close\" class=\"close\" aria-label=\"Close details\">\u{d7}</button></div>\
         <p class=\"details-where\"><code id=\"details-path\"></code></p>\
         <div id=\"details-message\" class=\"message\" role=\"status\" hidden><span id=\"details-message-text\"></span></div>\n\
         <section class=\"part\" aria-labelledby=\"details-live-title\">\
         <h3 id=\"details-live-title\">Live properties <span class=\"method\">PROPFIND</span></h3>\
         <dl id=\"details-live\" class=\"facts\"></dl>\
         <details class=\"more\"><summary>More that the server computes</summary>\
         <dl id=\"details-computed\" class=\"facts small\"></dl></details></section>\n\
         <section class=\"part\" aria-labelledby=\"details-lock-title\">\
         <h3 id=\"details-lock-title\">Lock <span class=\"method\">LOCK \u{b7} UNLOCK</span></h3>\
         <ul id=\"details-locks\" class=\"locks\"></ul>\
         <p id=\"details-unlocked\" class=\"hint\" hidden>Not locked.</p>\
         <form id=\"lock-form\" class=\"fields\" autocomplete=\"off\">\
         <label class=\"field\"><span>Owner</span><input id=\"lock-owner\" maxlength=\"200\" value=\"browser\"></label>\
         <div class=\"buttons\"><button type=\"submit\" class=\"button\"><svg class=\"icon\"><use href=\"#i-lock\"/></svg><span>Lock</span></button></div></form>\
         <p id=\"lock-hint\" class=\"hint\"></p></section>\n\
         <section class=\"part\" aria-labelledby=\"details-dead-title\">\
         <h3 id=\"details-dead-title\">Dead properties <span class=\"method\">PROPPATCH</span></h3>\
         <p class=\"hint\">Kept for clients and never interpreted by the server; PROPPATCH sets and removes them, all or nothing.</p>\
         <div class=\"props-wrap\"><table id=\"dead-props\" class=\"props\"><thead><tr>\
         <th>Namespace</th><th>Name</th><th>Value</th><th><span class=\"sr\">Actions</span></th></tr></thead><tbody></tbody></table></div>\
         <p id=\"dead-empty\" class=\"hint\" hidden>None yet.</p>\
         <form id=\"prop-form\" class=\"fields\" autocomplete=\"off\">\
         <label class=\"field\"><span>Namespace</span><input id=\"prop-ns\" value=\"urn:example:\" spellcheck=\"false\"></label>\
         <label class=\"field\"><span>Name</span><input id=\"prop-name\" spellcheck=\"false\" required maxlength=\"200\"></label>\
         <label class=\"field wide\"><span>Value</span><input id=\"prop-value\" spellcheck=\"false\"></label>\
         <label class=\"check wide\"><input type=\"checkbox\" id=\"prop-protected\"><span>Also set <code>DAV:getlastmodified</code> \
         in the same request: it is protected, so nothing changes (PROPPATCH is atomic)</span></label>\
         <div class=\"buttons wide\"><button type=\"submit\" class=\"button primary\">Set property</button></div></form>\
         <ul id=\"prop-results\" class=\"statuses\" aria-live=\"polite\" hidden></ul></section>\n\
         <section class=\"part\" aria-labelledby=\"details-copy-title\">\
         <h3 id=\"details-copy-title\">Copy or move <span class=\"method\">COPY \u{b7} MOVE</span></h3>\
         <form id=\"copy-form\" class=\"fields\" autocomplete=\"off\">\
         <label class=\"field wide\"><span>Destination</span><input id=\"copy-dest\" spellcheck=\"false\" required></label>\
         <label class=\"check wide\"><input type=\"checkbox\" id=\"copy-overwrite\"><span>Overwrite: replace what is at the destination</span></label>\
         <div class=\"buttons wide\"><button type=\"submit\" class=\"button\" data-method=\"COPY\">Copy</button>\
         <button type=\"submit\" class=\"button\" data-method=\"MOVE\">Move</button></div></form></section>\n\
         <section class=\"part\" aria-labelledby=\"details-wire-title\">\
         <h3 id=\"details-wire-title\">What the page sent</h3>\
         <p class=\"hint\">The panel's requests and the server's answers, newest first.</p>\
         <ol id=\"details-wire\" class=\"wire\"></ol></section>\
         </dialog>\n",
    );
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use davd_registry::ResourceMeta;
    use std::time::{Duration, UNIX_EPOCH};

    pub(in crate::html) fn listed(path: &str, collection: bool, len: u64) -> Listed {
        Listed {
            path: DavPath::parse_url_path(path).unwrap().0,
            meta: ResourceMeta {
                collection,
                len,
                modified: UNIX_EPOCH + Duration::from_secs(1_709_210_096),
                created: None,
                etag: "e".into(),
                content_type: None,
            },
        }
    }

    #[test]
    fn hostile_names_are_text_everywhere() {
        let dir = DavPath::parse_url_path("/d%22ir/").unwrap().0;
        let page = browser_page(
            &dir,
            vec![listed(
                "/d%22ir/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%22'.txt",
                false,
                1536,
            )],
            "n0nce",
            &PageHistory::None,
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;.txt"));
        assert!(page.contains("data-name=\"&lt;img src=x onerror=alert(1)>&quot;&#39;.txt\""));
        assert!(page.contains("<h1>d&quot;ir</h1>"), "{page}");
        assert!(page.contains("1.5 kB"));
        assert!(page.contains("2024-02-29 12:34 UTC"));
        assert!(page.contains("<script nonce=\"n0nce\">"));
        assert!(
            page.contains(
                "aria-label=\"Details of &lt;img src=x onerror=alert(1)>&quot;&#39;.txt\""
            )
        );
    }

    /// The page's markup, without the inlined script (which names the actions it handles).
    fn markup(page: &str) -> &str {
        &page[..page.find("<script").unwrap()]
    }

    #[test]
    fn every_item_of_a_live_folder_has_details() {
        let page = browser_page(
            &DavPath::root(),
            vec![listed("/a.txt", false, 3), listed("/z", true, 0)],
            "n",
            &PageHistory::None,
        );
        let html = markup(&page);
        assert_eq!(html.matches("data-action=\"details\"").count(), 2);
        assert!(html.contains("aria-label=\"Details of z\" aria-haspopup=\"dialog\""));
        // Details comes first in a row, before rename and delete.
        let row = &html[html.find("data-name=\"a.txt\"").unwrap()..];
        let details = row.find("data-action=\"details\"").unwrap();
        assert!(details < row.find("data-action=\"rename\"").unwrap());
        // One panel, filled in by the script: no name in it, and every part it needs.
        assert_eq!(html.matches("<dialog id=\"details\"").count(), 1);
        let panel = &html[html.find("<dialog id=\"details\"").unwrap()..];
        assert!(!panel.contains("a.txt"), "{panel}");
        for id in [
            "details-title",
            "details-message",
            "details-live",
            "details-locks",
            "lock-form",
            "lock-owner",
            "dead-props",
            "prop-form",
            "prop-protected",
            "prop-results",
            "copy-form",
            "copy-dest",
            "copy-overwrite",
            "details-wire",
        ] {
            assert!(
                panel.contains(&format!("id=\"{id}\"")),
                "no {id} in {panel}"
            );
        }
        assert!(panel.contains("data-method=\"COPY\""));
        assert!(panel.contains("data-method=\"MOVE\""));
        assert!(html.contains("<symbol id=\"i-info\""));
    }

    #[test]
    fn folders_first_and_counts() {
        let page = browser_page(
            &DavPath::root(),
            vec![listed("/a.txt", false, 3), listed("/z", true, 0)],
            "n",
            &PageHistory::None,
        );
        let z = page.find("data-name=\"z\"").unwrap();
        let a = page.find("data-name=\"a.txt\"").unwrap();
        assert!(z < a, "folders first");
        assert!(page.contains("1 folder \u{b7} 1 file \u{b7} 3 bytes"));
        assert!(!page.contains("Parent folder"), "the root has no parent");
        assert!(page.contains("<p id=\"empty\" class=\"empty\" hidden>"));
        assert!(page.contains("data-action=\"rename\""));
        assert!(!page.contains("data-action=\"restore\""));
    }

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn a_page_of_versions_restores_stamped_files_and_changes_nothing_else() {
        let history = PageHistory::Versions {
            target: p("/docs/report.docx"),
        };
        let page = browser_page(
            &p("/.history/docs/report.docx/"),
            vec![
                listed(
                    "/.history/docs/report.docx/2026-12-04T10-15-03Z.docx",
                    false,
                    3,
                ),
                listed("/.history/docs/report.docx/notes.txt", false, 3),
            ],
            "n",
            &history,
        );
        assert!(
            page.contains("<main data-restore=\"copy\" data-restore-to=\"/docs/report.docx\">")
        );
        assert_eq!(page.matches("data-action=\"restore\"").count(), 1);
        assert!(!page.contains("data-action=\"rename\""));
        assert!(!page.contains("data-action=\"delete\""));
        assert!(!page.contains("id=\"upload\""), "no uploads into a view");
        assert!(!page.contains("id=\"mkcol\""), "no new folders in a view");
        assert!(!markup(&page).contains("data-action=\"details\""));
        assert!(
            !page.contains("<dialog id=\"details\""),
            "no details panel in a view"
        );
        assert!(page.contains("Earlier versions of <a href=\"/docs/report.docx\">"));
    }

    #[test]
    fn the_trash_restores_and_deletes_every_item() {
        let history = PageHistory::Trash { base: p("/docs") };
        let page = browser_page(
            &p("/.history/.trash/2026-12-04T10-15-03Z/docs/"),
            vec![listed(
                "/.history/.trash/2026-12-04T10-15-03Z/docs/old",
                true,
                0,
            )],
            "n",
            &history,
        );
        assert!(page.contains("<main data-restore=\"move\" data-restore-base=\"/docs/\">"));
        assert!(page.contains("data-action=\"restore\""));
        assert!(page.contains("data-action=\"delete\""));
        assert!(!page.contains("data-action=\"rename\""));
        assert!(!markup(&page).contains("data-action=\"details\""));
        assert!(!page.contains("<dialog id=\"details\""));
    }

    #[test]
    fn a_live_folder_links_to_its_history() {
        let history = PageHistory::Live {
            versions: p("/.history/docs"),
            trash: p("/.history/.trash"),
        };
        let page = browser_page(&p("/docs/"), Vec::new(), "n", &history);
        assert!(page.contains("<a href=\"/.history/docs/\">Earlier versions</a>"));
        assert!(page.contains("<a href=\"/.history/.trash/\">Recently deleted</a>"));
        assert!(page.contains("id=\"upload\""));
    }
}
