//! Everything that touches the token file: reading and validating it, and replacing it
//! atomically and only if it still holds what we read (a login written meanwhile wins).
//!
//! Symlinks are followed: a `~/.vault-token` that links elsewhere is read and replaced at its
//! target, so the link survives. A dangling link is an error.

use crate::secret::Token;
use rustix::fs::{CWD, OFlags, RenameFlags, renameat_with};
use rustix::io::Errno;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// Real tokens are at most a few hundred bytes; anything this large is not a token.
pub const MAX_TOKEN_FILE_BYTES: u64 = 16 * 1024;
const TEMP_MARK: &str = ".vault-token-renew-";

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("token file {0} does not exist; mint our token first")]
    Missing(PathBuf),
    #[error("token file {0} is a dangling symlink; remove it, or point it at the token file")]
    DanglingSymlink(PathBuf),
    #[error("token file {path} is {kind}, not a regular file; move it aside and mint again")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error(
        "token file {path} is larger than {limit} bytes, so it holds no token; move it aside and mint again"
    )]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("token file {0} is empty; mint our token")]
    Empty(PathBuf),
    #[error(
        "token file {path} does not hold a token (a non-printable byte at offset {offset}); move it aside and mint again"
    )]
    NotAToken { path: PathBuf, offset: usize },
    #[error("cannot read token file {path}: {source}; check its permissions")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write token file {path}: {source}; check that its directory is writable and the disk has room (the old token is still in place)"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "token file {0} changed while we worked (a `vault login`?); left it alone — the next run checks the new token"
    )]
    Changed(PathBuf),
}

/// What the file held when we read it, so a replacement can insist it is still there.
#[derive(PartialEq, Eq)]
pub enum Current {
    Absent,
    /// The file's bytes with surrounding whitespace trimmed.
    Present(Zeroizing<Vec<u8>>),
}

impl Current {
    /// What the file holds once `token` is written to it.
    fn holding(token: &Token) -> Current {
        Current::Present(Zeroizing::new(token.expose().as_bytes().to_vec()))
    }
}

pub struct Snapshot {
    pub token: Token,
    pub current: Current,
    /// Set when group or others may read the file (its mode), so the caller can warn.
    pub loose_mode: Option<u32>,
    /// How long ago the file was last written (None if the clock or filesystem cannot say).
    pub age: Option<Duration>,
}

impl Snapshot {
    /// Was the file written within `window`? Its token may then be one an HA standby has not
    /// seen yet (an install or `vault login` moments ago).
    pub fn written_within(&self, window: Duration) -> bool {
        self.age.is_some_and(|age| age < window)
    }
}

pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn new(path: PathBuf) -> TokenFile {
        TokenFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file to read and replace: the configured path, or the target of a symlink there.
    fn resolve(&self) -> Result<Option<PathBuf>, TokenFileError> {
        match fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TokenFileError::Read {
                path: self.path.clone(),
                source,
            }),
            Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(&self.path) {
                Ok(target) => Ok(Some(target)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(TokenFileError::DanglingSymlink(self.path.clone()))
                }
                Err(source) => Err(TokenFileError::Read {
                    path: self.path.clone(),
                    source,
                }),
            },
            Ok(_) => Ok(Some(self.path.clone())),
        }
    }

    /// Reads the raw content (or its absence) for a later compare-and-swap, and the mode when
    /// group or others may read the file.
    pub fn read_current(&self) -> Result<(Current, Option<u32>), TokenFileError> {
        let (current, meta) = self.read_with_meta()?;
        Ok((current, meta.as_ref().and_then(loose_mode)))
    }

    fn read_with_meta(&self) -> Result<(Current, Option<fs::Metadata>), TokenFileError> {
        let Some(real) = self.resolve()? else {
            return Ok((Current::Absent, None));
        };
        let read_err = |source| TokenFileError::Read {
            path: self.path.clone(),
            source,
        };
        // Non-blocking, so a FIFO at the path is refused below instead of hanging the run.
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(OFlags::NONBLOCK.bits() as i32)
            .open(&real)
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Current::Absent, None));
            }
            other => other.map_err(read_err)?,
        };
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            let kind = if meta.is_dir() {
                "a directory"
            } else {
                "a special file"
            };
            return Err(TokenFileError::NotAFile {
                path: self.path.clone(),
                kind,
            });
        }
        let mut raw = Zeroizing::new(Vec::new());
        file.take(MAX_TOKEN_FILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(read_err)?;
        if raw.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(TokenFileError::TooLarge {
                path: self.path.clone(),
                limit: MAX_TOKEN_FILE_BYTES,
            });
        }
        Ok((
            Current::Present(Zeroizing::new(trim(&raw).to_vec())),
            Some(meta),
        ))
    }

    /// Reads and validates the token, trimming surrounding whitespace as the Vault CLI does.
    pub fn read(&self) -> Result<Snapshot, TokenFileError> {
        let (current, meta) = self.read_with_meta()?;
        let token = match &current {
            Current::Absent => return Err(TokenFileError::Missing(self.path.clone())),
            Current::Present(bytes) => parse_token(bytes).map_err(|e| match e {
                ParseError::Empty => TokenFileError::Empty(self.path.clone()),
                ParseError::NotPrintable(offset) => TokenFileError::NotAToken {
                    path: self.path.clone(),
                    offset,
                },
            })?,
        };
        let loose_mode = meta.as_ref().and_then(loose_mode);
        let age = meta
            .and_then(|m| m.modified().ok())
            .and_then(|written| SystemTime::now().duration_since(written).ok());
        Ok(Snapshot {
            token,
            current,
            loose_mode,
            age,
        })
    }

    /// Replaces the file with `new` (mode 0600, no trailing newline, as the Vault CLI writes it),
    /// but only while it still holds `expected`: unique temp file beside it (O_EXCL, never the
    /// CLI's fixed `.vault-token.tmp`), fsync, then an atomic swap that checks what it replaced
    /// (see `commit`), fsync the directory.
    pub fn replace_if_unchanged(
        &self,
        expected: &Current,
        new: &Token,
    ) -> Result<(), TokenFileError> {
        let real = self.resolve()?.unwrap_or_else(|| self.path.clone());
        let dir = parent_dir(&real);
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(
            ".{name}{TEMP_MARK}{}-{:016x}.tmp",
            std::process::id(),
            fastrand::u64(..)
        ));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(OFlags::NOFOLLOW.bits() as i32)
                .open(&temp)
                .map_err(|e| self.write_err(e))?;
            // 0600 whatever the umask; set on the descriptor, not the name.
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| self.write_err(e))?;
            file.write_all(new.expose().as_bytes())
                .map_err(|e| self.write_err(e))?;
            file.sync_all().map_err(|e| self.write_err(e))?;
            drop(file);
            pause_before_commit();
            self.commit(&temp, &real, expected, new)?;
            // The swap is durable only once the directory entry is on disk.
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.write_err(e))
        })();
        // Whatever is left at the temp name is the replaced old file, or our token after a
        // refused swap: neither is wanted.
        let _ = fs::remove_file(&temp);
        result
    }

    /// Puts `temp` (holding `new`) at `real` if `real` holds `expected`, with no window in which
    /// a concurrent write can be lost: an absent file is created with RENAME_NOREPLACE; a present
    /// one is exchanged (RENAME_EXCHANGE) and what came out is checked — not the expected token
    /// means someone wrote meanwhile, so it is exchanged back. Filesystems without these flags
    /// get the check-then-rename, which a write landing in between can lose.
    fn commit(
        &self,
        temp: &Path,
        real: &Path,
        expected: &Current,
        new: &Token,
    ) -> Result<(), TokenFileError> {
        let flags = match expected {
            Current::Absent => RenameFlags::NOREPLACE,
            Current::Present(_) => RenameFlags::EXCHANGE,
        };
        match rename_with(temp, real, flags) {
            Ok(()) => {}
            // EXIST: a file appeared where there was none; NOENT: the file we read is gone.
            Err(e) if e == Errno::EXIST || e == Errno::NOENT => {
                return Err(TokenFileError::Changed(self.path.clone()));
            }
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP => {
                tracing::warn!(
                    "the filesystem of {} cannot swap files atomically ({e}); replacing it with a check-then-rename, which a `vault login` in the same instant can lose",
                    self.path.display()
                );
                return self.check_then_rename(temp, real, expected);
            }
            Err(e) => return Err(self.write_err(e.into())),
        }
        if flags == RenameFlags::EXCHANGE && &read_trimmed(temp) != expected {
            self.swap_back(temp, real, new)?;
            return Err(TokenFileError::Changed(self.path.clone()));
        }
        // A write right after our swap replaced our token: it is not installed, so say so.
        if read_trimmed(real) != Current::holding(new) {
            return Err(TokenFileError::Changed(self.path.clone()));
        }
        Ok(())
    }

    /// Undoes a swap that took out someone else's write. If yet another write replaced our token
    /// in between, that one is the newest: exchange once more so it stays in place.
    fn swap_back(&self, temp: &Path, real: &Path, new: &Token) -> Result<(), TokenFileError> {
        rename_with(temp, real, RenameFlags::EXCHANGE).map_err(|e| self.write_err(e.into()))?;
        if read_trimmed(temp) != Current::holding(new) {
            rename_with(temp, real, RenameFlags::EXCHANGE).map_err(|e| self.write_err(e.into()))?;
        }
        Ok(())
    }

    /// The fallback where the filesystem lacks RENAME_EXCHANGE: not atomic.
    fn check_then_rename(
        &self,
        temp: &Path,
        real: &Path,
        expected: &Current,
    ) -> Result<(), TokenFileError> {
        if &self.read_current()?.0 != expected {
            return Err(TokenFileError::Changed(self.path.clone()));
        }
        fs::rename(temp, real).map_err(|e| self.write_err(e))
    }

    fn write_err(&self, source: std::io::Error) -> TokenFileError {
        TokenFileError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Removes temp files left by a run that was killed mid-write. Call only under the run lock,
    /// when no other run of ours can be writing one.
    pub fn remove_stale_temp_files(&self) -> usize {
        let Ok(Some(real)) = self
            .resolve()
            .map(|r| r.or_else(|| Some(self.path.clone())))
        else {
            return 0;
        };
        let Some(name) = real.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return 0;
        };
        let prefix = format!(".{name}{TEMP_MARK}");
        let Ok(entries) = fs::read_dir(parent_dir(&real)) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(&prefix) && n.ends_with(".tmp")
            })
            .filter(|e| fs::remove_file(e.path()).is_ok())
            .count()
    }
}

/// Test builds only: parks a replacement just before it commits, so a test can land a `vault
/// login` in that window. The variable names a gate file: it is created when the run parks, and
/// the run goes on once the test removes it (or after 30 s).
fn rename_with(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), Errno> {
    renameat_with(CWD, from, CWD, to, flags)
}

/// A file's trimmed content, or `Absent` when it cannot be read as a regular file: for comparing
/// what a swap took out, where anything unreadable is simply not what we expected.
fn read_trimmed(path: &Path) -> Current {
    let mut raw = Zeroizing::new(Vec::new());
    let read = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOFOLLOW).bits() as i32)
        .open(path)
        .and_then(|f| {
            if !f.metadata()?.is_file() {
                return Err(std::io::ErrorKind::InvalidInput.into());
            }
            f.take(MAX_TOKEN_FILE_BYTES + 1).read_to_end(&mut raw)
        });
    match read {
        Ok(_) => Current::Present(Zeroizing::new(trim(&raw).to_vec())),
        Err(_) => Current::Absent,
    }
}

#[cfg(debug_assertions)]
fn pause_before_commit() {
    use std::time::Instant;
    let Some(gate) = std::env::var_os(SWAP_GATE_VAR) else {
        return;
    };
    if fs::write(&gate, b"parked").is_err() {
        return;
    }
    let parked = Instant::now();
    while Path::new(&gate).exists() && parked.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(not(debug_assertions))]
fn pause_before_commit() {}

/// The test hook's variable (see `pause_before_commit`); release builds ignore it.
pub const SWAP_GATE_VAR: &str = "VAULT_TOKEN_RENEW_TEST_SWAP_GATE";

/// The file's permission bits, when group or others may read or write it.
fn loose_mode(meta: &fs::Metadata) -> Option<u32> {
    Some(meta.mode() & 0o777).filter(|mode| mode & 0o077 != 0)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    NotPrintable(usize),
}

/// A token is printable ASCII without spaces (Vault: `hvs.`/`s.` + base62/base64url; no
/// length or prefix rule, contract §12). Anything else — a BOM, a NUL, UTF-8 text — is not one.
pub fn parse_token(trimmed: &[u8]) -> Result<Token, ParseError> {
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    if let Some(offset) = trimmed.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(ParseError::NotPrintable(offset));
    }
    Ok(Token::new(String::from_utf8_lossy(trimmed).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file_with(dir: &Path, content: &[u8]) -> TokenFile {
        let path = dir.join(".vault-token");
        fs::write(&path, content).unwrap();
        TokenFile::new(path)
    }

    #[test]
    fn trims_whitespace_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        for content in [&b"s.abc\n"[..], b"  s.abc  ", b"s.abc\r\n", b"\ts.abc"] {
            let snap = file_with(dir.path(), content).read().unwrap();
            assert_eq!(snap.token.expose(), "s.abc");
        }
    }

    #[test]
    fn rejects_what_is_not_a_token() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            file_with(dir.path(), b"").read(),
            Err(TokenFileError::Empty(_))
        ));
        assert!(matches!(
            file_with(dir.path(), b" \n\t ").read(),
            Err(TokenFileError::Empty(_))
        ));
        assert!(matches!(
            file_with(dir.path(), b"\xef\xbb\xbfs.abc").read(),
            Err(TokenFileError::NotAToken { offset: 0, .. })
        ));
        assert!(matches!(
            file_with(dir.path(), b"s.a\0bc").read(),
            Err(TokenFileError::NotAToken { offset: 3, .. })
        ));
        assert!(matches!(
            file_with(dir.path(), b"s.a bc").read(),
            Err(TokenFileError::NotAToken { .. })
        ));
        let big = vec![b'a'; MAX_TOKEN_FILE_BYTES as usize + 1];
        assert!(matches!(
            file_with(dir.path(), &big).read(),
            Err(TokenFileError::TooLarge { .. })
        ));
        let missing = TokenFile::new(dir.path().join("nope"));
        assert!(matches!(missing.read(), Err(TokenFileError::Missing(_))));
        let d = TokenFile::new(dir.path().to_owned());
        assert!(matches!(
            d.read(),
            Err(TokenFileError::NotAFile {
                kind: "a directory",
                ..
            })
        ));
    }

    #[test]
    fn errors_never_quote_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let err = file_with(dir.path(), b"s.SECRET\x01").read().err().unwrap();
        assert!(!err.to_string().contains("SECRET"));
    }

    #[test]
    fn replace_writes_0600_without_newline_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old\n");
        fs::set_permissions(tf.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let snap = tf.read().unwrap();
        assert_eq!(snap.loose_mode, Some(0o644));
        assert!(
            snap.written_within(Duration::from_secs(3600)),
            "just written"
        );
        tf.replace_if_unchanged(&snap.current, &Token::new("s.new".into()))
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.new");
        assert_eq!(fs::metadata(tf.path()).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_refuses_when_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        let snap = tf.read().unwrap();
        fs::write(tf.path(), b"s.login").unwrap();
        let err = tf
            .replace_if_unchanged(&snap.current, &Token::new("s.new".into()))
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)));
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.login");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file removed"
        );
    }

    /// A file removed meanwhile (someone deleted it to log in afresh) is a change too: not
    /// recreated behind their back.
    #[test]
    fn replace_refuses_when_the_file_was_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        let snap = tf.read().unwrap();
        fs::remove_file(tf.path()).unwrap();
        let err = tf
            .replace_if_unchanged(&snap.current, &Token::new("s.new".into()))
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_private_file_is_not_loose_and_a_relative_one_lives_in_the_current_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.abc");
        fs::set_permissions(tf.path(), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(tf.read().unwrap().loose_mode, None);
        fs::set_permissions(tf.path(), fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(tf.read().unwrap().loose_mode, Some(0o640));
        // `--token-file tok`: the temp file and the directory to sync are `.`, not "".
        assert_eq!(parent_dir(Path::new("tok")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/home/a/tok")), Path::new("/home/a"));
    }

    #[test]
    fn a_token_of_exactly_the_limit_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), &vec![b'b'; MAX_TOKEN_FILE_BYTES as usize]);
        let snap = tf.read().unwrap();
        tf.replace_if_unchanged(&snap.current, &Token::new("s.new".into()))
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.new");
    }

    /// What a swap took out is compared as it is: a link there is not followed to a file that
    /// happens to hold the expected token.
    #[test]
    fn what_a_swap_took_out_is_not_read_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"s.abc").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(read_trimmed(&target) == Current::Present(Zeroizing::new(b"s.abc".to_vec())));
        assert!(read_trimmed(&link) == Current::Absent);
    }

    /// The temp file as `replace_if_unchanged` leaves it just before the commit.
    fn temp_with(dir: &Path, content: &[u8]) -> PathBuf {
        let temp = dir.join("..vault-token.vault-token-renew-1-00.tmp");
        fs::write(&temp, content).unwrap();
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o600)).unwrap();
        temp
    }

    #[test]
    fn a_write_landing_before_the_swap_is_swapped_back_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        let snap = tf.read().unwrap();
        let new = Token::new("s.new".into());
        let temp = temp_with(dir.path(), b"s.new");
        fs::write(tf.path(), b"s.login").unwrap();
        let err = tf
            .commit(&temp, tf.path(), &snap.current, &new)
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)));
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.login");
        assert_eq!(
            fs::read(&temp).unwrap(),
            b"s.new",
            "ours went back to the temp"
        );
    }

    #[test]
    fn the_swap_installs_ours_when_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old\n");
        let snap = tf.read().unwrap();
        let temp = temp_with(dir.path(), b"s.new");
        tf.commit(&temp, tf.path(), &snap.current, &Token::new("s.new".into()))
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.new");
        assert_eq!(fs::metadata(tf.path()).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::read(&temp).unwrap(),
            b"s.old\n",
            "the old file came out"
        );
    }

    #[test]
    fn a_write_replacing_ours_right_after_the_swap_is_reported_as_not_installed() {
        // The state a login landing just after our exchange leaves: the file no longer holds
        // ours, so the caller must not count the token as installed (it revokes it).
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        let snap = tf.read().unwrap();
        let temp = temp_with(dir.path(), b"s.login");
        let err = tf
            .commit(&temp, tf.path(), &snap.current, &Token::new("s.new".into()))
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)));
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.login");
    }

    #[test]
    fn a_second_write_during_the_swap_back_stays_in_place() {
        // After our exchange took out login 1, login 2 replaced our token; undoing the swap must
        // not bring back login 1 over login 2.
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.login2");
        let temp = temp_with(dir.path(), b"s.login1");
        tf.swap_back(&temp, tf.path(), &Token::new("s.new".into()))
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.login2");
    }

    #[test]
    fn the_fallback_checks_then_renames() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        let snap = tf.read().unwrap();
        fs::write(tf.path(), b"s.login").unwrap();
        let temp = temp_with(dir.path(), b"s.new");
        let err = tf
            .check_then_rename(&temp, tf.path(), &snap.current)
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)));
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.login");
        let snap = tf.read().unwrap();
        tf.check_then_rename(&temp, tf.path(), &snap.current)
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.new");
    }

    #[test]
    fn replace_of_absent_file_requires_it_to_stay_absent() {
        let dir = tempfile::tempdir().unwrap();
        let tf = TokenFile::new(dir.path().join(".vault-token"));
        tf.replace_if_unchanged(&Current::Absent, &Token::new("s.new".into()))
            .unwrap();
        assert_eq!(fs::read(tf.path()).unwrap(), b"s.new");
        let err = tf
            .replace_if_unchanged(&Current::Absent, &Token::new("s.newer".into()))
            .unwrap_err();
        assert!(matches!(err, TokenFileError::Changed(_)));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".vault-token");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            TokenFile::new(path).read(),
            Err(TokenFileError::NotAFile {
                kind: "a special file",
                ..
            })
        ));
    }

    #[test]
    fn a_long_token_and_a_file_of_exactly_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let long = "b".repeat(2000);
        let snap = file_with(dir.path(), long.as_bytes()).read().unwrap();
        assert_eq!(snap.token.expose(), long);
        let mut padded = b"s.abc".to_vec();
        padded.resize(MAX_TOKEN_FILE_BYTES as usize, b'\n');
        let snap = file_with(dir.path(), &padded).read().unwrap();
        assert_eq!(snap.token.expose(), "s.abc");
    }

    /// Only a path that does not exist is a missing token file; one that cannot be looked at or
    /// opened is an error with its cause, never taken for "absent" (which `mint` would fill).
    #[test]
    fn an_unreachable_path_is_unreadable_not_missing() {
        let dir = tempfile::tempdir().unwrap();
        let through_a_file = file_with(dir.path(), b"s.abc").path().join("x");
        let err = TokenFile::new(through_a_file).read().err().unwrap();
        assert!(matches!(err, TokenFileError::Read { .. }), "{err}");

        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = TokenFile::new(socket).read().err().unwrap();
        assert!(matches!(err, TokenFileError::Read { .. }), "{err}");
    }

    #[test]
    fn a_symlink_loop_is_unreadable_not_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".vault-token");
        std::os::unix::fs::symlink(&path, &path).unwrap();
        let err = TokenFile::new(path).read().err().unwrap();
        assert!(matches!(err, TokenFileError::Read { .. }), "{err}");
    }

    #[test]
    fn symlinks_are_followed_and_survive() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real-token");
        fs::write(&target, b"s.old").unwrap();
        let link = dir.path().join(".vault-token");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let tf = TokenFile::new(link.clone());
        let snap = tf.read().unwrap();
        tf.replace_if_unchanged(&snap.current, &Token::new("s.new".into()))
            .unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"s.new");

        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
        assert!(matches!(
            TokenFile::new(dangling).read(),
            Err(TokenFileError::DanglingSymlink(_))
        ));
    }

    #[test]
    fn stale_temp_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tf = file_with(dir.path(), b"s.old");
        fs::write(
            dir.path()
                .join("..vault-token.vault-token-renew-123-00ff.tmp"),
            b"s.half",
        )
        .unwrap();
        fs::write(dir.path().join(".vault-token.tmp"), b"s.cli").unwrap();
        assert_eq!(tf.remove_stale_temp_files(), 1);
        assert!(
            dir.path().join(".vault-token.tmp").exists(),
            "the CLI's own temp file is not ours"
        );
    }
}
