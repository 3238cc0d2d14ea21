//! Opening the tool's own non-token files (log, record of minted accessors, metrics, lock,
//! config) so that nothing planted at their paths can hang a run or redirect a write: every open
//! is non-blocking and anything but a regular file is refused (a FIFO would block forever,
//! holding the run lock); every temp file is created fresh, never through a link, with its mode
//! set on the descriptor. The token file has its own, stricter handling in `tokenfile.rs`.

use rustix::fs::OFlags;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{Error, ErrorKind, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` with `options` plus `O_NONBLOCK`, and refuses anything that is not a regular file.
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    let file = options
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is not a regular file (a directory, FIFO or device); remove it or choose another path",
        ));
    }
    Ok(file)
}

/// The whole content of the regular file at `path`, refusing more than `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path, OpenOptions::new().read(true))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("it is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// Creates `path` for writing: it must not exist yet (`O_EXCL`), a link there is not followed
/// (`O_NOFOLLOW`), and its mode is set on the descriptor, whatever the umask.
pub fn create_temp(path: &Path, mode: u32) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(mode))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let err = read_regular(&fifo, 10).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = open_regular(&fifo, OpenOptions::new().read(true).append(true)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert_eq!(
            read_regular(&file, 4).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }

    #[test]
    fn a_temp_file_never_follows_a_planted_link_and_gets_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let temp = dir.path().join("temp");
        symlink(&victim, &temp).unwrap();
        assert!(create_temp(&temp, 0o644).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        std::fs::remove_file(&temp).unwrap();
        create_temp(&temp, 0o644).unwrap();
        let mode = std::fs::metadata(&temp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
