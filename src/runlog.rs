//! The one line each run leaves: `<RFC 3339 time> OK|HEALED|DRIFT|FAIL …`, appended to the log
//! file and written to stderr (for journald). Text from the server is escaped and bounded, so a
//! run is always exactly one line and no control character reaches the log.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Healed,
    Drift,
    Fail,
    /// The settings did not resolve (a config typo): logged as FAIL, exit 2, nothing changed.
    Usage,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Healed => "HEALED",
            Outcome::Drift => "DRIFT",
            Outcome::Fail | Outcome::Usage => "FAIL",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok | Outcome::Healed => 0,
            Outcome::Drift => 3,
            Outcome::Fail => 4,
            Outcome::Usage => crate::EXIT_USAGE,
        }
    }
}

/// What one run concluded: the outcome and the rest of its log line (already escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub message: String,
    /// What the run learned about the token now in the file, for the metrics file.
    pub token: Option<TokenFacts>,
}

/// The file's token as the server described it during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFacts {
    pub ttl_secs: i64,
    pub period_secs: Option<i64>,
}

impl Report {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Report {
        Report {
            outcome,
            message: message.into(),
            token: None,
        }
    }

    /// Attaches what the run learned about the file's token (TTL and period).
    pub fn with_token(mut self, ttl_secs: i64, period_secs: Option<i64>) -> Report {
        self.token = Some(TokenFacts {
            ttl_secs,
            period_secs,
        });
        self
    }

    /// `OK renewed …` for OK; `HEALED: …`, `DRIFT: …`, `FAIL: …` for the others (the seed's words).
    /// A named profile's lines carry its tag after the time (`… [lab] OK renewed …`).
    pub fn line(&self, at: SystemTime) -> String {
        let sep = if self.outcome == Outcome::Ok {
            " "
        } else {
            ": "
        };
        let message = one_line(&self.message);
        let line = format!(
            "{} {}{}{}{}",
            humantime::format_rfc3339_seconds(at),
            profile_tag(),
            self.outcome.word(),
            sep,
            message
        );
        bound(&line, MAX_LINE)
    }
}

/// Longest line we write; a hostile server cannot make the log grow by more per run.
pub const MAX_LINE: usize = 2000;
/// Longest single value from the server that goes into a line.
pub const MAX_FIELD: usize = 200;

/// Escapes text that came from the server (display names, error text): control characters and
/// non-ASCII become `\n`, `\t`, `\x1b`, `\u{…}` escapes, backslashes are doubled, and the result
/// is cut at `max` characters with a `…` marker.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !c.is_ascii() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
        if out.len() > max {
            break;
        }
    }
    bound(&out, max)
}

/// Defence in depth: whatever a caller forgot to escape, a line stays one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => escape(&c.to_string(), 16),
            c => c.to_string(),
        })
        .collect()
}

fn bound(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    // The text is ASCII by now (escaped), except for the `—` separators we write ourselves.
    let mut cut = max.saturating_sub(3);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

thread_local! {
    /// The named profile this run is for; its lines carry `[<name>] ` after the time, so
    /// profiles can share a log file. The default profile's lines stay as they always were.
    /// Per thread: a run is one thread (a current-thread runtime), and tests run side by side.
    static PROFILE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

pub fn set_profile(profile: &str) {
    let named = (profile != crate::profile::DEFAULT).then(|| profile.to_owned());
    PROFILE.with(|p| *p.borrow_mut() = named);
}

fn profile_tag() -> String {
    PROFILE.with(|p| match &*p.borrow() {
        Some(name) => format!("[{name}] "),
        None => String::new(),
    })
}

/// Whether a log line was written for `profile` (an untagged line is the default profile's).
pub fn is_for_profile(line: &str, profile: &str) -> bool {
    let after_time = line.split_once(' ').map_or("", |(_, rest)| rest);
    let tagged = after_time
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map(|(name, _)| name)
        .filter(|name| crate::profile::check_name(name).is_ok());
    tagged.unwrap_or(crate::profile::DEFAULT) == profile
}

/// `-q`: a successful run's line goes to the log file only.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

fn quiet_about(outcome: Outcome) -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
        && matches!(outcome, Outcome::Ok | Outcome::Healed)
}

/// Writes the line to stderr (natively to journald when stderr is the journal) and appends it to the log file (0600, parent created). A log that
/// cannot be written is reported on stderr but never changes the run's outcome.
pub fn emit(report: &Report, log_file: &Path) {
    let line = report.line(SystemTime::now());
    if quiet_about(report.outcome) {
        if let Err(e) = append(log_file, &line) {
            eprintln!(
                "warning: cannot append to log file {}: {e}",
                log_file.display()
            );
        }
        return;
    }
    let journal = crate::journal::stderr_is_journal()
        && crate::journal::send(
            Path::new(crate::journal::SOCKET),
            &line,
            journal_verdict(report.outcome),
        );
    if !journal {
        eprintln!("{line}");
    }
    if let Err(e) = append(log_file, &line) {
        eprintln!(
            "warning: cannot append to log file {}: {e}; set --log-file or fix its directory's permissions",
            log_file.display()
        );
    }
}

fn append(log_file: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = log_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::state::create_private_dir(dir)?;
    }
    // Read as well as append, so opening a FIFO here neither blocks nor fails obscurely: it is
    // refused as not a regular file.
    let mut f = crate::localfile::open_regular(
        log_file,
        OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .mode(0o600),
    )?;
    // One write call per line keeps concurrent appends from interleaving (O_APPEND).
    f.write_all(format!("{line}\n").as_bytes())
}

/// How much of the log's end is read: a line a day for months, whatever the log's age.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last `n` non-empty lines `profile` wrote, from the end of the log file (for `status` and
/// the failure hook). Opened non-blocking, so something other than a regular file at the path
/// reads as no lines rather than hanging. They were escaped when written; control characters are
/// escaped again in case something else wrote to the file.
pub fn tail(log_file: &Path, n: usize, profile: &str) -> Vec<String> {
    let Ok(bytes) = read_end(log_file) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && is_for_profile(l, profile))
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| bound(&one_line(l.trim_end()), MAX_LINE))
        .collect()
}

/// The last [`TAIL_BYTES`] of the file, starting at a whole line.
fn read_end(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = crate::localfile::open_regular(path, OpenOptions::new().read(true))?;
    let start = file.metadata()?.len().saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    if start > 0 {
        // Cut into a line: drop its tail.
        let first_line = bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        bytes.drain(..first_line);
    }
    Ok(bytes)
}

/// How the journal files a run: DRIFT, FAIL and usage errors at error priority.
fn journal_verdict(outcome: Outcome) -> crate::journal::Verdict<'static> {
    crate::journal::Verdict {
        word: outcome.word(),
        error: !matches!(outcome, Outcome::Ok | Outcome::Healed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_files_drift_fail_and_usage_as_errors() {
        for (outcome, error) in [
            (Outcome::Ok, false),
            (Outcome::Healed, false),
            (Outcome::Drift, true),
            (Outcome::Fail, true),
            (Outcome::Usage, true),
        ] {
            let v = journal_verdict(outcome);
            assert_eq!(v.error, error, "{outcome:?}");
            assert_eq!(v.word, outcome.word());
        }
    }
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn escape_neutralises_control_characters() {
        assert_eq!(escape("a\nb\rc\td", 100), "a\\nb\\rc\\td");
        assert_eq!(escape("\x1b[31mred", 100), "\\x1b[31mred");
        assert_eq!(escape("back\\slash", 100), "back\\\\slash");
        assert_eq!(escape("é", 100), "\\u{e9}");
        assert!(
            !escape("\u{2028}x\u{85}", 100)
                .chars()
                .any(|c| c.is_control() || !c.is_ascii())
        );
    }

    #[test]
    fn escape_bounds_length() {
        let long = "x".repeat(10_000);
        let e = escape(&long, MAX_FIELD);
        assert!(e.len() <= MAX_FIELD + '…'.len_utf8());
        assert!(e.ends_with('…'));
    }

    #[test]
    fn lines_have_the_seed_format() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            Report::new(Outcome::Ok, "renewed (dn=token-x ttl=2764800s)").line(at),
            "2023-11-14T22:13:20Z OK renewed (dn=token-x ttl=2764800s)"
        );
        assert_eq!(
            Report::new(Outcome::Fail, "x").line(at),
            "2023-11-14T22:13:20Z FAIL: x"
        );
        assert_eq!(
            Report::new(Outcome::Drift, "x").line(at),
            "2023-11-14T22:13:20Z DRIFT: x"
        );
        assert_eq!(
            Report::new(Outcome::Healed, "x").line(at),
            "2023-11-14T22:13:20Z HEALED: x"
        );
    }

    #[test]
    fn a_named_profile_tags_its_lines_and_tail_keeps_each_profile_apart() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        set_profile("lab");
        let lab = Report::new(Outcome::Ok, "renewed").line(at);
        set_profile(crate::profile::DEFAULT);
        let default = Report::new(Outcome::Drift, "x").line(at);
        assert_eq!(lab, "2023-11-14T22:13:20Z [lab] OK renewed");
        assert_eq!(default, "2023-11-14T22:13:20Z DRIFT: x");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let other = "2023-11-14T22:13:20Z [work] FAIL: y";
        std::fs::write(&log, format!("{lab}\n{default}\n{other}\n")).unwrap();
        assert_eq!(tail(&log, 5, "lab"), [lab]);
        assert_eq!(tail(&log, 5, "work"), [other]);
        assert_eq!(tail(&log, 5, crate::profile::DEFAULT), [default]);
        // A message that merely starts with brackets is still the default profile's.
        assert!(is_for_profile("2023-11-14T22:13:20Z OK [lab] x", "default"));
    }

    #[test]
    fn tail_keeps_our_escapes_and_neutralises_foreign_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        emit(
            &Report::new(Outcome::Drift, format!("x — {}", escape("a\nb", 50))),
            &log,
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"evil \x1b[2J\n")
            .unwrap();
        let lines = tail(&log, 5, crate::profile::DEFAULT);
        assert!(lines[0].ends_with("DRIFT: x — a\\nb"), "{lines:?}");
        assert_eq!(lines[1], "evil \\x1b[2J");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::Ok.exit_code(), 0);
        assert_eq!(Outcome::Healed.exit_code(), 0);
        assert_eq!(Outcome::Drift.exit_code(), 3);
        assert_eq!(Outcome::Fail.exit_code(), 4);
        assert_eq!(Outcome::Usage.exit_code(), 2);
        assert_eq!(
            Outcome::Usage.word(),
            "FAIL",
            "the log keeps its four words"
        );
    }

    #[test]
    fn emit_appends_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("state/vault-token-renew.log");
        emit(&Report::new(Outcome::Ok, "one"), &log);
        emit(&Report::new(Outcome::Fail, "two\nlines"), &log);
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the log is private");
        assert!(text.contains("two\\nlines"), "{text}");
    }
}
