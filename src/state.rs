//! The record of accessors this tool has minted (`<state dir>/minted-accessors`, one a line).
//! It lets the sweep find stale copies of our token without the sudo needed to list every
//! accessor, and it catches a mint stranded by a crash: an accessor is recorded the moment the
//! server returns it, before anything else can fail.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
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

pub struct MintedAccessors {
    path: PathBuf,
}

impl MintedAccessors {
    pub fn new(state_dir: &Path) -> MintedAccessors {
        MintedAccessors {
            path: state_dir.join("minted-accessors"),
        }
    }

    /// Unreadable or missing means none recorded: the sweep then relies on listing, if allowed.
    pub fn load(&self) -> BTreeSet<String> {
        fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
            .collect()
    }

    pub fn add(&self, accessor: &str) -> Result<(), StateError> {
        let mut all = self.load();
        all.insert(accessor.to_owned());
        self.store(&all)
    }

    pub fn remove(&self, gone: &BTreeSet<String>) -> Result<(), StateError> {
        if gone.is_empty() {
            return Ok(());
        }
        let mut all = self.load();
        all.retain(|a| !gone.contains(a));
        self.store(&all)
    }

    fn store(&self, all: &BTreeSet<String>) -> Result<(), StateError> {
        let err = |source| StateError {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(err)?;
        let temp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let mut text = String::new();
        for a in all {
            text.push_str(a);
            text.push('\n');
        }
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rec = MintedAccessors::new(&dir.path().join("nested"));
        assert!(rec.load().is_empty());
        rec.add("a1").unwrap();
        rec.add("a2").unwrap();
        rec.add("a1").unwrap();
        assert_eq!(rec.load().into_iter().collect::<Vec<_>>(), ["a1", "a2"]);
        rec.remove(&["a1".to_string()].into()).unwrap();
        assert_eq!(rec.load().into_iter().collect::<Vec<_>>(), ["a2"]);
    }
}
