//! A mount's `history = { keep = "30d", max_versions = 50, view = "/.history" }` and the
//! `--keep-history` flag (issue 22, docs/history.md).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use davd_protocol::DavPath;
use davd_registry::Retention;

/// The table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    keep: Option<Spanned<String>>,
    max_versions: Option<Spanned<usize>>,
    view: Option<Spanned<String>>,
}

/// A mount's history, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    pub retention: Retention,
    /// Where the versions are browsed; `None`: `/.history` followed by the mount's scope. The
    /// trash is browsed at `.trash` below it.
    pub view: Option<DavPath>,
}

impl HistoryConfig {
    /// The default retention, for `--keep-history` with the time it gives.
    pub fn keeping(keep: Duration) -> HistoryConfig {
        HistoryConfig {
            retention: Retention {
                keep,
                ..Retention::default()
            },
            view: None,
        }
    }

    /// Where the versions of the mount at `scope` are browsed.
    pub fn view_of(&self, scope: &DavPath) -> DavPath {
        self.view.clone().unwrap_or_else(|| {
            let mut view = DavPath::root()
                .join(".history")
                .unwrap_or_else(|_| DavPath::root());
            for segment in scope.segments() {
                view = view.join(segment).unwrap_or(view);
            }
            view
        })
    }
}

use crate::config::Problem;

/// Checks a mount's `history` table. `own_namespace`: the mount names a namespace (history is
/// kept by a store, so a mount that inherits its namespace has none to keep it in).
pub(crate) fn check(
    raw: Spanned<RawHistory>,
    own_namespace: bool,
) -> Result<HistoryConfig, Vec<Problem>> {
    let span = raw.span();
    let raw = raw.into_inner();
    let mut problems = Vec::new();
    if !own_namespace {
        problems.push((
            Some(span.clone()),
            "history is kept by the mount's own namespace, and this mount names none".to_owned(),
        ));
    }
    let mut retention = Retention::default();
    if let Some(keep) = raw.keep {
        match parse_duration(keep.get_ref()) {
            Ok(d) => retention.keep = d,
            Err(e) => problems.push((Some(keep.span()), e)),
        }
    }
    if let Some(max) = raw.max_versions {
        if *max.get_ref() == 0 {
            problems.push((
                Some(max.span()),
                "max_versions must be at least 1 (leave history out to keep none)".to_owned(),
            ));
        }
        retention.max_versions = *max.get_ref();
    }
    let view = match raw.view {
        None => None,
        Some(text) => match DavPath::parse_url_path(text.get_ref()) {
            Ok((path, _)) if text.get_ref().starts_with('/') && !path.is_root() => Some(path),
            _ => {
                problems.push((
                    Some(text.span()),
                    format!(
                        "view = \"{}\" must be an absolute path below \"/\"",
                        text.get_ref()
                    ),
                ));
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(HistoryConfig { retention, view })
    } else {
        Err(problems)
    }
}

/// `30d`, `12h`, `90m`, `3600s` (or a plain number of seconds): at least a second, at most
/// about a hundred years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds_each = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    let count: u64 = number.parse().unwrap_or(0);
    match count.checked_mul(seconds_each) {
        Some(secs) if (1..=100 * 365 * 86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "\"{text}\" is not a time to keep history: a number with s, m, h, d or w \
             (\"30d\"), from 1 second to 100 years"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "0d",
            "d",
            "30 days",
            "-1d",
            "1y",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn views_follow_the_scope_unless_named() {
        let config = HistoryConfig::keeping(Duration::from_secs(60));
        assert_eq!(config.view_of(&DavPath::root()).as_str(), "/.history");
        let docs = DavPath::parse_url_path("/docs").unwrap().0;
        assert_eq!(config.view_of(&docs).as_str(), "/.history/docs");
    }
}
