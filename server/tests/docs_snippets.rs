//! Rust in the docs is code that CI compiles: every ```rust block of `docs/**/*.md` and
//! `README.md` is preceded by a marker `<!-- snippet: PATH#NAME -->` and is exactly the lines
//! between `// ANCHOR: NAME` and `// ANCHOR_END: NAME` in the file PATH (relative to the
//! repository), their common indentation removed and inner anchor lines left out. Change the
//! code, and this test shows the text the doc must now quote.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The markdown files whose Rust is checked.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md")];
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
    out.retain(|p| p.exists());
    out.sort();
    out
}

/// The lines between the anchors `name` in `text`, dedented; `None` if they are missing.
fn anchored(text: &str, name: &str) -> Option<String> {
    let (start, end) = (
        format!("// ANCHOR: {name}"),
        format!("// ANCHOR_END: {name}"),
    );
    let mut taken: Option<Vec<&str>> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        match &mut taken {
            None if trimmed == start => taken = Some(Vec::new()),
            None => {}
            Some(lines) if trimmed == end => return Some(dedent(lines)),
            Some(_) if trimmed.starts_with("// ANCHOR") => {}
            Some(lines) => lines.push(line),
        }
    }
    None
}

fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in lines {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// Every problem of one document: unmarked blocks, missing files or anchors, differences.
fn check(root: &Path, doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc.strip_prefix(root).unwrap().display().to_string();
    let mut problems = Vec::new();
    let mut marker: Option<(String, String)> = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let at = index + 1;
        let trimmed = line.trim();
        if let Some(inner) = trimmed
            .strip_prefix("<!-- snippet:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            match inner.trim().split_once('#') {
                Some((file, anchor)) => marker = Some((file.to_owned(), anchor.to_owned())),
                None => problems.push(format!("{name} line {at}: a marker needs PATH#NAME")),
            }
            continue;
        }
        if !trimmed.starts_with("```rust") {
            if !trimmed.is_empty() {
                marker = None;
            }
            continue;
        }
        let mut block = String::new();
        for (_, line) in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            block.push_str(line.trim_end());
            block.push('\n');
        }
        let Some((file, anchor)) = marker.take() else {
            problems.push(format!(
                "{name} line {at}: a rust block without <!-- snippet: PATH#NAME --> before it"
            ));
            continue;
        };
        let Ok(source) = std::fs::read_to_string(root.join(&file)) else {
            problems.push(format!("{name} line {at}: {file} cannot be read"));
            continue;
        };
        match anchored(&source, &anchor) {
            None => problems.push(format!(
                "{name} line {at}: {file} has no ANCHOR {anchor} ... ANCHOR_END {anchor}"
            )),
            Some(expected) if expected != block => problems.push(format!(
                "{name} line {at}: the block differs from {file}#{anchor}, which is now:\n{expected}"
            )),
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn rust_in_the_docs_is_quoted_from_compiled_code() {
    let root = repository();
    let docs = documents(&root);
    assert!(docs.iter().any(|d| d.ends_with("docs/extending.md")));
    let problems: Vec<String> = docs.iter().flat_map(|d| check(&root, d)).collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

#[test]
fn the_checker_finds_what_it_must() {
    let source = "fn a() {\n    // ANCHOR: body\n    let x = 1;\n    // ANCHOR: inner\n    x\n    // ANCHOR_END: inner\n    // ANCHOR_END: body\n}\n";
    assert_eq!(anchored(source, "body").unwrap(), "let x = 1;\nx\n");
    assert_eq!(anchored(source, "inner").unwrap(), "x\n");
    assert!(anchored(source, "bod").is_none());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("code.rs"), source).unwrap();
    let doc = dir.path().join("doc.md");
    std::fs::write(
        &doc,
        "<!-- snippet: code.rs#inner -->\n```rust\nx\n```\n\n<!-- snippet: code.rs#body -->\n\n```rust\nlet x = 2;\n```\n\n```rust\n```\n\n<!-- snippet: code.rs#nope -->\n```rust\n```\n",
    )
    .unwrap();
    let problems = check(dir.path(), &doc);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("doc.md line 8: the block differs from code.rs#body"));
    assert!(problems[1].starts_with("doc.md line 12: a rust block without"));
    assert!(problems[2].starts_with("doc.md line 16: code.rs has no ANCHOR nope"));
}
