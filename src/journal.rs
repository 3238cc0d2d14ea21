//! The run's line, sent to journald natively when stderr is the journal.
//!
//! journald attributes a line on a unit's stderr stream to the unit by reading the sender's
//! cgroup from /proc — which is gone when a short-lived process has already exited, as ours often
//! has by the time the line is read (seen in the systemd container test: the DRIFT line then
//! missed `journalctl --user -u vault-token-renew`). A native message names its unit itself
//! (`USER_UNIT=`/`UNIT=`, which `journalctl -u` matches together with the kernel-attested `_UID`),
//! and carries a priority, so `journalctl -p err` shows DRIFT and FAIL.

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

pub const SOCKET: &str = "/run/systemd/journal/socket";

/// The unit we run in, read from our own cgroup while we are certainly alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnUnit {
    /// A unit of a user manager (`…/user@1000.service/app.slice/x.service`).
    User(String),
    /// A system unit.
    System(String),
}

/// True when stderr is the journal stream systemd connected (`JOURNAL_STREAM` is its
/// `device:inode`), so a native message replaces — not duplicates — the stderr line.
pub fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// Parses `/proc/self/cgroup` (cgroup v2 `0::/path`) into the unit it names, if any.
pub fn unit_from_cgroup(text: &str) -> Option<OwnUnit> {
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let unit = path
        .rsplit('/')
        .find(|c| c.ends_with(".service") || c.ends_with(".scope"))?;
    let in_user_manager = path
        .split('/')
        .any(|c| c.starts_with("user@") && c.ends_with(".service"));
    Some(if in_user_manager && !unit.starts_with("user@") {
        OwnUnit::User(unit.to_owned())
    } else {
        OwnUnit::System(unit.to_owned())
    })
}

/// What the journal is told about a run besides its line: the outcome's word (`OK`, `DRIFT`, …)
/// and whether it is an error (priority 3) or not (priority 6).
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'a> {
    pub word: &'a str,
    pub error: bool,
}

/// The native-protocol datagram for one line: `KEY=value` lines (the line holds no newline).
pub fn datagram(line: &str, verdict: Verdict<'_>, unit: Option<&OwnUnit>) -> Vec<u8> {
    let priority = if verdict.error { 3 } else { 6 };
    let mut text = format!(
        "MESSAGE={}\nPRIORITY={priority}\nSYSLOG_IDENTIFIER=vault-token-renew\nVAULT_TOKEN_RENEW_OUTCOME={}\n",
        line.replace('\n', " "),
        verdict.word
    );
    match unit {
        Some(OwnUnit::User(u)) => text.push_str(&format!("USER_UNIT={u}\n")),
        Some(OwnUnit::System(u)) => text.push_str(&format!("UNIT={u}\n")),
        None => {}
    }
    text.into_bytes()
}

/// Sends the line; false when journald is not there (the caller then writes stderr).
pub fn send(socket: &Path, line: &str, verdict: Verdict<'_>) -> bool {
    let unit = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| unit_from_cgroup(&t));
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    sock.send_to(&datagram(line, verdict, unit.as_ref()), socket)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Verdict = Verdict {
        word: "OK",
        error: false,
    };
    const DRIFT: Verdict = Verdict {
        word: "DRIFT",
        error: true,
    };

    #[test]
    fn user_and_system_units_from_cgroup() {
        let user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vault-token-renew.service\n";
        assert_eq!(
            unit_from_cgroup(user),
            Some(OwnUnit::User("vault-token-renew.service".into()))
        );
        let system = "0::/system.slice/vault-token-renew.service\n";
        assert_eq!(
            unit_from_cgroup(system),
            Some(OwnUnit::System("vault-token-renew.service".into()))
        );
        assert_eq!(unit_from_cgroup("0::/\n"), None);
        assert_eq!(
            unit_from_cgroup("12:pids:/x\n"),
            None,
            "cgroup v1 only: no unit claimed"
        );
    }

    #[test]
    fn drift_is_an_error_with_its_unit_and_outcome() {
        let unit = OwnUnit::User("vault-token-renew.service".into());
        let text = String::from_utf8(datagram("t DRIFT: x", DRIFT, Some(&unit))).unwrap();
        assert_eq!(
            text,
            "MESSAGE=t DRIFT: x\nPRIORITY=3\nSYSLOG_IDENTIFIER=vault-token-renew\nVAULT_TOKEN_RENEW_OUTCOME=DRIFT\nUSER_UNIT=vault-token-renew.service\n"
        );
        let ok = String::from_utf8(datagram("t OK renewed", OK, None)).unwrap();
        assert!(ok.contains("PRIORITY=6\n") && !ok.contains("UNIT="));
    }

    #[test]
    fn send_delivers_one_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        assert!(send(&path, "t FAIL: y", DRIFT));
        let mut buf = vec![0; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with("MESSAGE=t FAIL: y\nPRIORITY=3\n"),
            "{text}"
        );
        assert!(
            !send(&dir.path().join("absent"), "x", OK),
            "no journald: caller falls back to stderr"
        );
    }
}
