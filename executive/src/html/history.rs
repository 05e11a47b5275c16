//! What the browser page offers about history (issue 22, docs/history.md): on a live folder
//! whose mount keeps history, links to its earlier versions and to the trash; on a page of
//! versions, a Restore button on each version (a COPY onto the live file); inside the trash, a
//! Restore button on each item (a MOVE back to where it was deleted from).

use std::fmt::Write;

use davd_protocol::DavPath;
use davd_registry::{Registry, Shelf};

use super::{attr, escape};
use crate::history::stamped_at;

/// The page's part in the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PageHistory {
    /// Nothing to offer.
    #[default]
    None,
    /// A live folder whose mount keeps history: where its versions and the trash are browsed.
    Live { versions: DavPath, trash: DavPath },
    /// A folder of versions of `target`: each restores onto it.
    Versions { target: DavPath },
    /// Inside a trash entry: each member restores to `base` followed by its name.
    Trash { base: DavPath },
}

impl PageHistory {
    /// The history part of the page of the collection `path`, served by the namespace mounted
    /// at `scope`.
    pub fn of(registry: &Registry, path: &DavPath, scope: &DavPath) -> PageHistory {
        if let Some(mount) = registry.history_mount(path) {
            let Some(inside) = path.relative_to(&mount.view) else {
                return PageHistory::None;
            };
            let segments: Vec<&str> = inside.segments().collect();
            let rest = match mount.shelf {
                Shelf::Versions => &segments[..],
                // Below the trash's root comes the time of the removal, then its path.
                Shelf::Trash if segments.is_empty() => return PageHistory::None,
                Shelf::Trash => &segments[1..],
            };
            let Some(live) = rest
                .iter()
                .try_fold(mount.live.clone(), |path, segment| path.join(segment).ok())
            else {
                return PageHistory::None;
            };
            return match mount.shelf {
                Shelf::Versions if !rest.is_empty() => PageHistory::Versions { target: live },
                Shelf::Versions => PageHistory::None,
                Shelf::Trash => PageHistory::Trash { base: live },
            };
        }
        let (Some(versions), Some(trash)) = (
            registry.history_view_of(scope, Shelf::Versions),
            registry.history_view_of(scope, Shelf::Trash),
        ) else {
            return PageHistory::None;
        };
        let below = path.relative_to(scope).unwrap_or_else(DavPath::root);
        let versions = below
            .segments()
            .try_fold(versions.clone(), |path, segment| path.join(segment).ok());
        match versions {
            Some(versions) => PageHistory::Live {
                versions,
                trash: trash.clone(),
            },
            None => PageHistory::None,
        }
    }

    /// The attributes of `<main>` that tell the script how to restore.
    pub fn main_attributes(&self) -> String {
        match self {
            PageHistory::Versions { target } => format!(
                " data-restore=\"copy\" data-restore-to=\"{}\"",
                attr(&target.to_href(false))
            ),
            PageHistory::Trash { base } => format!(
                " data-restore=\"move\" data-restore-base=\"{}\"",
                attr(&base.to_href(true))
            ),
            _ => String::new(),
        }
    }

    /// The line under the heading: links on a live folder, what the page is in a view.
    pub fn banner(&self, html: &mut String) {
        match self {
            PageHistory::None => {}
            PageHistory::Live { versions, trash } => {
                let _ = writeln!(
                    html,
                    "<p class=\"history-links\"><a href=\"{}\">Earlier versions</a> \u{b7} \
                     <a href=\"{}\">Recently deleted</a></p>",
                    attr(&versions.to_href(true)),
                    attr(&trash.to_href(true)),
                );
            }
            PageHistory::Versions { target } => {
                let _ = writeln!(
                    html,
                    "<p class=\"history-note\">Earlier versions of <a href=\"{}\">{}</a>, named \
                     after the time (UTC) they were replaced. Restore puts one back; what it \
                     replaces is kept as a version too.</p>",
                    attr(&target.to_href(false)),
                    escape(target.as_str()),
                );
            }
            PageHistory::Trash { base } => {
                let _ = writeln!(
                    html,
                    "<p class=\"history-note\">Deleted from <a href=\"{}\">{}</a>. Restore puts \
                     an item back where it was; Delete removes it for good.</p>",
                    attr(&base.to_href(true)),
                    escape(base.as_str()),
                );
            }
        }
    }

    /// Whether the page offers its usual changes (upload, new folder, rename): not in a view.
    pub fn allows_changes(&self) -> bool {
        matches!(self, PageHistory::None | PageHistory::Live { .. })
    }

    /// The actions of the row of `name` (a folder if `folder`).
    pub fn row_actions(&self, name: &str, folder: bool) -> RowActions {
        match self {
            PageHistory::None | PageHistory::Live { .. } => RowActions::Change,
            PageHistory::Versions { .. } if !folder && stamped_at(name).is_some() => {
                RowActions::Restore { delete: false }
            }
            PageHistory::Versions { .. } => RowActions::Nothing,
            PageHistory::Trash { .. } => RowActions::Restore { delete: true },
        }
    }
}

/// The buttons of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowActions {
    /// Rename and delete.
    Change,
    /// Restore, and delete if `delete`.
    Restore {
        delete: bool,
    },
    Nothing,
}
