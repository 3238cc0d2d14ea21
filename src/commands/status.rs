//! `status`: the health check a person runs instead of grepping `vault token lookup`. Read-only:
//! it takes no lock and writes no log line. Exit 0 only when healthy. The text form is for people
//! (aligned, coloured only on a terminal, times in human units, one line of what to do); `--json`
//! is for scripts and only ever gains fields (documented in docs/runbook.md).

use super::sweep::{SweepOptions, sweep};
use super::{Context, command_for, dn, manual_mint, read_failure};
use crate::cli::StatusArgs;
use crate::decide::{ForeignReason, Verdict, choose_mint_path, judge, mint_candidates};
use crate::identity::{Identity, TOOL};
use crate::runlog::{escape, tail};
use crate::settings::Settings;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Below this TTL our token counts as unhealthy: a daily timer keeps it near the full period.
const LOW_TTL: i64 = 24 * 3600;

/// The `--json` shape. Stable: fields are only ever added.
#[derive(Debug, Serialize)]
pub struct Status {
    /// `default` or the `[profiles.<name>]` this status is of.
    pub profile: String,
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
    /// The token's accessor (not a secret: it can look the token up, never use it).
    pub accessor: Option<String>,
    /// The auth path it was created on, e.g. `auth/token/create-orphan`, `auth/oidc/login`.
    pub auth_path: Option<String>,
    /// RFC 3339 time of its last issue (creation or last renewal).
    pub issue_time: Option<String>,
    /// RFC 3339 time it was created.
    pub created_at: Option<String>,
    /// The token file's mode when group or others may read it (`0644`): unhealthy.
    pub loose_mode: Option<String>,
    pub renewable: Option<bool>,
    pub orphan: Option<bool>,
    pub capabilities: BTreeMap<String, Vec<String>>,
    pub error: Option<String>,
    pub last_log_lines: Vec<String>,
    /// The systemd user timer, when a user manager answered; null otherwise.
    pub timer: Option<Timer>,
    /// The mark this configuration's mints carry; a sweep revokes only tokens that carry it.
    pub identity: IdentityView,
    /// Other live tokens with our display name, as a `sweep --dry-run` finds them; null when
    /// the file's token is not ours (it would be the wrong one to keep).
    pub copies: Option<Copies>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub tool: &'static str,
    pub machine: String,
    /// Where the machine id came from: a file path, or the hostname fallback.
    pub machine_source: &'static str,
    pub user: String,
    pub configuration: String,
}

impl IdentityView {
    fn of(id: &Identity) -> IdentityView {
        IdentityView {
            tool: TOOL,
            machine: id.machine.clone(),
            machine_source: id.machine_source.describe(),
            user: escape(&id.user, 200),
            configuration: id.config.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Copies {
    /// Whether every accessor was listed (else only this configuration's record was searched).
    pub listed: bool,
    /// Stale copies with our mark: the next sweep revokes them.
    pub stale: Vec<String>,
    /// Same-named tokens without our mark: left alive unless `sweep --include-unmarked`.
    pub unmarked: Vec<Unmarked>,
    /// Why the search was incomplete.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unmarked {
    pub accessor: String,
    /// `unmarked`, `other-machine`, `other-user`, `other-config` or `other-tool`.
    pub reason: &'static str,
}

/// `vault-token-renew.timer` as `systemctl --user show` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// False when the unit is not installed (LoadState is not `loaded`).
    pub installed: bool,
    /// systemd's ActiveState: `active`, `inactive`, `failed`, …
    pub active_state: String,
    /// RFC 3339; null when nothing is scheduled.
    pub next_run: Option<String>,
    pub last_run: Option<String>,
}

pub async fn status(ctx: &Context<'_>, args: &StatusArgs) -> u8 {
    let status = collect(ctx, &args.check_paths).await;
    let plugin = plugin_of(&status, args);
    let text = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&status).expect("status serialises")
        )
    } else {
        text_of(&status, plugin.as_ref(), args)
    };
    print_out(&text);
    exit_code_of(&status, plugin.as_ref())
}

/// `status` for every profile of the config file, the default first: one block each (`--json`:
/// one object keyed by profile name); the worst profile decides the exit code.
pub async fn status_of_profiles(each: &[Settings], args: &StatusArgs) -> u8 {
    let mut statuses = Vec::new();
    for settings in each {
        let status = match Context::new(settings) {
            Ok(ctx) => collect(&ctx, &args.check_paths).await,
            Err(report) => unbuildable(settings, &report.message),
        };
        statuses.push(status);
    }
    let plugins: Vec<Option<PluginVerdict>> = statuses.iter().map(|s| plugin_of(s, args)).collect();
    let text = if args.json {
        let keyed: BTreeMap<&str, &Status> =
            statuses.iter().map(|s| (s.profile.as_str(), s)).collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&keyed).expect("status serialises")
        )
    } else {
        let blocks: Vec<String> = statuses
            .iter()
            .zip(&plugins)
            .map(|(s, p)| format!("profile {}:\n{}", s.profile, text_of(s, p.as_ref(), args)))
            .collect();
        blocks.join("\n")
    };
    print_out(&text);
    let codes = statuses
        .iter()
        .zip(&plugins)
        .map(|(s, p)| exit_code_of(s, p.as_ref()));
    worst(codes, plugins.iter().any(Option::is_some))
}

/// The worst of several profiles' codes. Monitoring-plugin codes rank CRITICAL (2) over
/// WARNING (1) over UNKNOWN (3) over OK; status codes rank by number (4 FAIL over 3 foreign).
fn worst(codes: impl Iterator<Item = u8>, plugin: bool) -> u8 {
    let rank = |code: u8| match (plugin, code) {
        (true, 2) => 3,
        (true, 1) => 2,
        (true, 3) => 1,
        (_, code) => code,
    };
    codes.max_by_key(|c| rank(*c)).unwrap_or(0)
}

/// A profile whose client cannot be built (a bad CA file): its status says why.
fn unbuildable(settings: &Settings, why: &str) -> Status {
    let mut st = blank(settings, settings.token_file.display().to_string());
    st.state = "unreachable";
    st.error = Some(escape(why, 600));
    st
}

fn plugin_of(status: &Status, args: &StatusArgs) -> Option<PluginVerdict> {
    (args.warn.is_some() || args.crit.is_some())
        .then(|| plugin_verdict(status, args.warn, args.crit))
}

fn text_of(status: &Status, plugin: Option<&PluginVerdict>, args: &StatusArgs) -> String {
    let style = Style {
        color: use_color(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        ),
    };
    let width = (!args.full).then(terminal_width).flatten();
    let text = render(status, style, SystemTime::now(), width);
    match plugin {
        Some(p) => format!("{}\n{text}", p.summary),
        None => text,
    }
}

fn print_out(text: &str) {
    // `status | head -1` closes the pipe early; that is no reason to panic (print! would).
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}

fn exit_code_of(status: &Status, plugin: Option<&PluginVerdict>) -> u8 {
    if let Some(p) = plugin {
        return p.code;
    }
    match status.state {
        _ if status.healthy => 0,
        "foreign" => 3,
        _ => 4,
    }
}

/// A monitoring plugin's answer (Nagios/Icinga/Sensu): exit 0 OK, 1 WARNING, 2 CRITICAL,
/// 3 UNKNOWN, and one summary line with perfdata.
#[derive(Debug, PartialEq, Eq)]
struct PluginVerdict {
    code: u8,
    summary: String,
}

fn plugin_verdict(st: &Status, warn: Option<Duration>, crit: Option<Duration>) -> PluginVerdict {
    let left = st.ttl_secs.unwrap_or(0).max(0);
    let below = |t: Option<Duration>| t.is_some_and(|t| (left as u64) < t.as_secs());
    let (code, word) = match st.state {
        "unreachable" => (3, "UNKNOWN"),
        "ours" if below(crit) => (2, "CRITICAL"),
        "ours" if below(warn) || !st.healthy => (1, "WARNING"),
        "ours" => (0, "OK"),
        _ => (2, "CRITICAL"),
    };
    let threshold = |t: Option<Duration>| t.map(|t| t.as_secs().to_string()).unwrap_or_default();
    let what = match st.state {
        "ours" => format!("{} left", human_secs(left)),
        state => format!("token file is {state}"),
    };
    PluginVerdict {
        code,
        summary: format!(
            "VAULT-TOKEN {word} - {what} | time_left={left}s;{};{};0",
            threshold(warn),
            threshold(crit)
        ),
    }
}

/// Columns of the terminal on stdout: `COLUMNS` when set, else the terminal's size; None in a
/// pipe, where a script wants whole lines.
fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let size = rustix::termios::tcgetwinsize(&stdout).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Cuts a line to `width` display columns (escape sequences take none), marking the cut with `…`.
fn cut(line: &str, width: Option<usize>) -> String {
    let Some(width) = width.filter(|w| *w > 1) else {
        return line.to_owned();
    };
    let mut out = String::new();
    let mut cols = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for e in chars.by_ref() {
                out.push(e);
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        if cols + 1 == width && chars.peek().is_some() {
            out.push('…');
            if line.contains('\x1b') {
                out.push_str("\x1b[0m");
            }
            return out;
        }
        out.push(c);
        cols += 1;
    }
    out
}

async fn collect(ctx: &Context<'_>, check_paths: &[String]) -> Status {
    let s = ctx.settings;
    let st = blank(s, ctx.file.path().display().to_string());
    continue_collect(ctx, check_paths, st).await
}

/// What is known before asking anything: the settings, the log and the timer.
fn blank(s: &Settings, token_file: String) -> Status {
    Status {
        profile: s.profile.clone(),
        healthy: false,
        state: "no-token",
        advice: None,
        token_file,
        vault_addr: crate::address::shown(&s.vault_addr),
        expected_display_name: crate::decide::stored_display_name(&s.display_name),
        display_name: None,
        policies: vec![],
        identity_policies: vec![],
        ttl_secs: None,
        expires_at: None,
        period_secs: None,
        explicit_max_ttl_secs: None,
        accessor: None,
        auth_path: None,
        issue_time: None,
        created_at: None,
        loose_mode: None,
        renewable: None,
        orphan: None,
        capabilities: BTreeMap::new(),
        error: None,
        last_log_lines: tail(&s.log_file, 5, &s.profile),
        timer: timer_status(&crate::units::Names::of(&s.profile).timer),
        identity: IdentityView::of(&Identity::current(&s.token_file, &s.display_name)),
        copies: None,
    }
}

async fn continue_collect(ctx: &Context<'_>, check_paths: &[String], mut st: Status) -> Status {
    let s = ctx.settings;
    let snapshot = match ctx.file.read() {
        Ok(snap) => snap,
        Err(e) => {
            st.error = Some(read_failure(&e, &s.profile));
            st.advice = Some(format!("mint our token: {}", manual_mint(&s.profile)));
            return st;
        }
    };
    let info = match ctx.client.lookup_self(&snapshot.token).await {
        Ok(info) => info,
        Err(e) => {
            st.error = Some(escape(&e.to_string(), 600));
            if e.is_invalid_token() {
                st.state = "invalid";
                st.advice = Some(format!(
                    "the token expired or was revoked; mint a new one: {}",
                    manual_mint(&s.profile)
                ));
            } else if e.is_permission_denied() {
                // A live token without the `default` policy: we always mint with it.
                st.state = "foreign";
                // It may still be allowed to ask about the mint paths (its own policy can grant that).
                let asked: Vec<String> = mint_candidates(s.token_role.as_deref())
                    .iter()
                    .map(|p| p.api_path())
                    .collect();
                let caps = ctx
                    .client
                    .capabilities_self(&snapshot.token, &asked)
                    .await
                    .ok();
                let can = heal_ability(
                    !s.policies.is_empty(),
                    s.token_role.as_deref(),
                    caps.as_ref(),
                );
                st.capabilities = caps.unwrap_or_default();
                st.advice = Some(foreign_advice(
                    "a live token that may not look itself up, so not ours (no `default` policy?)",
                    can,
                    &s.profile,
                ));
            } else {
                st.state = "unreachable";
                st.advice = Some(format!(
                    "check that {} is the right address and the server is up",
                    crate::address::shown(&s.vault_addr)
                ));
            }
            return st;
        }
    };
    st.loose_mode = snapshot.loose_mode.map(|m| format!("{m:04o}"));
    st.display_name = Some(dn(&info.display_name));
    st.accessor = Some(escape(&info.accessor, 100));
    st.auth_path = Some(escape(&info.path, 200));
    st.issue_time = info.issue_time.as_deref().map(|t| escape(t, 60));
    st.created_at = info.creation_time.filter(|t| *t > 0).map(|t| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64)).to_string()
    });
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
    // The mint paths are always asked about: the advice depends on them.
    let mut asked: Vec<String> = check_paths.to_vec();
    for path in mint_candidates(s.token_role.as_deref()) {
        if !asked.contains(&path.api_path()) {
            asked.push(path.api_path());
        }
    }
    let caps = match ctx.client.capabilities_self(&snapshot.token, &asked).await {
        Ok(caps) => Some(caps),
        Err(e) => {
            st.error = Some(format!("capabilities: {}", escape(&e.to_string(), 300)));
            None
        }
    };
    st.capabilities = caps.clone().unwrap_or_default();
    match judge(
        &info,
        &ctx.our_name,
        &s.require_policies,
        s.token_role.as_deref(),
    ) {
        Verdict::Ours => {
            st.state = "ours";
            if info.ttl < LOW_TTL {
                st.advice = Some(format!(
                    "our token is close to expiry: is the timer running? `systemctl --user list-timers {}`",
                    crate::units::Names::of(&s.profile).timer
                ));
            } else if info.renewable == Some(false) {
                st.advice = Some(format!(
                    "our token is not renewable; mint a new one: {}",
                    manual_mint(&s.profile)
                ));
            } else if let Some(mode) = &st.loose_mode {
                st.advice = Some(format!(
                    "the token file is readable by others (mode {mode}): `chmod 600 {}`",
                    st.token_file
                ));
            } else {
                st.healthy = true;
                // Healthy today, but nothing will renew it: say so before it matters.
                st.advice = match &st.timer {
                    Some(t) if !t.installed => Some(format!(
                        "no timer renews this token: run `{}` (or enable the home-manager module)",
                        command_for(&s.profile, "install")
                    )),
                    Some(t) if t.active_state != "active" => Some(format!(
                        "the renewal timer is not running: `systemctl --user enable --now {}`",
                        crate::units::Names::of(&s.profile).timer
                    )),
                    _ => None,
                };
            }
            let copies = find_copies(ctx, &snapshot.token, &info.accessor).await;
            if st.advice.is_none() {
                st.advice = copies_advice(&copies, &s.profile);
            }
            st.copies = Some(copies);
        }
        Verdict::Foreign(reason) => {
            st.state = "foreign";
            let why = match reason {
                ForeignReason::WrongName => format!("its display name is not {}", ctx.our_name),
                reason => crate::decide::foreign_words(&reason),
            };
            let can = heal_ability(
                !s.policies.is_empty(),
                s.token_role.as_deref(),
                caps.as_ref(),
            );
            st.advice = Some(foreign_advice(&why, can, &s.profile));
        }
    }
    st
}

/// What a heal with the file's foreign token would do, judged as the heal itself judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HealAbility {
    /// Its capabilities allow this mint path.
    Can(String),
    /// Its capabilities are unknown: only a heal attempt tells.
    Unknown,
    /// No mint path is allowed; a renew would end in DRIFT.
    Cannot,
    /// No policies are configured, so nothing will be minted whatever the token may do.
    NoPolicies,
}

fn heal_ability(
    policies_configured: bool,
    token_role: Option<&str>,
    caps: Option<&BTreeMap<String, Vec<String>>>,
) -> HealAbility {
    if !policies_configured {
        return HealAbility::NoPolicies;
    }
    match (caps, choose_mint_path(token_role, caps)) {
        (None, _) => HealAbility::Unknown,
        (Some(_), Some(path)) => HealAbility::Can(path.api_path()),
        (Some(_), None) => HealAbility::Cannot,
    }
}

/// The next step for a foreign token: heal only when the token can mint ours.
fn foreign_advice(why: &str, can: HealAbility, profile: &str) -> String {
    let remint = manual_mint(profile);
    let heal = command_for(profile, "");
    match can {
        HealAbility::Can(path) => format!(
            "the file holds a foreign token ({why}) that may mint through {path}; run `{heal}` to heal it, or: {remint}"
        ),
        HealAbility::Unknown => format!(
            "the file holds a foreign token ({why}) whose mint authority is unknown; `{heal}` tries a heal, or mint ours with a login: {remint}"
        ),
        HealAbility::Cannot => format!(
            "the file holds a foreign token ({why}) that cannot mint ours (no mint path is allowed), so a heal would fail; mint ours with a login: {remint}, and find what wrote the file"
        ),
        HealAbility::NoPolicies => format!(
            "the file holds a foreign token ({why}); no policies to mint are configured (set `policies` or pass --policy), then: {remint}"
        ),
    }
}

/// A dry-run sweep with the file's token: what a sweep would revoke and what it leaves.
async fn find_copies(ctx: &Context<'_>, token: &crate::secret::Token, keep: &str) -> Copies {
    let dry_run = SweepOptions {
        dry_run: true,
        include_unmarked: false,
    };
    let report = sweep(ctx, token, keep, dry_run).await;
    Copies {
        listed: report.listed,
        stale: report.would_revoke.iter().map(|a| escape(a, 100)).collect(),
        unmarked: report
            .unmarked
            .iter()
            .map(|(a, mark)| Unmarked {
                accessor: escape(a, 100),
                reason: mark.code(),
            })
            .collect(),
        problem: report.problem.or_else(|| {
            (report.failed > 0).then(|| format!("{} look-up(s) failed", report.failed))
        }),
    }
}

fn copies_advice(copies: &Copies, profile: &str) -> Option<String> {
    let sweep = command_for(profile, "sweep");
    if !copies.stale.is_empty() {
        return Some(format!(
            "{} stale cop(ies) of our token are alive: `{sweep}` revokes them",
            copies.stale.len()
        ));
    }
    (!copies.unmarked.is_empty()).then(|| format!(
        "{} token(s) carry our display name but not this configuration's mark (another machine or configuration sharing the name, or older mints); they are left alone — if they are yours to remove, `{sweep} --dry-run` lists them and `{sweep} --include-unmarked` revokes them",
        copies.unmarked.len()
    ))
}

/// Colour is for a person at a terminal: never in a pipe, never with NO_COLOR or TERM=dumb.
fn use_color(stdout_is_terminal: bool, no_color: bool, dumb: bool) -> bool {
    stdout_is_terminal && !no_color && !dumb
}

#[derive(Debug, Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn good(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `31d 23h`, `3h 2m`, `59m`, `none`: the two largest units, which is all a person reads.
fn human_secs(secs: i64) -> String {
    if secs <= 0 {
        return "none".into();
    }
    let d = secs / 86400;
    let h = (secs % 86400) / 3600;
    let m = (secs % 3600) / 60;
    match (d, h) {
        (0, 0) if m == 0 => format!("{secs}s"),
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `in 13h 2m` / `5m ago` for an RFC 3339 time, relative to `now`.
fn relative(rfc3339: &str, now: SystemTime) -> Option<String> {
    let at = humantime::parse_rfc3339(rfc3339).ok()?;
    Some(match at.duration_since(now) {
        Ok(ahead) => format!("in {}", human_secs(ahead.as_secs() as i64)),
        Err(e) => format!("{} ago", human_secs(e.duration().as_secs() as i64)),
    })
}

fn render(st: &Status, style: Style, now: SystemTime, width: Option<usize>) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        (
            "health",
            if st.healthy {
                style.good("healthy")
            } else {
                style.bad(&format!("UNHEALTHY ({})", st.state))
            },
        ),
        (
            "token file",
            match &st.loose_mode {
                Some(mode) => format!(
                    "{} {}",
                    st.token_file,
                    style.bad(&format!("(mode {mode}: readable by others)"))
                ),
                None => st.token_file.clone(),
            },
        ),
        ("server", st.vault_addr.clone()),
    ];
    if let Some(name) = &st.display_name {
        let mark = if st.state == "ours" {
            style.good("ours")
        } else {
            format!(
                "{}; ours is {}",
                style.bad("NOT ours"),
                st.expected_display_name
            )
        };
        rows.push(("display name", format!("{name} ({mark})")));
        rows.push(("accessor", st.accessor.clone().unwrap_or_default()));
        rows.push(("auth path", st.auth_path.clone().unwrap_or_default()));
        if let Some(created) = &st.created_at {
            rows.push(("created", created.clone()));
        }
        if let Some(issued) = &st.issue_time {
            rows.push(("issued", issued.clone()));
        }
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
            let left = human_secs(ttl);
            let left = if st.state == "ours" && ttl < LOW_TTL {
                style.bad(&left)
            } else {
                left
            };
            let until = st
                .expires_at
                .as_deref()
                .map(|e| format!(" (expires {e})"))
                .unwrap_or_default();
            rows.push(("time left", format!("{left}{until}")));
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
    let id = &st.identity;
    rows.push((
        "identity mark",
        format!(
            "machine {} (from {}), user {}, configuration {}",
            id.machine, id.machine_source, id.user, id.configuration
        ),
    ));
    if let Some(copies) = &st.copies {
        rows.push(("other copies", render_copies(copies, style)));
    }
    rows.push((
        "next renewal",
        match &st.timer {
            None => style.dim("unknown (no systemd user manager answered)"),
            Some(t) if !t.installed => style.warn("no timer installed"),
            Some(t) => match &t.next_run {
                Some(next) => format!(
                    "{} ({next}, timer {})",
                    relative(next, now).unwrap_or_default(),
                    t.active_state
                ),
                None => style.warn(&format!("nothing scheduled (timer {})", t.active_state)),
            },
        },
    ));
    if let Some(e) = &st.error {
        rows.push(("error", style.bad(e)));
    }
    let key_width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&cut(&format!("{k:<key_width$}  {v}"), width));
        out.push('\n');
    }
    if !st.last_log_lines.is_empty() {
        out.push_str(&format!("\n{}\n", style.dim("last log lines:")));
        for l in &st.last_log_lines {
            out.push_str(&cut(&format!("  {}", color_log_line(l, style)), width));
            out.push('\n');
        }
        if width.is_some() {
            out.push_str(&cut(
                &style.dim("(cut to the terminal; --full shows all)"),
                width,
            ));
            out.push('\n');
        }
    }
    if let Some(a) = &st.advice {
        out.push_str(&format!("\n{} {a}\n", style.warn("what to do:")));
    }
    out
}

/// `none (searched: the record and the accessor list)`, or the stale and unmarked accessors.
fn render_copies(copies: &Copies, style: Style) -> String {
    let searched = if copies.listed {
        "the record and the accessor list"
    } else {
        "this configuration's record only; the token may not list accessors"
    };
    let mut parts = vec![];
    if !copies.stale.is_empty() {
        parts.push(style.warn(&format!(
            "{} stale (a sweep revokes them): {}",
            copies.stale.len(),
            copies.stale.join(", ")
        )));
    }
    if !copies.unmarked.is_empty() {
        let list: Vec<String> = copies
            .unmarked
            .iter()
            .map(|u| format!("{} ({})", u.accessor, u.reason))
            .collect();
        parts.push(format!(
            "{} with our name but not our mark, left alone: {}",
            copies.unmarked.len(),
            list.join(", ")
        ));
    }
    if parts.is_empty() {
        parts.push("none".into());
    }
    if let Some(p) = &copies.problem {
        parts.push(style.bad(&format!("search incomplete: {p}")));
    }
    format!("{} (searched {searched})", parts.join("; "))
}

/// Colours the outcome word of a log line (`<time> OK …`, `<time> DRIFT: …`).
fn color_log_line(line: &str, style: Style) -> String {
    let Some((time, rest)) = line.split_once(' ') else {
        return line.to_owned();
    };
    let word_end = rest.find([' ', ':']).unwrap_or(rest.len());
    let (word, tail) = rest.split_at(word_end);
    let word = match word {
        "OK" | "HEALED" => style.good(word),
        "DRIFT" | "FAIL" => style.bad(word),
        _ => word.to_owned(),
    };
    format!("{} {word}{tail}", style.dim(time))
}

/// Asks the user's systemd about the timer; None when there is no user manager (a container, CI,
/// ssh without a session) or it does not answer within two seconds.
fn timer_status(unit: &str) -> Option<Timer> {
    let mut child = std::process::Command::new("systemctl")
        .args([
            "--user",
            "show",
            unit,
            "--timestamp=unix",
            "--property=LoadState,ActiveState,NextElapseUSecRealtime,LastTriggerUSec",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    parse_timer(&text)
}

/// Parses `systemctl show --timestamp=unix` output (`Key=value` lines, times as `@<seconds>`).
fn parse_timer(text: &str) -> Option<Timer> {
    let props: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let load = *props.get("LoadState")?;
    let time = |key: &str| {
        let secs: u64 = props.get(key)?.strip_prefix('@')?.parse().ok()?;
        (secs > 0).then(|| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        })
    };
    Some(Timer {
        installed: load == "loaded",
        active_state: props.get("ActiveState").unwrap_or(&"unknown").to_string(),
        next_run: time("NextElapseUSecRealtime"),
        last_run: time("LastTriggerUSec"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Status {
        Status {
            profile: "default".into(),
            healthy: true,
            state: "ours",
            advice: None,
            token_file: "/home/alice/.vault-token".into(),
            vault_addr: "https://vault.example:8200/".into(),
            expected_display_name: "token-devvm-alice".into(),
            display_name: Some("token-devvm-alice".into()),
            policies: vec!["default".into(), "vault-admin".into()],
            identity_policies: vec![],
            ttl_secs: Some(2_764_000),
            expires_at: Some("2026-12-31T10:00:00Z".into()),
            period_secs: Some(2_764_800),
            explicit_max_ttl_secs: Some(0),
            accessor: Some("acc123".into()),
            auth_path: Some("auth/token/create-orphan".into()),
            issue_time: Some("2026-11-29T03:00:00Z".into()),
            created_at: Some("2026-11-01T03:00:00Z".into()),
            loose_mode: None,
            renewable: Some(true),
            orphan: Some(true),
            capabilities: BTreeMap::from([(
                "auth/token/create-orphan".into(),
                vec!["create".into(), "sudo".into()],
            )]),
            error: None,
            last_log_lines: vec![
                "2026-11-29T03:00:00Z OK renewed (dn=token-devvm-alice ttl=2764800s)".into(),
            ],
            identity: IdentityView {
                tool: TOOL,
                machine: "m1".into(),
                machine_source: "/etc/machine-id",
                user: "alice".into(),
                configuration: "c1".into(),
            },
            copies: Some(Copies::default()),
            timer: Some(Timer {
                installed: true,
                active_state: "active".into(),
                next_run: Some("2026-11-30T03:00:00Z".into()),
                last_run: None,
            }),
        }
    }

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-11-29T13:58:00Z").unwrap()
    }

    #[test]
    fn human_units() {
        assert_eq!(human_secs(2764800), "32d 0h");
        assert_eq!(human_secs(3 * 3600 + 120), "3h 2m");
        assert_eq!(human_secs(59 * 60), "59m");
        assert_eq!(human_secs(42), "42s");
        assert_eq!(human_secs(0), "none");
    }

    #[test]
    fn text_is_aligned_plain_and_says_when_the_next_run_is() {
        let text = render(&healthy(), Style { color: false }, now(), None);
        assert!(!text.contains('\x1b'), "no colour when not asked: {text}");
        let rows: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
        let value_column = rows[0].find("healthy").unwrap();
        for row in &rows {
            assert_eq!(
                row.char_indices().nth(value_column - 1).map(|(_, c)| c),
                Some(' '),
                "values start in one column: {row:?}"
            );
        }
        assert!(
            text.contains("time left          31d 23h (expires 2026-12-31T10:00:00Z)"),
            "{text}"
        );
        assert!(
            text.contains("in 13h 2m (2026-11-30T03:00:00Z, timer active)"),
            "{text}"
        );
        assert!(!text.contains("what to do"), "{text}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_color(true, false, false));
        assert!(!use_color(false, false, false), "a pipe gets no colour");
        assert!(!use_color(true, true, false), "NO_COLOR wins");
        assert!(!use_color(true, false, true), "TERM=dumb wins");
        let mut st = healthy();
        st.healthy = false;
        st.state = "foreign";
        st.advice = Some("run `vault-token-renew` to heal it".into());
        let text = render(&st, Style { color: true }, now(), None);
        assert!(
            text.contains("\x1b[1;31mUNHEALTHY (foreign)\x1b[0m"),
            "{text}"
        );
        assert!(text.contains("\x1b[32mOK\x1b[0m renewed"), "{text}");
        let last = text.lines().last().unwrap();
        assert!(
            last.contains("what to do:") && last.contains("heal it"),
            "{last}"
        );
    }

    #[test]
    fn a_foreign_token_is_advised_to_heal_only_when_it_can_mint() {
        let caps = |path: &str, have: &[&str]| {
            BTreeMap::from([(
                path.to_owned(),
                have.iter().map(|c| c.to_string()).collect(),
            )])
        };
        let weak = caps("auth/token/create-orphan", &["deny"]);
        let can = heal_ability(true, None, Some(&weak));
        assert_eq!(can, HealAbility::Cannot);
        let advice = foreign_advice("x", can.clone(), "default");
        assert!(!advice.contains("to heal it"), "{advice}");
        assert!(advice.contains("vault-token-renew mint --oidc"), "{advice}");
        let advice = foreign_advice("x", can, "lab");
        assert!(
            advice.contains("vault-token-renew --profile lab mint --oidc"),
            "a named profile's advice mints into its own file: {advice}"
        );
        let admin = caps("auth/token/create", &["update", "sudo"]);
        assert_eq!(
            heal_ability(true, None, Some(&admin)),
            HealAbility::Can("auth/token/create".into())
        );
        let role = caps("auth/token/create/ours", &["update"]);
        assert_eq!(
            heal_ability(true, Some("ours"), Some(&role)),
            HealAbility::Can("auth/token/create/ours".into())
        );
        assert_eq!(heal_ability(true, None, None), HealAbility::Unknown);
        assert_eq!(
            heal_ability(false, None, Some(&admin)),
            HealAbility::NoPolicies
        );
    }

    #[test]
    fn status_shows_accessor_auth_path_and_issue_time_and_cuts_long_lines() {
        let mut st = healthy();
        st.last_log_lines = vec![format!(
            "2026-11-29T03:00:00Z OK renewed {}",
            "x".repeat(200)
        )];
        let text = render(&st, Style { color: false }, now(), Some(80));
        assert!(text.contains("accessor           acc123"), "{text}");
        assert!(
            text.contains("auth path          auth/token/create-orphan"),
            "{text}"
        );
        assert!(
            text.contains("issued             2026-11-29T03:00:00Z"),
            "{text}"
        );
        assert!(text.contains("--full"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "cut to 80 columns: {line:?}");
        }
        assert!(text.contains("xxx…"), "{text}");
        let full = render(&st, Style { color: false }, now(), None);
        assert!(full.contains(&"x".repeat(200)), "{full}");
        let painted = cut(&format!("\x1b[31m{}\x1b[0m", "y".repeat(100)), Some(10));
        assert_eq!(painted, format!("\x1b[31m{}…\x1b[0m", "y".repeat(9)));
    }

    #[test]
    fn a_token_file_others_may_read_is_shown_as_such() {
        let mut st = healthy();
        st.loose_mode = Some("0644".into());
        let text = render(&st, Style { color: false }, now(), None);
        assert!(text.contains("(mode 0644: readable by others)"), "{text}");
    }

    #[test]
    fn thresholds_give_monitoring_plugin_exit_codes() {
        let day = Duration::from_secs(86400);
        let mut st = healthy();
        st.ttl_secs = Some(10 * 86400);
        let v = plugin_verdict(&st, Some(7 * day), Some(2 * day));
        assert_eq!(v.code, 0, "{v:?}");
        assert_eq!(
            v.summary,
            "VAULT-TOKEN OK - 10d 0h left | time_left=864000s;604800;172800;0"
        );
        st.ttl_secs = Some(5 * 86400);
        assert_eq!(plugin_verdict(&st, Some(7 * day), Some(2 * day)).code, 1);
        st.ttl_secs = Some(86400);
        assert_eq!(plugin_verdict(&st, Some(7 * day), Some(2 * day)).code, 2);
        assert_eq!(plugin_verdict(&st, Some(7 * day), None).code, 1);
        st.ttl_secs = Some(30 * 86400);
        st.healthy = false;
        assert_eq!(
            plugin_verdict(&st, Some(7 * day), None).code,
            1,
            "unhealthy ours warns"
        );
        st.state = "foreign";
        assert_eq!(plugin_verdict(&st, Some(7 * day), None).code, 2);
        st.state = "unreachable";
        assert_eq!(plugin_verdict(&st, Some(7 * day), None).code, 3);
    }

    #[test]
    fn timer_properties_parse() {
        let t = parse_timer(
            "LoadState=loaded\nActiveState=active\nNextElapseUSecRealtime=@1796007600\nLastTriggerUSec=@1795921200\n",
        )
        .unwrap();
        assert!(t.installed);
        assert_eq!(t.next_run.as_deref(), Some("2026-11-30T03:00:00Z"));
        assert_eq!(t.last_run.as_deref(), Some("2026-11-29T03:00:00Z"));
        let missing = parse_timer("LoadState=not-found\nActiveState=inactive\nNextElapseUSecRealtime=\nLastTriggerUSec=\n").unwrap();
        assert!(!missing.installed);
        assert_eq!(missing.next_run, None);
        assert_eq!(parse_timer("garbage"), None);
    }
}
