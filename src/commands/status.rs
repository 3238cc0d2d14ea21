//! `status`: the health check a person runs instead of grepping `vault token lookup`. Read-only:
//! it takes no lock and writes no log line. Exit 0 only when healthy.

use super::{Context, MANUAL_MINT, dn};
use crate::decide::{ForeignReason, Verdict, judge};
use crate::runlog::{escape, tail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Below this TTL our token counts as unhealthy: a daily timer keeps it near the full period.
const LOW_TTL: i64 = 24 * 3600;

/// The `--json` shape. Stable: fields are only ever added.
#[derive(Debug, Serialize)]
pub struct Status {
    pub healthy: bool,
    /// `ours`, `foreign`, `invalid` (token rejected), `unreachable`, or `no-token`.
    pub state: &'static str,
    pub advice: Option<String>,
    pub token_file: String,
    pub vault_addr: String,
    pub expected_display_name: String,
    pub display_name: Option<String>,
    pub policies: Vec<String>,
    pub identity_policies: Vec<String>,
    pub ttl_secs: Option<i64>,
    pub expires_at: Option<String>,
    pub period_secs: Option<i64>,
    pub explicit_max_ttl_secs: Option<i64>,
    pub renewable: Option<bool>,
    pub orphan: Option<bool>,
    pub capabilities: BTreeMap<String, Vec<String>>,
    pub error: Option<String>,
    pub last_log_lines: Vec<String>,
}

pub async fn status(ctx: &Context<'_>, check_paths: &[String], json: bool) -> u8 {
    let status = collect(ctx, check_paths).await;
    let text = if json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&status).expect("status serialises")
        )
    } else {
        render(&status)
    };
    // `status | head -1` closes the pipe early; that is no reason to panic (print! would).
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    match status.state {
        _ if status.healthy => 0,
        "foreign" => 3,
        _ => 4,
    }
}

async fn collect(ctx: &Context<'_>, check_paths: &[String]) -> Status {
    let s = ctx.settings;
    let mut st = Status {
        healthy: false,
        state: "no-token",
        advice: None,
        token_file: ctx.file.path().display().to_string(),
        vault_addr: s.vault_addr.to_string(),
        expected_display_name: ctx.our_name.clone(),
        display_name: None,
        policies: vec![],
        identity_policies: vec![],
        ttl_secs: None,
        expires_at: None,
        period_secs: None,
        explicit_max_ttl_secs: None,
        renewable: None,
        orphan: None,
        capabilities: BTreeMap::new(),
        error: None,
        last_log_lines: tail(&s.log_file, 5),
    };
    let snapshot = match ctx.file.read() {
        Ok(snap) => snap,
        Err(e) => {
            st.error = Some(e.to_string());
            st.advice = Some(format!("mint our token: {MANUAL_MINT}"));
            return st;
        }
    };
    let info = match ctx.client.lookup_self(&snapshot.token).await {
        Ok(info) => info,
        Err(e) => {
            st.error = Some(escape(&e.to_string(), 600));
            if e.is_permission_denied() {
                st.state = "invalid";
                st.advice = Some(format!(
                    "the token expired or was revoked; mint a new one: {MANUAL_MINT}"
                ));
            } else {
                st.state = "unreachable";
                st.advice = Some(format!(
                    "check that {} is the right address and the server is up",
                    s.vault_addr
                ));
            }
            return st;
        }
    };
    st.display_name = Some(dn(&info.display_name));
    st.policies = info.policies.iter().map(|p| escape(p, 200)).collect();
    st.identity_policies = info
        .identity_policies
        .iter()
        .map(|p| escape(p, 200))
        .collect();
    st.ttl_secs = Some(info.ttl);
    st.expires_at = (info.ttl > 0).then(|| {
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(info.ttl as u64))
            .to_string()
    });
    st.period_secs = info.period;
    st.explicit_max_ttl_secs = Some(info.explicit_max_ttl);
    st.renewable = info.renewable;
    st.orphan = Some(info.orphan);
    match ctx
        .client
        .capabilities_self(&snapshot.token, check_paths)
        .await
    {
        Ok(caps) => st.capabilities = caps,
        Err(e) => st.error = Some(format!("capabilities: {}", escape(&e.to_string(), 300))),
    }
    match judge(&info, &ctx.our_name, &s.require_policies) {
        Verdict::Ours => {
            st.state = "ours";
            if info.ttl < LOW_TTL {
                st.advice = Some(
                    "our token is close to expiry: is the timer running? `systemctl --user list-timers vault-token-renew.timer`".into(),
                );
            } else if info.renewable == Some(false) {
                st.advice = Some(format!(
                    "our token is not renewable; mint a new one: {MANUAL_MINT}"
                ));
            } else {
                st.healthy = true;
            }
        }
        Verdict::Foreign(reason) => {
            st.state = "foreign";
            let why = match reason {
                ForeignReason::WrongName => format!("its display name is not {}", ctx.our_name),
                ForeignReason::MissingPolicies(p) => {
                    format!("it lacks required policies {}", p.join(","))
                }
            };
            st.advice = Some(format!(
                "the file holds a foreign token ({why}); run `vault-token-renew` to heal it, or: {MANUAL_MINT}"
            ));
        }
    }
    st
}

fn human_secs(secs: i64) -> String {
    if secs <= 0 {
        return "none".into();
    }
    let d = secs / 86400;
    let h = (secs % 86400) / 3600;
    let m = (secs % 3600) / 60;
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn render(st: &Status) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        (
            "health",
            if st.healthy {
                "healthy".into()
            } else {
                format!("UNHEALTHY ({})", st.state)
            },
        ),
        ("token file", st.token_file.clone()),
        ("server", st.vault_addr.clone()),
    ];
    if let Some(name) = &st.display_name {
        let mark = if st.state == "ours" {
            "ours"
        } else {
            "NOT ours"
        };
        rows.push((
            "display name",
            format!("{name} ({mark}; ours is {})", st.expected_display_name),
        ));
        rows.push(("policies", st.policies.join(", ")));
        rows.push((
            "identity policies",
            if st.identity_policies.is_empty() {
                "none".into()
            } else {
                st.identity_policies.join(", ")
            },
        ));
        if let Some(ttl) = st.ttl_secs {
            let until = st
                .expires_at
                .as_deref()
                .map(|e| format!(", expires {e}"))
                .unwrap_or_default();
            rows.push(("ttl", format!("{}{until}", human_secs(ttl))));
        }
        rows.push((
            "period",
            st.period_secs
                .map_or("none (not periodic)".into(), human_secs),
        ));
        rows.push((
            "explicit max ttl",
            st.explicit_max_ttl_secs.map_or("none".into(), human_secs),
        ));
        let yes_no = |b: Option<bool>| {
            b.map_or("unknown", |b| if b { "yes" } else { "no" })
                .to_string()
        };
        rows.push(("renewable", yes_no(st.renewable)));
        rows.push(("orphan", yes_no(st.orphan)));
        for (path, caps) in &st.capabilities {
            rows.push(("capabilities", format!("{path}: {}", caps.join(", "))));
        }
    }
    if let Some(e) = &st.error {
        rows.push(("error", e.clone()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:>width$}  {v}\n"));
    }
    if !st.last_log_lines.is_empty() {
        out.push_str("\nlast log lines:\n");
        for l in &st.last_log_lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    if let Some(a) = &st.advice {
        out.push_str(&format!("\nwhat to do: {a}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::human_secs;

    #[test]
    fn human_units() {
        assert_eq!(human_secs(2764800), "32d 0h");
        assert_eq!(human_secs(3 * 3600 + 120), "3h 2m");
        assert_eq!(human_secs(59 * 60), "59m");
        assert_eq!(human_secs(0), "none");
    }
}
