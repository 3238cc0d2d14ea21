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

/// The crate's top-level modules (`src/<room>.rs` or `src/<room>/`) and the rooms each one's
/// non-test code names as `crate::<room>` or `use <room>::`.
fn room_imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = Path::new(ROOT).join("src");
    let mut files = vec![];
    text_files(&src, &mut files);
    let room_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(&src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let room = first.strip_suffix(".rs").unwrap_or(first);
        (!matches!(room, "lib" | "main")).then(|| room.to_owned())
    };
    let rooms: std::collections::BTreeSet<String> =
        files.iter().filter_map(|(p, _)| room_of(p)).collect();
    let mut imports =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for (path, text) in &files {
        let Some(room) = room_of(path) else { continue };
        // Test code may look anywhere; only what ships must import downward.
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("_tests.rs"))
        {
            continue;
        }
        let shipped = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let named = imports.entry(room.clone()).or_default();
        for other in &rooms {
            let used = shipped.contains(&format!("crate::{other}::"))
                || shipped.contains(&format!("crate::{other};"))
                || shipped.contains(&format!("crate::{{{other}"));
            if other != &room && used {
                named.insert(other.clone());
            }
        }
    }
    imports
}

/// Rooms import downward only: no module of the crate reaches, directly or through others, back
/// to itself. A cycle is named, with the path that closes it.
#[test]
fn the_crates_rooms_import_each_other_without_a_cycle() {
    let imports = room_imports();
    assert!(imports.len() > 20, "found the rooms: {imports:?}");
    assert!(
        imports["settings"].contains("config"),
        "reads imports: {imports:?}"
    );
    fn reach(
        from: &str,
        to: &str,
        imports: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in imports.get(from).into_iter().flatten() {
            if next == to {
                path.push(next.clone());
                return true;
            }
            if path.contains(next) {
                continue;
            }
            path.push(next.clone());
            if reach(next, to, imports, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    for room in imports.keys() {
        let mut path = vec![room.clone()];
        assert!(
            !reach(room, room, &imports, &mut path),
            "import cycle: {}",
            path.join(" → ")
        );
    }
}
