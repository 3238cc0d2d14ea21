//! `vault-token-renew on-failure <unit>`: the failure hook. The service's `OnFailure=` starts the
//! template unit `vault-token-renew-failure@<unit>.service`, which runs this; it runs the config's
//! `on_failure` shell command so a person hears about a DRIFT or FAIL without reading the journal.

use std::path::Path;
use std::process::Command;

/// What the hook hands its command, besides the inherited environment.
pub const ENV_FAILED_UNIT: &str = "FAILED_UNIT";
pub const ENV_LAST_LOG_LINE: &str = "LAST_LOG_LINE";

/// Printed when no command is configured: the hook is optional, so this is not an error.
pub const NO_COMMAND_HINT: &str = "\
vault-token-renew: {unit} failed, and no failure hook is configured. To be told next time, set for example
  on_failure = 'notify-send \"Vault token\" \"$LAST_LOG_LINE\"'
  on_failure = 'curl -fsS -m 10 --data-urlencode \"text=$FAILED_UNIT: $LAST_LOG_LINE\" https://hooks.example/notify'
in the config file (or rerun `vault-token-renew install --on-failure CMD`). The command runs with sh -c,
with FAILED_UNIT and LAST_LOG_LINE set.";

/// Runs `command` (if any) for the failed `unit`; returns the process exit code to use.
///
/// The command's own exit status is passed on, so a broken hook leaves the template unit failed
/// and visible in `systemctl --user --failed`, next to the unit it reports on.
pub fn run(unit: &str, command: Option<&str>, log_file: &Path, profile: &str) -> i32 {
    let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
        eprintln!("{}", NO_COMMAND_HINT.replace("{unit}", unit));
        return 0;
    };
    let last_line = last_log_line(log_file, profile).unwrap_or_default();
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env(ENV_FAILED_UNIT, unit)
        .env(ENV_LAST_LOG_LINE, &last_line)
        .status();
    match status {
        Ok(s) if s.success() => 0,
        Ok(s) => {
            eprintln!(
                "vault-token-renew: the failure hook for {unit} exited with {s}; \
                 run it by hand with `vault-token-renew on-failure {unit}` to see why"
            );
            s.code().unwrap_or(1)
        }
        Err(e) => {
            eprintln!(
                "vault-token-renew: cannot run the failure hook with sh: {e}; is /bin/sh on PATH?"
            );
            4
        }
    }
}

/// The last non-empty line `profile` wrote to the log ([`crate::runlog::tail`]: read from the
/// log's end, so a years-old log costs nothing). `None` when the log is missing or empty (the hook
/// still runs, with an empty LAST_LOG_LINE). Only `profile`'s lines count: profiles may share one
/// log file.
pub fn last_log_line(path: &Path, profile: &str) -> Option<String> {
    crate::runlog::tail(path, 1, profile).pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_command_with_unit_and_last_log_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("renew.log");
        std::fs::write(
            &log,
            "2026-11-28T00:00:01Z OK renewed (dn=h-alice ttl=2764800s)\n\
             2026-11-29T00:00:02Z DRIFT: /home/alice/.vault-token is dn=k8s-ro — heal denied\n\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        let cmd = format!(
            "printf '%s|%s' \"$FAILED_UNIT\" \"$LAST_LOG_LINE\" > '{}'",
            out.display()
        );
        assert_eq!(
            run("vault-token-renew.service", Some(&cmd), &log, "default"),
            0
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "vault-token-renew.service|2026-11-29T00:00:02Z DRIFT: /home/alice/.vault-token is dn=k8s-ro — heal denied"
        );
    }

    #[test]
    fn command_failure_is_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            run(
                "x.service",
                Some("exit 7"),
                &dir.path().join("missing.log"),
                "default"
            ),
            7
        );
    }

    #[test]
    fn no_command_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(run("x.service", None, &dir.path().join("l"), "default"), 0);
        assert_eq!(
            run("x.service", Some("  "), &dir.path().join("l"), "default"),
            0
        );
    }

    #[test]
    fn last_line_comes_from_the_tail_of_a_long_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("l");
        let mut text = "2026-01-01T00:00:00Z OK renewed (dn=a ttl=1s)\n".repeat(5000);
        text.push_str("2026-11-29T00:00:00Z FAIL: server unreachable\n");
        std::fs::write(&log, text).unwrap();
        assert_eq!(
            last_log_line(&log, "default").as_deref(),
            Some("2026-11-29T00:00:00Z FAIL: server unreachable")
        );
        assert_eq!(last_log_line(&dir.path().join("none"), "default"), None);
        std::fs::write(&log, "").unwrap();
        assert_eq!(last_log_line(&log, "default"), None);
    }

    #[test]
    fn a_profile_gets_its_own_last_line_from_a_shared_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("l");
        std::fs::write(
            &log,
            "2026-11-29T00:00:00Z [lab] DRIFT: weak login\n2026-11-29T00:00:01Z OK renewed\n",
        )
        .unwrap();
        assert_eq!(
            last_log_line(&log, "lab").as_deref(),
            Some("2026-11-29T00:00:00Z [lab] DRIFT: weak login")
        );
        assert_eq!(
            last_log_line(&log, "default").as_deref(),
            Some("2026-11-29T00:00:01Z OK renewed")
        );
        assert_eq!(last_log_line(&log, "work"), None);
    }
}
