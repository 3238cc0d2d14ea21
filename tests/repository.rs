//! The documents the code cites live in the repository: no file points at notes outside it, and
//! every contract section the code cites (`contract §3`) is a section of
//! `docs/vault-api-contract.md`.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The repository's text files, without build output and git's own.
fn text_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name();
        if matches!(name.to_str(), Some("target" | ".git" | "result")) {
            continue;
        }
        if path.is_dir() {
            text_files(&path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
}

#[test]
fn no_file_points_at_documents_outside_the_repository() {
    let mut files = vec![];
    text_files(Path::new(ROOT), &mut files);
    assert!(files.len() > 50, "walked the tree: {}", files.len());
    let outside = concat!("..", "/shared/");
    let pointing: Vec<_> = files
        .iter()
        .filter(|(_, text)| text.contains(outside))
        .map(|(path, _)| path.strip_prefix(ROOT).unwrap().display().to_string())
        .collect();
    assert!(pointing.is_empty(), "cite docs/ instead: {pointing:?}");
}

#[test]
fn every_contract_section_cited_exists() {
    let contract =
        std::fs::read_to_string(Path::new(ROOT).join("docs/vault-api-contract.md")).unwrap();
    let mut files = vec![];
    for dir in ["src", "tests", "devserver/src", "devserver/tests"] {
        text_files(&Path::new(ROOT).join(dir), &mut files);
    }
    let mut cited = std::collections::BTreeSet::new();
    for (_, text) in &files {
        for (at, _) in text.match_indices('§') {
            let digits: String = text[at + '§'.len_utf8()..]
                .chars()
                .skip_while(|c| *c == ' ')
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() {
                cited.insert(digits.parse::<u32>().unwrap());
            }
        }
    }
    assert!(cited.contains(&3) && cited.contains(&7), "{cited:?}");
    for section in cited {
        assert!(
            contract.contains(&format!("\n## {section}. ")),
            "§{section} is cited but docs/vault-api-contract.md has no such section"
        );
    }
}
