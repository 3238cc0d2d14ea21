//! Whether a config file may be obeyed. It carries `on_failure`, a shell command, so — as ssh
//! does with its config — one that another user could have written is refused: the file and its
//! directory must belong to us or root and be writable by no one else. A link is followed and
//! the target checked too, so a home-manager config (a link into the root-owned, read-only Nix
//! store) keeps working; a sticky directory (the store, /tmp) protects files others do not own.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a file or directory is not trusted, naming it.
#[derive(Debug)]
pub struct Untrusted {
    pub path: PathBuf,
    pub why: String,
}

/// Checks the directory holding `path` (where a link would be replaced), the file it leads to,
/// and that file's directory. A missing file is left to the caller.
pub fn check_config(path: &Path) -> Result<(), Untrusted> {
    let me = rustix::process::geteuid().as_raw();
    let lexical_dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(real) = fs::canonicalize(path) else {
        return Ok(());
    };
    let real_dir = real
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    check_one(&lexical_dir, me)?;
    check_one(&real, me)?;
    check_one(&real_dir, me)
}

fn check_one(path: &Path, me: u32) -> Result<(), Untrusted> {
    let untrusted = |why: String| Untrusted {
        path: path.to_path_buf(),
        why,
    };
    let meta = fs::metadata(path).map_err(|e| untrusted(format!("cannot inspect it: {e}")))?;
    verdict(meta.uid(), meta.mode(), meta.is_dir(), me).map_err(untrusted)
}

/// The rule itself, on an owner and a mode.
pub fn verdict(owner: u32, mode: u32, is_dir: bool, me: u32) -> Result<(), String> {
    if owner != me && owner != 0 {
        return Err(format!(
            "it is owned by uid {owner}, neither you (uid {me}) nor the superuser"
        ));
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !(is_dir && sticky) {
        return Err(format!(
            "it is writable by {} (mode {:o})",
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;

    #[test]
    fn ours_or_roots_and_writable_by_no_one_else() {
        assert!(verdict(ME, 0o100600, false, ME).is_ok());
        assert!(verdict(ME, 0o100644, false, ME).is_ok());
        assert!(verdict(0, 0o100444, false, ME).is_ok(), "a Nix store file");
        assert!(
            verdict(0, 0o41775, true, ME).is_ok(),
            "the Nix store itself"
        );
        assert!(verdict(0, 0o41777, true, ME).is_ok(), "/tmp");
    }

    #[test]
    fn another_owner_or_write_access_for_others_is_refused() {
        let err = verdict(1001, 0o100600, false, ME).unwrap_err();
        assert!(err.contains("owned by uid 1001"), "{err}");
        let err = verdict(ME, 0o100664, false, ME).unwrap_err();
        assert!(err.contains("writable by its group (mode 664)"), "{err}");
        let err = verdict(ME, 0o100646, false, ME).unwrap_err();
        assert!(err.contains("writable by everyone"), "{err}");
        assert!(verdict(ME, 0o40777, true, ME).is_err(), "no sticky bit");
        assert!(
            verdict(ME, 0o101666, false, ME).is_err(),
            "a sticky bit protects nothing on a file"
        );
    }

    #[test]
    fn a_link_is_judged_by_its_target_and_both_directories() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir(&store).unwrap();
        let target = store.join("config.toml");
        fs::write(&target, "").unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let chmod = |p: &Path, m| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        chmod(dir.path(), 0o700);
        chmod(&store, 0o755);
        chmod(&target, 0o644);
        check_config(&link).unwrap();
        chmod(&target, 0o666);
        assert_eq!(
            check_config(&link).unwrap_err().path,
            fs::canonicalize(&target).unwrap()
        );
        chmod(&target, 0o644);
        chmod(&store, 0o777);
        assert_eq!(
            check_config(&link).unwrap_err().path,
            fs::canonicalize(&store).unwrap()
        );
        chmod(&store, 0o755);
        chmod(dir.path(), 0o770);
        assert_eq!(check_config(&link).unwrap_err().path, dir.path());
    }
}
