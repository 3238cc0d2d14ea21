//! The record of accessors this configuration has minted
//! (`<state dir>/minted-accessors-<configuration id>`, one a line). It lets the sweep find stale
//! copies of our token without the sudo needed to list every accessor, and it catches a mint
//! stranded by a crash: an accessor is recorded the moment the server returns it, before anything
//! else can fail. One file per configuration, so configurations sharing a state dir never see each
//! other's record; the sweep still looks every recorded accessor up before revoking it.
//!
//! Older versions kept one shared `<state dir>/minted-accessors`; it is still read as a source of
//! candidates (each checked like a listed accessor) and pruned of gone accessors, never added to.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot update the record of minted accessors {path}: {source}; check that the state directory is writable"
)]
pub struct StateError {
    path: PathBuf,
    source: std::io::Error,
}

/// The shared record of versions before the identity mark.
const LEGACY: &str = "minted-accessors";

pub struct MintedAccessors {
    path: PathBuf,
    legacy: PathBuf,
}

impl MintedAccessors {
    pub fn new(state_dir: &Path, configuration_id: &str) -> MintedAccessors {
        MintedAccessors {
            path: record_path(state_dir, configuration_id),
            legacy: state_dir.join(LEGACY),
        }
    }

    /// Our record plus the legacy one. Unreadable or missing means none recorded: the sweep then
    /// relies on listing, if allowed.
    pub fn load(&self) -> BTreeSet<String> {
        let mut all = read(&self.path);
        all.extend(read(&self.legacy));
        all
    }

    pub fn add(&self, accessor: &str) -> Result<(), StateError> {
        let mut all = read(&self.path);
        all.insert(accessor.to_owned());
        store(&self.path, &all)
    }

    pub fn remove(&self, gone: &BTreeSet<String>) -> Result<(), StateError> {
        for path in [&self.path, &self.legacy] {
            let mut all = read(path);
            let before = all.len();
            all.retain(|a| !gone.contains(a));
            // Untouched files stay as they are (and a missing legacy file is not created).
            if all.len() != before {
                store(path, &all)?;
            }
        }
        Ok(())
    }
}

/// `<state dir>/minted-accessors-<configuration id>`.
pub fn record_path(state_dir: &Path, configuration_id: &str) -> PathBuf {
    state_dir.join(format!("{LEGACY}-{configuration_id}"))
}

/// A record is a few accessors a line; more than this is not ours.
const MAX_RECORD: u64 = 16 << 20;

/// Non-blocking and bounded: a FIFO or anything else planted at the path reads as empty (and is
/// replaced by the next store) instead of hanging the run while it holds the lock.
fn read(path: &Path) -> BTreeSet<String> {
    let bytes = crate::localfile::read_regular(path, MAX_RECORD).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .collect()
}

fn store(path: &Path, all: &BTreeSet<String>) -> Result<(), StateError> {
    let err = |source| StateError {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(err)?;
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut text = String::new();
    for a in all {
        text.push_str(a);
        text.push('\n');
    }
    let result = (|| {
        let mut f = crate::localfile::create_temp(&temp, 0o600)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rec = MintedAccessors::new(&dir.path().join("nested"), "c1");
        assert!(rec.load().is_empty());
        rec.add("a1").unwrap();
        rec.add("a2").unwrap();
        rec.add("a1").unwrap();
        assert_eq!(rec.load().into_iter().collect::<Vec<_>>(), ["a1", "a2"]);
        rec.remove(&["a1".to_string()].into()).unwrap();
        assert_eq!(rec.load().into_iter().collect::<Vec<_>>(), ["a2"]);
    }

    #[test]
    fn configurations_keep_separate_records_and_share_only_the_legacy_one() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            MintedAccessors::new(dir.path(), "ca"),
            MintedAccessors::new(dir.path(), "cb"),
        );
        a.add("a1").unwrap();
        b.add("b1").unwrap();
        assert_eq!(a.load().into_iter().collect::<Vec<_>>(), ["a1"]);
        assert_eq!(b.load().into_iter().collect::<Vec<_>>(), ["b1"]);
        fs::write(dir.path().join("minted-accessors"), "old1\nold2\n").unwrap();
        assert_eq!(
            a.load().into_iter().collect::<Vec<_>>(),
            ["a1", "old1", "old2"]
        );
        a.remove(&["old1".to_string(), "b1".to_string()].into())
            .unwrap();
        assert_eq!(b.load().into_iter().collect::<Vec<_>>(), ["b1", "old2"]);
        a.add("a2").unwrap();
        let legacy = fs::read_to_string(dir.path().join("minted-accessors")).unwrap();
        assert_eq!(legacy, "old2\n", "never added to");
    }
}
