//! The repository is self-contained: every link in its Markdown (README, CONTRIBUTING,
//! CHANGELOG, `docs/`) points at a file of the repository, and at a heading that exists there
//! when it names one. Nothing links outside: what the docs rely on from elsewhere is summarised
//! in `docs/design-origins.md`.
#![allow(clippy::unwrap_used)]

use std::path::{Component, Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Markdown files people read: the top level and everything under `docs/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]
        .iter()
        .map(|name| root.join(name))
        .filter(|path| path.exists())
        .collect();
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The targets of the inline links `[text](target)` of `text`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        // Inline code spans may hold brackets that are not links.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code_block = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
        } else if !in_code_block && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `path` with `.` and `..` resolved without touching the file system.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every problem with the links of `doc`.
fn check(root: &Path, doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc.strip_prefix(root).unwrap().display().to_string();
    let mut problems = Vec::new();
    for target in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            problems.push(format!("{name}: {target} leaves the repository"));
            continue;
        }
        let (file, fragment) = match target.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (target.as_str(), None),
        };
        let linked = if file.is_empty() {
            doc.to_path_buf()
        } else {
            normal(&doc.parent().unwrap().join(file))
        };
        if !linked.starts_with(root) {
            problems.push(format!("{name}: {target} leaves the repository"));
            continue;
        }
        if !linked.exists() {
            problems.push(format!("{name}: {target} does not exist"));
            continue;
        }
        if let Some(fragment) = fragment
            && linked.extension().is_some_and(|e| e == "md")
        {
            let headings = anchors(&std::fs::read_to_string(&linked).unwrap());
            if !headings.iter().any(|h| h == fragment) {
                problems.push(format!("{name}: {target} names no heading of {file}"));
            }
        }
    }
    problems
}

#[test]
fn every_link_stays_in_the_repository_and_arrives() {
    let root = repository();
    let docs = documents(&root);
    assert!(docs.len() > 10, "{docs:?}");
    let problems: Vec<String> = docs.iter().flat_map(|doc| check(&root, doc)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_what_it_must() {
    let text = "[a](https://example.com) `[b](c)` [d](#heading-one)\n```\n[e](f)\n```\n";
    assert_eq!(links(text), ["https://example.com", "#heading-one"]);
    assert_eq!(
        slug(" Word's handshake, as sketched"),
        "words-handshake-as-sketched"
    );
    assert_eq!(anchors("# Heading One\n```\n# not\n```\n"), ["heading-one"]);
    assert_eq!(
        normal(Path::new("/r/docs/../README.md")),
        Path::new("/r/README.md")
    );
}
