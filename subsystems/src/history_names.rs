//! The name a resource gets on a history shelf when the executive's choice is taken: two
//! versions of one path kept within the same second. Shared by every store's history area.

use davd_registry::DavPath;

/// The collections above `at` on a shelf, outermost first, the shelf's root left out: what
/// filing something at `at` creates where missing.
pub fn collections_above(at: &DavPath) -> Vec<DavPath> {
    let mut above = Vec::new();
    let mut next = at.parent();
    while let Some(collection) = next.filter(|c| !c.is_root()) {
        next = collection.parent();
        above.push(collection);
    }
    above.reverse();
    above
}

/// `name` with `~n` before its extension: `a.docx` -> `a~2.docx`.
pub fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{n}.{ext}"),
        _ => format!("{name}~{n}"),
    }
}

/// `name`, if no sibling has it, else `name` numbered past every number in use among
/// `siblings` (not the first free one: pruning frees the oldest, and a reused number would
/// sort among them).
pub fn free_name<'a>(name: &str, siblings: impl IntoIterator<Item = &'a str>) -> String {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    let mut highest: Option<u32> = None;
    for other in siblings {
        let n = if other == name {
            Some(1)
        } else {
            other
                .strip_prefix(stem)
                .and_then(|r| r.strip_prefix('~'))
                .and_then(|rest| match ext {
                    Some(ext) => rest.strip_suffix(ext).and_then(|r| r.strip_suffix('.')),
                    None => Some(rest),
                })
                .and_then(|n| n.parse::<u32>().ok())
        };
        if let Some(n) = n {
            highest = Some(highest.map_or(n, |h| h.max(n)));
        }
    }
    match highest {
        None => name.to_owned(),
        Some(n) => numbered(name, n.saturating_add(1)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_counter_goes_before_the_extension() {
        assert_eq!(
            numbered("2026-12-04T10-15-03Z.docx", 2),
            "2026-12-04T10-15-03Z~2.docx"
        );
        assert_eq!(numbered("notes", 3), "notes~3");
        assert_eq!(numbered(".hidden", 2), ".hidden~2");
    }

    #[test]
    fn the_collections_above_come_outermost_first() {
        let at = DavPath::parse_url_path("/a/b/c.txt").unwrap().0;
        let above: Vec<String> = collections_above(&at)
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        assert_eq!(above, ["/a", "/a/b"]);
        assert!(collections_above(&DavPath::parse_url_path("/c.txt").unwrap().0).is_empty());
    }

    #[test]
    fn a_taken_name_gets_the_next_number_past_all_in_use() {
        let name = "2026-12-04T10-15-03Z.docx";
        assert_eq!(free_name(name, ["other.docx"]), name);
        assert_eq!(free_name(name, [name]), "2026-12-04T10-15-03Z~2.docx");
        // The first was pruned, the third is there: the next is the fourth.
        let taken = ["2026-12-04T10-15-03Z~3.docx", "2026-12-04T10-15-03Z~2.docx"];
        assert_eq!(free_name(name, taken), "2026-12-04T10-15-03Z~4.docx");
        assert_eq!(free_name("x", ["x", "x~9"]), "x~10");
    }
}
