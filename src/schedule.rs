//! systemd.time(7) values as systemd reads them. `install` refuses a calendar spec or a time span
//! the timer would reject (`every day`, `5x`) before it writes anything; `mint` and `doctor`
//! compare the token's period with the longest gap between two runs. `systemd-analyze` decides
//! when it is installed; otherwise a parser of the same grammar does.

use std::process::{Command, Stdio};
use std::time::Duration;

const DAY: u64 = 86_400;

/// The shorthands of systemd.time(7) and the longest gap between two of their runs.
const SHORTHANDS: [(&str, u64); 10] = [
    ("minutely", 60),
    ("hourly", 3600),
    ("daily", DAY),
    ("weekly", 7 * DAY),
    ("monthly", 31 * DAY),
    ("quarterly", 92 * DAY),
    ("semiannually", 184 * DAY),
    ("yearly", 366 * DAY),
    ("annually", 366 * DAY),
    ("biannually", 184 * DAY),
];

/// Checks an `OnCalendar=` value; the error says why and gives an example.
pub fn check_calendar(spec: &str) -> Result<(), String> {
    let ok = match analyze(&["calendar", spec]) {
        Some((ok, _)) => ok,
        None => builtin_calendar(spec),
    };
    ok.then_some(()).ok_or_else(|| {
        format!("{spec:?} is not a systemd calendar expression (systemd.time(7)); e.g. daily, 'Mon..Fri 03:00', '*-*-* 04:00:00'")
    })
}

/// Checks a time span such as `RandomizedDelaySec=` takes (`5m`, `1h 30m`, `90`).
pub fn check_timespan(span: &str) -> Result<Duration, String> {
    let parsed = builtin_timespan(span);
    let ok = match analyze(&["timespan", span]) {
        Some((ok, _)) => ok,
        None => parsed.is_some(),
    };
    match (ok, parsed) {
        (true, Some(d)) => Ok(d),
        // systemd accepts it but our parser does not know its length: count it as zero.
        (true, None) => Ok(Duration::ZERO),
        _ => Err(format!(
            "{span:?} is not a systemd time span (systemd.time(7)); e.g. 5m, 1h 30m, 90s"
        )),
    }
}

/// A duration as a person writes it in the config: `768h`, `5m`, else systemd's words.
pub fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s > 0 && s % 3600 == 0 && d.subsec_nanos() == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 && d.subsec_nanos() == 0 => format!("{}m", s / 60),
        _ => humantime::format_duration(d).to_string(),
    }
}

/// The longest gap between two runs of `spec`, as far as it can be told.
pub fn longest_gap(spec: &str) -> Option<Duration> {
    let spec = spec.trim();
    if let Some((_, secs)) = SHORTHANDS.iter().find(|(name, _)| *name == spec) {
        return Some(Duration::from_secs(*secs));
    }
    let (ok, text) = analyze(&["calendar", "--iterations=8", spec])?;
    let times: Vec<u64> = ok
        .then_some(text)?
        .lines()
        .filter_map(elapse_time)
        .collect();
    times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .map(Duration::from_secs)
}

/// `Next elapse: Mon 2026-12-07 03:00:00 UTC` / `Iter. #2: …` → Unix seconds.
fn elapse_time(line: &str) -> Option<u64> {
    let (key, value) = line.split_once(": ")?;
    let key = key.trim();
    if key != "Next elapse" && !key.starts_with("Iter. #") {
        return None;
    }
    let mut words = value.split_whitespace().skip(1);
    let when = format!("{} {}", words.next()?, words.next()?);
    let at = humantime::parse_rfc3339_weak(&when).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// Runs `systemd-analyze ARGS` in UTC; None when it is not installed.
fn analyze(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("systemd-analyze")
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The calendar grammar of systemd.time(7): a shorthand, or `[WEEKDAYS] [DATE] [TIME] [TZ]`.
pub fn builtin_calendar(spec: &str) -> bool {
    let spec = spec.trim();
    if SHORTHANDS.iter().any(|(name, _)| *name == spec) {
        return true;
    }
    let mut parts: Vec<&str> = spec.split_whitespace().collect();
    if parts.last().is_some_and(|p| *p == "UTC" || p.contains('/')) && parts.len() > 1 {
        parts.pop();
    }
    if parts.first().is_some_and(|p| weekdays(p)) {
        parts.remove(0);
    }
    match parts.as_slice() {
        [] => spec.split_whitespace().next().is_some_and(weekdays),
        [one] => date(one) || time(one),
        [d, t] => date(d) && time(t),
        _ => false,
    }
}

fn weekdays(text: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let day = |d: &str| {
        let d = d.to_ascii_lowercase();
        d.len() >= 3 && DAYS.iter().any(|full| *full == d || full[..3] == d)
    };
    text.split(',').all(|range| {
        let mut ends = range.split("..");
        let ok = ends.next().is_some_and(day);
        ok && ends.all(day)
    })
}

/// One component (`*`, `5`, `1,15`, `1..5`, `0/15`, `~7`) with every number within `max`.
fn component(text: &str, min: u32, max: u32) -> bool {
    if text == "*" {
        return true;
    }
    text.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let number = |n: &str| n.parse::<u32>().is_ok_and(|n| (min..=max).contains(&n));
        let range_ok = range == "*" || range.trim_start_matches('~').split("..").all(number);
        range_ok && step.is_none_or(|s| s.parse::<u32>().is_ok_and(|s| s > 0))
    })
}

fn date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let year = |y: &str| {
        y == "*"
            || y.split(',')
                .all(|y| y.len() == 4 && component(y, 1970, 2199))
    };
    match parts.as_slice() {
        [y, m, d] => year(y) && component(m, 1, 12) && component(d, 1, 31),
        [m, d] => component(m, 1, 12) && component(d, 1, 31),
        _ => false,
    }
}

fn time(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    let seconds = |s: &str| {
        let whole = s.split_once('.').map_or(s, |(w, _)| w);
        component(whole, 0, 59)
    };
    match parts.as_slice() {
        [h, m] => component(h, 0, 23) && component(m, 0, 59),
        [h, m, s] => component(h, 0, 23) && component(m, 0, 59) && seconds(s),
        _ => false,
    }
}

/// systemd's time span grammar: numbers with units, summed; a bare number is seconds.
pub fn builtin_timespan(span: &str) -> Option<Duration> {
    const UNITS: [(&[&str], f64); 10] = [
        (&["usec", "us", "µs"], 1e-6),
        (&["msec", "ms"], 1e-3),
        (&["seconds", "second", "sec", "s"], 1.0),
        (&["minutes", "minute", "min", "m"], 60.0),
        (&["hours", "hour", "hr", "h"], 3600.0),
        (&["days", "day", "d"], 86_400.0),
        (&["weeks", "week", "w"], 604_800.0),
        (&["months", "month", "M"], 2_629_800.0),
        (&["years", "year", "y"], 31_557_600.0),
        (&[""], 1.0),
    ];
    let mut rest = span.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let (_, scale) = UNITS.iter().find(|(names, _)| names.contains(&unit))?;
        total += number * scale;
        rest = rest[unit_end..].trim_start();
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALENDARS: [(&str, bool); 13] = [
        ("every day", false),
        ("daily", true),
        ("Mon..Fri 03:00", true),
        ("*-*-* 04:00:00", true),
        ("Sat,Sun 9:00", true),
        ("weekly", true),
        ("*:0/15", true),
        ("2026-12-24", true),
        ("03:00", true),
        ("Mon *-*-* 10:00 UTC", true),
        ("foo", false),
        ("25:00", false),
        ("*-*-32", false),
    ];
    const SPANS: [(&str, Option<u64>); 8] = [
        ("5m", Some(300)),
        ("5x", None),
        ("1h 30m", Some(5400)),
        ("90", Some(90)),
        ("2 days", Some(172_800)),
        ("5 m", Some(300)),
        ("-1", None),
        ("", None),
    ];

    #[test]
    fn the_builtin_parser_reads_calendars_and_spans_as_systemd_does() {
        for (spec, ok) in CALENDARS {
            assert_eq!(builtin_calendar(spec), ok, "{spec:?}");
        }
        for (span, secs) in SPANS {
            assert_eq!(
                builtin_timespan(span).map(|d| d.as_secs()),
                secs,
                "{span:?}"
            );
        }
    }

    #[test]
    fn systemd_analyze_agrees_where_it_is_installed() {
        if analyze(&["--version"]).is_none() {
            eprintln!("systemd-analyze is not installed: only the builtin parser is checked");
            return;
        }
        for (spec, ok) in CALENDARS {
            assert_eq!(check_calendar(spec).is_ok(), ok, "{spec:?}");
        }
        for (span, secs) in SPANS {
            assert_eq!(check_timespan(span).is_ok(), secs.is_some(), "{span:?}");
        }
        assert_eq!(
            longest_gap("Mon..Fri 03:00"),
            Some(Duration::from_secs(3 * DAY)),
            "Friday to Monday"
        );
    }

    #[test]
    fn shorthands_have_their_longest_gap() {
        assert_eq!(longest_gap("daily"), Some(Duration::from_secs(DAY)));
        assert_eq!(longest_gap("hourly"), Some(Duration::from_secs(3600)));
    }
}
