//! The options `install` bakes into the units — schedule, randomized delay, persistence, the path
//! unit — kept like config keys: a rerun keeps what the installed timer says unless a flag asks
//! for another value, and a changed value needs `--force`. New values are checked as systemd
//! would check them, so a typo is a usage error at install time, not at enable time.

use crate::schedule;
use crate::units;
use std::path::Path;

pub const DEFAULT_SCHEDULE: &str = "daily";
pub const DEFAULT_RANDOMIZED_DELAY: &str = "5m";

/// The unit-option flags of `install`; each is absent unless given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UnitOptionArgs {
    /// Also install the path unit: heal the token file seconds after a `vault login` replaces it
    /// [kept on rerun]
    #[arg(long, conflicts_with = "no_watch")]
    pub watch: bool,
    /// Remove the path unit an earlier `install --watch` wrote (needs --force)
    #[arg(long)]
    pub no_watch: bool,
    /// When the timer renews, as a systemd.time(7) calendar expression [default: daily; kept on rerun]
    #[arg(long, value_name = "CALENDAR")]
    pub schedule: Option<String>,
    /// Random delay added to each scheduled run, spreading load across machines [default: 5m; kept on rerun]
    #[arg(long, value_name = "DURATION")]
    pub randomized_delay: Option<String>,
    /// Do not catch up on a run missed while the machine was off [kept on rerun]
    #[arg(long, conflicts_with = "persistent")]
    pub no_persistent: bool,
    /// Catch up on a run missed while the machine was off (the default; undoes --no-persistent)
    #[arg(long)]
    pub persistent: bool,
}

/// The unit options in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOptions {
    pub watch: bool,
    pub schedule: String,
    pub randomized_delay: String,
    pub persistent: bool,
}

impl Default for UnitOptions {
    fn default() -> UnitOptions {
        UnitOptions {
            watch: false,
            schedule: DEFAULT_SCHEDULE.into(),
            randomized_delay: DEFAULT_RANDOMIZED_DELAY.into(),
            persistent: true,
        }
    }
}

impl UnitOptions {
    /// What one profile's units in `unit_dir` say; None when its timer is not installed there.
    pub fn installed_for(unit_dir: &Path, names: &units::Names) -> Option<UnitOptions> {
        let timer = std::fs::read_to_string(unit_dir.join(&names.timer)).ok()?;
        let key = |name: &str| {
            timer
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let defaults = UnitOptions::default();
        Some(UnitOptions {
            watch: unit_dir.join(&names.path).exists(),
            schedule: key("OnCalendar").unwrap_or(defaults.schedule),
            randomized_delay: key("RandomizedDelaySec").unwrap_or(defaults.randomized_delay),
            persistent: key("Persistent").is_none_or(|v| v == "true"),
        })
    }

    /// The longest time between two runs: the schedule's longest gap plus the randomized delay.
    /// None when the schedule's gaps cannot be told.
    pub fn longest_wait(&self) -> Option<std::time::Duration> {
        let gap = schedule::longest_gap(&self.schedule)?;
        let delay = schedule::builtin_timespan(&self.randomized_delay).unwrap_or_default();
        Some(gap + delay)
    }
}

/// The options a rerun installs: the flags over the installed ones over the defaults. A flag
/// that changes an installed value is refused without `force`, naming both values.
pub fn merge(
    installed: Option<&UnitOptions>,
    args: &UnitOptionArgs,
    force: bool,
) -> Result<UnitOptions, String> {
    if let Some(s) = &args.schedule {
        schedule::check_calendar(s).map_err(|e| format!("--schedule: {e}"))?;
    }
    if let Some(d) = &args.randomized_delay {
        schedule::check_timespan(d).map_err(|e| format!("--randomized-delay: {e}"))?;
    }
    let base = installed.cloned().unwrap_or_default();
    let asked = UnitOptions {
        watch: flag(args.watch, args.no_watch).unwrap_or(base.watch),
        schedule: args.schedule.clone().unwrap_or(base.schedule.clone()),
        randomized_delay: args
            .randomized_delay
            .clone()
            .unwrap_or(base.randomized_delay.clone()),
        persistent: flag(args.persistent, args.no_persistent).unwrap_or(base.persistent),
    };
    let Some(installed) = installed.filter(|_| !force) else {
        return Ok(asked);
    };
    let changes = changes(installed, &asked);
    if changes.is_empty() {
        return Ok(asked);
    }
    Err(format!(
        "the installed units already have other options than the flags given; nothing was changed:\n{}\
         Rerun with --force to change them, or drop those flags to keep what is installed.",
        changes
            .iter()
            .map(|c| format!("  {c}\n"))
            .collect::<String>()
    ))
}

/// `--x` → Some(true), `--no-x` → Some(false), neither → None.
fn flag(yes: bool, no: bool) -> Option<bool> {
    (yes || no).then_some(yes)
}

fn changes(old: &UnitOptions, new: &UnitOptions) -> Vec<String> {
    let mut out = vec![];
    if old.schedule != new.schedule {
        out.push(format!(
            "--schedule: installed {:?}, flags say {:?}",
            old.schedule, new.schedule
        ));
    }
    if old.randomized_delay != new.randomized_delay {
        out.push(format!(
            "--randomized-delay: installed {:?}, flags say {:?}",
            old.randomized_delay, new.randomized_delay
        ));
    }
    if old.watch != new.watch {
        out.push(format!(
            "--watch: installed {}, flags say {}",
            old.watch, new.watch
        ));
    }
    if old.persistent != new.persistent {
        out.push(format!(
            "persistent: installed {}, flags say {}",
            old.persistent, new.persistent
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> UnitOptions {
        UnitOptions {
            watch: true,
            schedule: "Mon..Fri 03:00".into(),
            randomized_delay: "10m".into(),
            persistent: false,
        }
    }

    #[test]
    fn a_rerun_without_flags_keeps_what_is_installed() {
        let kept = merge(Some(&installed()), &UnitOptionArgs::default(), false).unwrap();
        assert_eq!(kept, installed());
        assert_eq!(
            merge(None, &UnitOptionArgs::default(), false).unwrap(),
            UnitOptions::default()
        );
    }

    #[test]
    fn a_changed_option_needs_force() {
        let args = UnitOptionArgs {
            schedule: Some("hourly".into()),
            no_watch: true,
            ..Default::default()
        };
        let refused = merge(Some(&installed()), &args, false).unwrap_err();
        assert!(
            refused.contains("--schedule: installed \"Mon..Fri 03:00\", flags say \"hourly\""),
            "{refused}"
        );
        assert!(
            refused.contains("--watch: installed true, flags say false"),
            "{refused}"
        );
        let forced = merge(Some(&installed()), &args, true).unwrap();
        assert_eq!(forced.schedule, "hourly");
        assert!(!forced.watch);
        assert_eq!(
            forced.randomized_delay, "10m",
            "an unflagged option is still kept"
        );
    }

    #[test]
    fn values_systemd_would_reject_are_usage_errors() {
        let bad = |args: UnitOptionArgs| merge(None, &args, false).unwrap_err();
        let e = bad(UnitOptionArgs {
            schedule: Some("every day".into()),
            ..Default::default()
        });
        assert!(
            e.starts_with("--schedule: \"every day\" is not a systemd calendar"),
            "{e}"
        );
        let e = bad(UnitOptionArgs {
            randomized_delay: Some("5x".into()),
            ..Default::default()
        });
        assert!(e.starts_with("--randomized-delay: \"5x\""), "{e}");
    }

    #[test]
    fn the_installed_timer_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(units::TIMER),
            "[Timer]\nOnCalendar=hourly\nPersistent=false\nRandomizedDelaySec=1m\n",
        )
        .unwrap();
        let read = UnitOptions::installed_for(dir.path(), &default_names()).unwrap();
        assert_eq!(read.schedule, "hourly");
        assert_eq!(read.randomized_delay, "1m");
        assert!(!read.persistent && !read.watch);
        assert_eq!(
            read.longest_wait(),
            Some(std::time::Duration::from_secs(3660))
        );
        assert_eq!(
            UnitOptions::installed_for(&dir.path().join("none"), &default_names()),
            None
        );
        // A named profile's options are its own timer's.
        assert_eq!(
            UnitOptions::installed_for(dir.path(), &units::Names::of("lab")),
            None
        );
        std::fs::write(
            dir.path().join("vault-token-renew@lab.timer"),
            "[Timer]\nOnCalendar=weekly\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("vault-token-renew@lab.path"), "").unwrap();
        let lab = UnitOptions::installed_for(dir.path(), &units::Names::of("lab")).unwrap();
        assert_eq!((lab.schedule.as_str(), lab.watch), ("weekly", true));
    }

    fn default_names() -> units::Names {
        units::Names::of(crate::profile::DEFAULT)
    }
}
