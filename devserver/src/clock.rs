//! The double's controllable clock and the time formats Vault puts on the wire.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall clock plus an offset tests can push forward, so TTLs count down on demand.
#[derive(Default)]
pub(crate) struct Clock {
    offset: Duration,
}

impl Clock {
    /// Time since the Unix epoch, as the double sees it.
    pub(crate) fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + self.offset
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}

/// RFC 3339 in UTC with Go's fractional-second style: trailing zeros dropped (contract §1, `expire_time`).
pub(crate) fn rfc3339(t: Duration) -> String {
    let secs = t.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    let nanos = t.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `humanDuration` of openbao `sdk/framework/lease.go` (@1335248a): Go's `time.Duration.String()`
/// for whole seconds with the zero parts dropped (`768h0m0s` → `768h`, `1h0m5s` → `1h5s`), as the
/// TTL-capping warnings print durations (contract §2.4).
pub(crate) fn human_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    };
    if out.ends_with("m0s") {
        out.truncate(out.len() - 2);
    }
    if let Some(i) = out.find("h0m").filter(|&i| i > 0) {
        out.replace_range(i + 1..i + 3, "");
    }
    out
}

/// Vault's `parseutil.ParseDurationSecond`: a bare number is seconds, `Nd` is days, otherwise a Go
/// duration string such as `768h0m0s` or `1h30m` (contract §2, §3 `period`/`ttl`). Negative values are
/// returned as such so callers can report "must be positive".
pub(crate) fn parse_duration_secs(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Null => Ok(0),
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("invalid duration {n}")),
        serde_json::Value::String(s) => parse_duration_str(s.trim()),
        other => Err(format!("invalid duration {other}")),
    }
}

fn parse_duration_str(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    if let Some(days) = s.strip_suffix('d')
        && let Ok(n) = days.parse::<i64>()
    {
        return Ok(n * 86_400);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let bad = || format!("time: invalid duration \"{s}\"");
    let mut total = 0f64;
    if rest == "0" {
        return Ok(0);
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    let secs = total as i64;
    Ok(if neg { -secs } else { secs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_drops_trailing_zeros_like_go() {
        assert_eq!(rfc3339(Duration::new(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::new(1_720_195_200, 123_000_000)),
            "2024-07-05T16:00:00.123Z"
        );
    }

    #[test]
    fn durations_parse_like_parseutil() {
        assert_eq!(parse_duration_secs(&json!("768h")), Ok(2_764_800));
        assert_eq!(parse_duration_secs(&json!("768h0m0s")), Ok(2_764_800));
        assert_eq!(parse_duration_secs(&json!("32d")), Ok(2_764_800));
        assert_eq!(parse_duration_secs(&json!(3600)), Ok(3600));
        assert_eq!(parse_duration_secs(&json!("3600")), Ok(3600));
        assert_eq!(parse_duration_secs(&json!("1h30m")), Ok(5400));
        assert_eq!(parse_duration_secs(&json!("-1h")), Ok(-3600));
        assert_eq!(parse_duration_secs(&json!("")), Ok(0));
        assert!(parse_duration_secs(&json!("soon")).is_err());
        assert_eq!(human_duration(2_764_800), "768h");
        assert_eq!(human_duration(5400), "1h30m");
        assert_eq!(human_duration(3605), "1h5s");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(45), "45s");
    }
}
