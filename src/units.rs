//! Renders `units/units.json` — the one source of truth for the systemd user units — into unit file
//! text, byte for byte as home-manager's generator renders the same data (see nix/module.nix):
//! sections and the keys inside them sorted by name (Nix attribute sets are always sorted), `Key=value`
//! lines, a list value as one line per element, empty lists and empty sections dropped, a blank line
//! between sections. Keeping both renderers identical is what lets `install` and the module never drift.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The unit definitions, compiled in so the binary needs no data files at run time.
pub const UNITS_JSON: &str = include_str!("../units/units.json");

pub const SERVICE: &str = "vault-token-renew.service";
pub const TIMER: &str = "vault-token-renew.timer";
pub const PATH_UNIT: &str = "vault-token-renew.path";
pub const FAILURE_TEMPLATE: &str = "vault-token-renew-failure@.service";

/// Every unit name `units.json` may define; `install`/`uninstall` never touch any other file.
pub const ALL: [&str; 4] = [SERVICE, TIMER, PATH_UNIT, FAILURE_TEMPLATE];

/// The unit file name of `unit` (a name in `units.json`) for `profile`: a named profile gets a
/// complete instance file, `vault-token-renew@lab.timer`, rather than a template plus drop-ins,
/// so its schedule and token file sit in one plain file that install (and home-manager) write
/// whole and read back. Templates (`…@.service`, the failure hook) are shared by every profile.
pub fn instance_name(unit: &str, profile: &str) -> String {
    match unit.rsplit_once('.') {
        Some((stem, kind)) if profile != crate::profile::DEFAULT && !stem.ends_with('@') => {
            format!("{stem}@{profile}.{kind}")
        }
        _ => unit.to_owned(),
    }
}

/// The unit names of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub service: String,
    pub timer: String,
    pub path: String,
}

impl Names {
    pub fn of(profile: &str) -> Names {
        Names {
            service: instance_name(SERVICE, profile),
            timer: instance_name(TIMER, profile),
            path: instance_name(PATH_UNIT, profile),
        }
    }
}

/// Values substituted for the `@name@` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Absolute path of the binary (`@bin@`).
    pub bin: PathBuf,
    /// `OnCalendar=` expression (`@schedule@`), e.g. `daily`.
    pub schedule: String,
    /// `RandomizedDelaySec=` (`@randomized_delay@`), e.g. `5m`.
    pub randomized_delay: String,
    /// `Persistent=` (`@persistent@`).
    pub persistent: bool,
    /// Absolute path of the token file (`@token_file@`).
    pub token_file: PathBuf,
    /// The profile whose units these are (`default`: today's names and text).
    pub profile: String,
}

/// One rendered unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitsError {
    #[error("units/units.json is malformed: {0}; fix the file (it is compiled into the binary)")]
    Json(String),
    #[error(
        "{what} {value:?} cannot go into a unit file: it contains {bad:?}, which systemd would expand or split; \
         use a path without whitespace, quotes, backslashes or '%' (e.g. move or symlink it)"
    )]
    Unrepresentable {
        what: &'static str,
        value: String,
        bad: char,
    },
    #[error("{what} {value:?} is not absolute; systemd needs an absolute path")]
    NotAbsolute { what: &'static str, value: String },
    #[error("{what} {value:?} is empty or spans lines; give a single-line systemd.time(7) value")]
    BadTimeValue { what: &'static str, value: String },
    #[error("{0}")]
    BadProfile(String),
    #[error(
        "units/units.json uses the unknown placeholder @{0}@; add it to src/units.rs and nix/module.nix"
    )]
    UnknownPlaceholder(String),
}

/// A JSON value in a section: a string, a bool, an integer, or a list of those (repeated keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Value {
    Scalar(Scalar),
    List(Vec<Scalar>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

/// A top-level entry: a unit, or a documentation string under a `_`-prefixed key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Entry {
    Comment(#[allow(dead_code)] String),
    Unit(Sections),
}

/// Section name → key → value, each level sorted as home-manager sorts them.
type Sections = BTreeMap<String, BTreeMap<String, Value>>;

/// Units in the order `ALL` lists them.
fn parse(json: &str) -> Result<Vec<(String, Sections)>, UnitsError> {
    let top: BTreeMap<String, Entry> =
        serde_json::from_str(json).map_err(|e| UnitsError::Json(e.to_string()))?;
    let mut units = Vec::new();
    for (name, entry) in top {
        match entry {
            Entry::Comment(_) if name.starts_with('_') => {}
            Entry::Comment(_) => {
                return Err(UnitsError::Json(format!(
                    "{name} is a string, expected sections"
                )));
            }
            Entry::Unit(_) if name.starts_with('_') => {
                return Err(UnitsError::Json(format!(
                    "{name} starts with '_', reserved for comments"
                )));
            }
            Entry::Unit(sections) => {
                if !ALL.contains(&name.as_str()) {
                    return Err(UnitsError::Json(format!(
                        "unit {name} is not one of {ALL:?}; add it to src/units.rs so install/uninstall manage it"
                    )));
                }
                units.push((name, sections));
            }
        }
    }
    units.sort_by_key(|(name, _)| ALL.iter().position(|n| n == name));
    Ok(units)
}

/// Characters that systemd would treat specially in a path we substitute into a unit file.
fn check_path(what: &'static str, path: &Path) -> Result<String, UnitsError> {
    let value = path.to_string_lossy().into_owned();
    if !path.is_absolute() {
        return Err(UnitsError::NotAbsolute { what, value });
    }
    if let Some(bad) = value.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '%' | '\\' | '"' | '\'' | '\u{FFFD}')
    }) {
        return Err(UnitsError::Unrepresentable { what, value, bad });
    }
    Ok(value)
}

/// A profile name goes into unit names and an `ExecStart=` argument.
fn check_profile(profile: &str) -> Result<&str, UnitsError> {
    crate::profile::check_name(profile)
        .map(|()| profile)
        .map_err(UnitsError::BadProfile)
}

fn check_time(what: &'static str, value: &str) -> Result<String, UnitsError> {
    if value.trim().is_empty() || value.contains(['\n', '\r']) {
        return Err(UnitsError::BadTimeValue {
            what,
            value: value.to_owned(),
        });
    }
    Ok(value.to_owned())
}

fn substitute(text: &str, values: &[(&str, &str)]) -> Result<String, UnitsError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // `%n`-style template names contain a lone '@' (e.g. `...-failure@%n.service`): only
        // `@word@` with a known word is a placeholder; a lone '@' is kept as written.
        match after.find('@') {
            Some(end) if is_placeholder_name(&after[..end]) => {
                let name = &after[..end];
                let (_, value) = values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| UnitsError::UnknownPlaceholder(name.to_owned()))?;
                out.push_str(value);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_placeholder_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// Renders every unit in `units.json` (service, timer, path unit, failure template) for
/// `params.profile`, named as [`instance_name`] says.
pub fn render(params: &Params) -> Result<Vec<Unit>, UnitsError> {
    render_json(UNITS_JSON, params)
}

fn render_json(json: &str, params: &Params) -> Result<Vec<Unit>, UnitsError> {
    render_parsed(parse(json)?, params)
}

fn render_parsed(
    parsed: Vec<(String, Sections)>,
    params: &Params,
) -> Result<Vec<Unit>, UnitsError> {
    let bin = check_path("the binary's path", &params.bin)?;
    let token_file = check_path("the token file", &params.token_file)?;
    let schedule = check_time("the schedule", &params.schedule)?;
    let randomized_delay = check_time("the randomized delay", &params.randomized_delay)?;
    let persistent = params.persistent.to_string();
    let profile = check_profile(&params.profile)?;
    let service = instance_name(SERVICE, profile);
    let (profile_args, profile_note) = match profile {
        crate::profile::DEFAULT => (String::new(), String::new()),
        named => (
            format!(" --profile {named}"),
            format!(" for profile {named}"),
        ),
    };
    let values = [
        ("bin", bin.as_str()),
        ("schedule", schedule.as_str()),
        ("randomized_delay", randomized_delay.as_str()),
        ("persistent", persistent.as_str()),
        ("token_file", token_file.as_str()),
        ("service", service.as_str()),
        ("profile_args", profile_args.as_str()),
        ("profile_note", profile_note.as_str()),
    ];

    let mut units = Vec::new();
    for (name, sections) in parsed {
        let mut blocks = Vec::new();
        for (section, keys) in sections {
            let mut block = format!("[{section}]\n");
            let mut any = false;
            for (key, value) in keys {
                let items = match value {
                    Value::Scalar(s) => vec![s],
                    Value::List(list) => list,
                };
                for item in items {
                    let line = substitute(&format!("{key}={item}"), &values)?;
                    block.push_str(&line);
                    block.push('\n');
                    any = true;
                }
            }
            if any {
                blocks.push(block);
            }
        }
        units.push(Unit {
            name: instance_name(&name, profile),
            text: blocks.join("\n"),
        });
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::DEFAULT as DEFAULT_NAME;

    fn params() -> Params {
        Params {
            bin: "/home/alice/.cargo/bin/vault-token-renew".into(),
            schedule: "daily".into(),
            randomized_delay: "5m".into(),
            persistent: true,
            token_file: "/home/alice/.vault-token".into(),
            profile: "default".into(),
        }
    }

    fn lab() -> Params {
        Params {
            schedule: "hourly".into(),
            persistent: false,
            token_file: "/home/alice/.vault-token-lab".into(),
            profile: "lab".into(),
            ..params()
        }
    }

    fn unit<'a>(units: &'a [Unit], name: &str) -> &'a str {
        &units.iter().find(|u| u.name == name).unwrap().text
    }

    // Golden text of the shipped units.json: a change to the units shows up here on purpose, and the
    // same text is what home-manager renders from the same file.
    #[test]
    fn shipped_units_render_to_golden_text() {
        let units = render(&params()).unwrap();
        assert_eq!(
            units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ALL,
            "every unit in units.json, in a stable order"
        );
        assert_eq!(
            unit(&units, SERVICE),
            "\
[Service]
ExecStart=/home/alice/.cargo/bin/vault-token-renew renew
LockPersonality=yes
MemoryDenyWriteExecute=yes
NoNewPrivileges=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
SystemCallErrorNumber=EPERM
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
TimeoutStartSec=10min
Type=oneshot
UMask=0077

[Unit]
Description=Renew my periodic Vault/OpenBao token in /home/alice/.vault-token (heal or refuse a foreign one)
Documentation=man:vault-token-renew(1)
OnFailure=vault-token-renew-failure@%n.service
StartLimitBurst=20
StartLimitIntervalSec=60
"
        );
        assert_eq!(
            unit(&units, TIMER),
            "\
[Install]
WantedBy=timers.target

[Timer]
OnCalendar=daily
Persistent=true
RandomizedDelaySec=5m
Unit=vault-token-renew.service

[Unit]
Description=Renew my periodic Vault/OpenBao token (daily)
"
        );
        assert_eq!(
            unit(&units, PATH_UNIT),
            "\
[Install]
WantedBy=paths.target

[Path]
PathChanged=/home/alice/.vault-token
Unit=vault-token-renew.service

[Unit]
Description=Heal /home/alice/.vault-token as soon as a login replaces it
OnFailure=vault-token-renew-failure@%n.service
"
        );
        assert_eq!(
            unit(&units, FAILURE_TEMPLATE),
            "\
[Service]
ExecStart=/home/alice/.cargo/bin/vault-token-renew on-failure %i
Type=oneshot

[Unit]
Description=Run the configured failure hook for %i
"
        );
    }

    // A named profile: its own instance units pointing at each other, its token file watched,
    // `--profile` on the command line, the profile in every description; the failure hook is
    // the shared template, the same bytes as the default profile's.
    #[test]
    fn a_named_profile_renders_complete_instance_units() {
        let units = render(&lab()).unwrap();
        assert_eq!(
            units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            [
                "vault-token-renew@lab.service",
                "vault-token-renew@lab.timer",
                "vault-token-renew@lab.path",
                FAILURE_TEMPLATE
            ]
        );
        let service = unit(&units, "vault-token-renew@lab.service");
        assert!(
            service.contains(
                "\nExecStart=/home/alice/.cargo/bin/vault-token-renew --profile lab renew\n"
            ),
            "{service}"
        );
        assert!(
            service.contains("\nDescription=Renew my periodic Vault/OpenBao token for profile lab in /home/alice/.vault-token-lab (heal or refuse a foreign one)\n"),
            "{service}"
        );
        assert!(
            service.contains("\nOnFailure=vault-token-renew-failure@%n.service\n"),
            "{service}"
        );
        assert_eq!(
            unit(&units, "vault-token-renew@lab.timer"),
            "\
[Install]
WantedBy=timers.target

[Timer]
OnCalendar=hourly
Persistent=false
RandomizedDelaySec=5m
Unit=vault-token-renew@lab.service

[Unit]
Description=Renew my periodic Vault/OpenBao token for profile lab (hourly)
"
        );
        assert_eq!(
            unit(&units, "vault-token-renew@lab.path"),
            "\
[Install]
WantedBy=paths.target

[Path]
PathChanged=/home/alice/.vault-token-lab
Unit=vault-token-renew@lab.service

[Unit]
Description=Heal /home/alice/.vault-token-lab for profile lab as soon as a login replaces it
OnFailure=vault-token-renew-failure@%n.service
"
        );
        assert_eq!(
            unit(&units, FAILURE_TEMPLATE),
            unit(&render(&params()).unwrap(), FAILURE_TEMPLATE)
        );
        assert_eq!(Names::of("lab").timer, "vault-token-renew@lab.timer");
        assert_eq!(Names::of("default").timer, TIMER);
    }

    #[test]
    fn a_profile_name_that_cannot_be_a_unit_name_is_refused() {
        for bad in ["Lab", "a b", "a/b", ""] {
            let p = Params {
                profile: bad.into(),
                ..lab()
            };
            assert!(
                matches!(render(&p), Err(UnitsError::BadProfile(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn persistent_false_and_other_schedule_are_substituted() {
        let p = Params {
            persistent: false,
            schedule: "Mon *-*-* 03:00".into(),
            randomized_delay: "1h".into(),
            ..params()
        };
        let timer = render(&p)
            .unwrap()
            .into_iter()
            .find(|u| u.name == TIMER)
            .unwrap()
            .text;
        assert!(timer.contains("\nPersistent=false\n"), "{timer}");
        assert!(timer.contains("\nOnCalendar=Mon *-*-* 03:00\n"), "{timer}");
        assert!(timer.contains("\nRandomizedDelaySec=1h\n"), "{timer}");
        assert!(!timer.contains('@'), "no placeholder left: {timer}");
    }

    #[test]
    fn lists_become_repeated_keys_and_empty_things_are_dropped() {
        let json = r#"{
          "_comment": "x",
          "vault-token-renew.service": {
            "Unit": { "Wants": ["a.target", "b.target"], "After": [] },
            "Empty": { "Nothing": [] },
            "Service": { "ExecStart": "@bin@ renew", "TimeoutSec": 30, "RemainAfterExit": false }
          }
        }"#;
        let units = render_json(json, &params()).unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(
            units[0].text,
            "\
[Service]
ExecStart=/home/alice/.cargo/bin/vault-token-renew renew
RemainAfterExit=false
TimeoutSec=30

[Unit]
Wants=a.target
Wants=b.target
"
        );
    }

    #[test]
    fn unknown_placeholder_and_unknown_unit_are_errors() {
        let json = r#"{ "vault-token-renew.service": { "Service": { "ExecStart": "@nope@" } } }"#;
        assert_eq!(
            render_json(json, &params()),
            Err(UnitsError::UnknownPlaceholder("nope".into()))
        );
        let json = r#"{ "other.service": { "Service": { "ExecStart": "x" } } }"#;
        assert!(
            matches!(render_json(json, &params()), Err(UnitsError::Json(m)) if m.contains("other.service"))
        );
    }

    #[test]
    fn paths_systemd_would_mangle_are_refused_with_the_reason() {
        for bad in [
            "/home/a b/.vault-token",
            "/home/100%/.vault-token",
            "/home/a\\b/t",
        ] {
            let p = Params {
                token_file: bad.into(),
                ..params()
            };
            let err = render(&p).unwrap_err();
            assert!(
                matches!(err, UnitsError::Unrepresentable { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("token file"), "{err}");
        }
        let p = Params {
            bin: "vault-token-renew".into(),
            ..params()
        };
        assert!(matches!(render(&p), Err(UnitsError::NotAbsolute { .. })));
        let p = Params {
            schedule: "daily\nExecStartPre=/bin/evil".into(),
            ..params()
        };
        assert!(matches!(render(&p), Err(UnitsError::BadTimeValue { .. })));
    }

    // systemd's own verdict on the rendered units, where systemd-analyze exists (the system test
    // runs it too, inside the container). Unknown keys only warn, so any stderr is a failure.
    #[test]
    fn systemd_analyze_verify_accepts_the_rendered_units() {
        if std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("systemd-analyze not installed; skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = Params {
            bin: std::env::current_exe().unwrap(), // ExecStart= must name an existing file
            token_file: dir.path().join(".vault-token"),
            ..params()
        };
        // The default profile and a named one side by side, as a two-profile install leaves them.
        let lab = Params {
            token_file: dir.path().join(".vault-token-lab"),
            profile: "lab".into(),
            ..p.clone()
        };
        let mut both = render(&p).unwrap();
        both.extend(render(&lab).unwrap());
        both.sort_by(|a, b| a.name.cmp(&b.name));
        both.dedup_by(|a, b| a.name == b.name);
        let mut files = Vec::new();
        for u in both {
            let path = dir.path().join(&u.name);
            std::fs::write(&path, &u.text).unwrap();
            files.push(path);
        }
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .args(["verify", "--user", "--man=no"])
            .args(&files)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    }

    // The no-drift check against the home-manager module: nix/tests/golden holds the unit files
    // home-manager renders from units.json (checked by the Nix side), with the inputs behind them:
    // the default profile's and each named profile's. The same inputs through this renderer must
    // give the same bytes. Skips until that directory exists in the tree.
    #[test]
    fn renders_the_same_bytes_as_the_home_manager_golden_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("nix/tests/golden");
        let Ok(inputs) = std::fs::read_to_string(dir.join("inputs.json")) else {
            eprintln!("{} not present; skipping", dir.display());
            return;
        };
        #[derive(Deserialize)]
        struct Inputs {
            placeholders: Placeholders,
            units: Vec<String>,
            exec_suffix: String,
            module_additions: BTreeMap<String, Sections>,
            #[serde(default)]
            profiles: BTreeMap<String, Profile>,
        }
        #[derive(Deserialize)]
        struct Profile {
            placeholders: Placeholders,
            units: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Placeholders {
            bin: PathBuf,
            schedule: String,
            randomized_delay: String,
            persistent: bool,
            token_file: PathBuf,
        }
        let inputs: Inputs = serde_json::from_str(&inputs).unwrap();
        assert!(
            !inputs.profiles.is_empty(),
            "inputs.json has a named profile"
        );
        let default = (DEFAULT_NAME.to_owned(), inputs.placeholders, inputs.units);
        let named = inputs
            .profiles
            .into_iter()
            .map(|(name, p)| (name, p.placeholders, p.units));
        for (profile, ph, expected_units) in std::iter::once(default).chain(named) {
            let params = Params {
                bin: ph.bin.clone(),
                schedule: ph.schedule,
                randomized_delay: ph.randomized_delay,
                persistent: ph.persistent,
                token_file: ph.token_file,
                profile: profile.clone(),
            };
            let mut parsed = parse(UNITS_JSON).unwrap();
            for (name, sections) in &mut parsed {
                let additions = inputs.module_additions.get(&instance_name(name, &profile));
                for (section, keys) in additions.cloned().unwrap_or_default() {
                    sections.entry(section).or_default().extend(keys);
                }
            }
            // A named profile's module output has no template: the default profile writes it.
            let units: Vec<_> = render_parsed(parsed, &params)
                .unwrap()
                .into_iter()
                .filter(|u| profile == DEFAULT_NAME || !u.name.contains("@."))
                .collect();
            assert_eq!(
                units.iter().map(|u| &u.name).collect::<Vec<_>>(),
                expected_units.iter().collect::<Vec<_>>()
            );
            let exec = format!("ExecStart={} ", ph.bin.display());
            for unit in units {
                let text: String = unit
                    .text
                    .lines()
                    .map(|l| match l.starts_with(&exec) {
                        true => format!("{l}{}\n", inputs.exec_suffix),
                        false => format!("{l}\n"),
                    })
                    .collect();
                let golden = std::fs::read_to_string(dir.join(&unit.name)).unwrap();
                assert_eq!(
                    text, golden,
                    "{} differs from the home-manager golden file",
                    unit.name
                );
            }
        }
    }

    #[test]
    fn the_failure_hook_finds_the_profile_in_each_profile_unit_name() {
        for profile in ["lab", "work-prod"] {
            let names = Names::of(profile);
            for unit in [&names.service, &names.timer, &names.path] {
                assert_eq!(crate::profile::of_unit(unit), Some(profile), "{unit}");
            }
        }
        let default = Names::of(crate::profile::DEFAULT);
        assert_eq!(default.timer, TIMER, "the default keeps today's names");
        assert_eq!(crate::profile::of_unit(&default.service), None);
    }

    #[test]
    fn lone_at_signs_are_kept() {
        assert_eq!(
            substitute("x@%n.service @bin@", &[("bin", "/b")]).unwrap(),
            "x@%n.service /b"
        );
        assert_eq!(substitute("a@b", &[]).unwrap(), "a@b");
    }
}
