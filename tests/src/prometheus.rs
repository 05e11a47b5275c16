//! A reader of the Prometheus text format (version 0.0.4) for the tests that scrape davd's
//! metrics: the server-process tests (`server/tests/support` includes this file by path: the
//! server does not depend on this crate) and the in-process ones (`davd_tests::prometheus`).

use std::collections::BTreeMap;

/// Samples of a Prometheus text exposition: `name{a="x",b="y"}` to value.
pub fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        // Labels sorted, so that a test need not know the order they are written in.
        let key = if name_end < series.len() {
            let labels = series[name_end + 1..].strip_suffix('}').unwrap();
            let mut labels: Vec<&str> = labels.split(',').collect();
            labels.sort();
            format!("{name}{{{}}}", labels.join(","))
        } else {
            name.to_owned()
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("{line}")),
        };
        samples.insert(key, value);
    }
    samples
}
