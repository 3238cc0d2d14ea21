//! Tests of `install` / `uninstall` (kept out of install.rs so the deploy code reads on its own).

use super::*;
use crate::unit_options::UnitOptionArgs;
use std::os::unix::fs::PermissionsExt;

struct World {
    dir: tempfile::TempDir,
    env: Env,
}

impl World {
    /// A home, a config dir and fake `systemctl`/`loginctl` on PATH that record their arguments.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fakebin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["systemctl", "loginctl"] {
            // A successful enable-linger makes the user manager appear, as logind does.
            let manager = match tool {
                "loginctl" => format!(
                    "mkdir -p '{0}/systemd' && touch '{0}/systemd/private'\n",
                    dir.path().join("run").display()
                ),
                _ => String::new(),
            };
            let script = format!(
                "#!/bin/sh\nPATH=/usr/bin:/bin\necho \"{tool} $*\" >> '{}'\n[ -e '{}' ] && {{ echo 'Failed to connect to bus' >&2; exit 1; }}\n{manager}exit 0\n",
                dir.path().join("calls").display(),
                dir.path().join(format!("{tool}.fail")).display()
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let env = Env {
            home: dir.path().join("home"),
            xdg_config_home: Some(dir.path().join("config")),
            xdg_runtime_dir: Some(dir.path().join("run")),
            user: "alice".into(),
            uid: 1000,
            bin: "/usr/local/bin/vault-token-renew".into(),
            path: Some(bin.into_os_string()),
            linger_dir: dir.path().join("linger"),
            vault_addr: None,
            cwd: dir.path().join("cwd"),
        };
        World { dir, env }
    }

    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default();
        let _ = std::fs::remove_file(self.dir.path().join("calls"));
        text.lines().map(str::to_owned).collect()
    }

    fn fail(&self, tool: &str) {
        std::fs::write(self.dir.path().join(format!("{tool}.fail")), "").unwrap();
    }

    fn unit(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.env.unit_dir().join(name)).ok()
    }

    fn config(&self) -> Option<String> {
        std::fs::read_to_string(self.env.config_path()).ok()
    }

    fn install(&self, args: &InstallArgs, req: &Requested) -> (Result<(), InstallError>, String) {
        let mut out = Vec::new();
        let r = install(args, req, crate::profile::DEFAULT, &self.env, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    fn uninstall(&self, dry_run: bool) -> (Result<(), InstallError>, String) {
        let mut out = Vec::new();
        let r = uninstall(
            &UninstallArgs { dry_run },
            crate::profile::DEFAULT,
            &self.env,
            &mut out,
        );
        (r, String::from_utf8(out).unwrap())
    }
}

fn args() -> InstallArgs {
    InstallArgs {
        units: UnitOptionArgs::default(),
        on_failure: None,
        force: false,
        no_linger: false,
        dry_run: false,
    }
}

fn req(pairs: &[(&str, toml::Value)]) -> Requested {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn addr() -> Requested {
    req(&[
        ("vault_addr", "https://vault.example:8200".into()),
        ("policies", toml::Value::Array(vec!["vault-admin".into()])),
    ])
}

#[test]
fn install_writes_units_and_config_and_runs_the_manager() {
    let w = World::new();
    let a = InstallArgs {
        units: UnitOptionArgs {
            watch: true,
            ..Default::default()
        },
        on_failure: Some("notify-send \"$LAST_LOG_LINE\"".into()),
        ..args()
    };
    let (r, out) = w.install(&a, &addr());
    r.unwrap();
    assert_eq!(
        w.calls(),
        [
            "loginctl enable-linger alice",
            "systemctl --user daemon-reload",
            "systemctl --user enable --now vault-token-renew.timer vault-token-renew.path",
        ],
        "{out}"
    );
    let service = w.unit(units::SERVICE).unwrap();
    assert!(
        service.contains("\nExecStart=/usr/local/bin/vault-token-renew renew\n"),
        "{service}"
    );
    let path_unit = w.unit(units::PATH_UNIT).unwrap();
    let token = w.env.home.join(".vault-token");
    assert!(
        path_unit.contains(&format!("\nPathChanged={}\n", token.display())),
        "{path_unit}"
    );
    assert!(w.unit(units::FAILURE_TEMPLATE).is_some());
    // Same text as the renderer gives: install adds nothing of its own to the units.
    let rendered = units::render(&Params {
        bin: w.env.bin.clone(),
        schedule: "daily".into(),
        randomized_delay: "5m".into(),
        persistent: true,
        token_file: token,
        profile: crate::profile::DEFAULT.into(),
    })
    .unwrap();
    for u in rendered {
        assert_eq!(w.unit(&u.name).unwrap(), u.text, "{}", u.name);
    }
    let config: toml::Table = toml::from_str(&w.config().unwrap()).unwrap();
    assert_eq!(
        config["vault_addr"].as_str(),
        Some("https://vault.example:8200")
    );
    assert_eq!(config["policies"].as_array().unwrap().len(), 1);
    assert_eq!(
        config["on_failure"].as_str(),
        Some("notify-send \"$LAST_LOG_LINE\"")
    );
}

#[test]
fn a_value_the_service_could_not_use_is_refused_before_anything_is_written() {
    let w = World::new();
    let mut r = addr();
    r.insert("period".into(), "bogus".into());
    let err = w.install(&args(), &r).0.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("period"), "{err}");
    assert!(w.config().is_none() && w.unit(units::SERVICE).is_none());
    assert!(w.calls().is_empty());
}

#[test]
fn flags_become_config_keys_and_unset_flags_do_not() {
    let global = GlobalArgs {
        vault_addr: Some("https://v:8200".into()),
        policies: vec!["a".into(), "b".into()],
        retries: Some(1),
        tls_skip_verify: false,
        ..Default::default()
    };
    let t = requested_from(&global);
    assert_eq!(t.len(), 3, "{t:?}");
    assert_eq!(t["vault_addr"].as_str(), Some("https://v:8200"));
    assert_eq!(
        t["policies"],
        toml::Value::Array(vec!["a".into(), "b".into()])
    );
    assert_eq!(t["retries"].as_integer(), Some(1));
}

// Every settings flag reaches the config file under the key the binary reads, so a flag added
// later cannot be silently dropped by install.
#[test]
fn every_settings_flag_becomes_a_config_key_the_binary_accepts() {
    use clap::{CommandFactory, FromArgMatches};
    let cmd = crate::cli::Cli::command();
    // --config and --profile pick where the keys go; they are not keys.
    let skip = [
        "config", "profile", "verbose", "quiet", "format", "help", "version",
    ];
    let flags: Vec<(String, bool)> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| {
            a.get_long()
                .map(|l| (l.to_owned(), a.get_action().takes_values()))
        })
        .filter(|(l, _)| !skip.contains(&l.as_str()))
        .collect();
    assert!(flags.len() >= 19, "{flags:?}");
    for (flag, takes_value) in flags {
        let mut argv = vec![
            "vault-token-renew".to_owned(),
            "install".into(),
            format!("--{flag}"),
        ];
        if takes_value {
            argv.push("1".into());
        }
        let matches = crate::cli::Cli::command()
            .try_get_matches_from(&argv)
            .unwrap();
        let cli = crate::cli::Cli::from_arg_matches(&matches).unwrap();
        let t = requested_from(&cli.global);
        assert_eq!(t.len(), 1, "--{flag} gives exactly one key: {t:?}");
        crate::config::ConfigFile::parse(&toml::to_string(&t).unwrap()).unwrap_or_else(|e| {
            panic!("--{flag} → {t:?} is not a config key the binary reads: {e}")
        });
    }
}

#[test]
fn second_install_changes_nothing() {
    let w = World::new();
    let a = InstallArgs {
        units: UnitOptionArgs {
            watch: true,
            ..Default::default()
        },
        ..args()
    };
    w.install(&a, &addr()).0.unwrap();
    let before: Vec<_> = units::ALL.iter().map(|n| w.unit(n)).collect();
    let config_before = w.config();
    let mtime = |p: PathBuf| std::fs::metadata(p).unwrap().modified().unwrap();
    let config_mtime = mtime(w.env.config_path());
    std::fs::create_dir_all(&w.env.linger_dir).unwrap();
    std::fs::write(w.env.linger_dir.join("alice"), "").unwrap();
    w.calls();

    let (r, out) = w.install(&a, &addr());
    r.unwrap();
    assert_eq!(
        units::ALL.iter().map(|n| w.unit(n)).collect::<Vec<_>>(),
        before
    );
    assert_eq!(w.config(), config_before);
    assert_eq!(
        mtime(w.env.config_path()),
        config_mtime,
        "config not rewritten"
    );
    assert_eq!(out.matches("unchanged: ").count(), 5, "{out}");
    assert!(out.contains("linger already enabled"), "{out}");
    assert_eq!(
        w.calls(),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now vault-token-renew.timer vault-token-renew.path",
        ]
    );
}

#[test]
fn dry_run_changes_nothing_and_says_what_it_would_do() {
    let w = World::new();
    let (r, out) = w.install(
        &InstallArgs {
            dry_run: true,
            units: UnitOptionArgs {
                watch: true,
                ..Default::default()
            },
            ..args()
        },
        &addr(),
    );
    r.unwrap();
    assert!(w.calls().is_empty(), "no command run");
    assert!(!w.dir.path().join("config").exists(), "no file written");
    assert!(out.contains("would run: systemctl --user enable --now vault-token-renew.timer vault-token-renew.path"), "{out}");
    assert!(
        out.contains("would run: loginctl enable-linger alice"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "would write {}",
            w.env.unit_dir().join(units::PATH_UNIT).display()
        )),
        "{out}"
    );
    assert!(
        out.contains("vault_addr = \"https://vault.example:8200\""),
        "{out}"
    );
}

#[test]
fn a_differing_config_key_is_refused_unless_forced() {
    let w = World::new();
    std::fs::create_dir_all(w.env.config_path().parent().unwrap()).unwrap();
    let hand = "# mine\nvault_addr = \"https://old.example\"\nperiod = \"32d\"\n";
    std::fs::write(w.env.config_path(), hand).unwrap();

    let (r, _) = w.install(&args(), &addr());
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains(
            "vault_addr: file has \"https://old.example\", flags say \"https://vault.example:8200\""
        ),
        "{msg}"
    );
    assert!(msg.contains("--force"), "{msg}");
    assert_eq!(w.config().unwrap(), hand, "file untouched");
    assert!(w.unit(units::SERVICE).is_none(), "no half-install");
    assert!(w.calls().is_empty());

    w.install(
        &InstallArgs {
            force: true,
            ..args()
        },
        &addr(),
    )
    .0
    .unwrap();
    let config: toml::Table = toml::from_str(&w.config().unwrap()).unwrap();
    assert_eq!(
        config["vault_addr"].as_str(),
        Some("https://vault.example:8200")
    );
    assert_eq!(
        config["period"].as_str(),
        Some("32d"),
        "keys not given are kept"
    );
}

#[test]
fn new_keys_are_appended_keeping_comments_and_hand_set_keys() {
    let w = World::new();
    std::fs::create_dir_all(w.env.config_path().parent().unwrap()).unwrap();
    let hand = "# my server\nvault_addr = \"https://vault.example:8200\"\nperiod = \"32d\"";
    std::fs::write(w.env.config_path(), hand).unwrap();
    let (r, out) = w.install(&args(), &addr());
    r.unwrap();
    assert_eq!(
        w.config().unwrap(),
        format!("{hand}\npolicies = [\"vault-admin\"]\n"),
        "{out}"
    );
    // Nothing given on the second run: the file is the user's and stays as it is.
    let before = w.config();
    w.install(&args(), &Requested::new()).0.unwrap();
    assert_eq!(w.config(), before);
}

#[test]
fn a_symlinked_config_is_written_through_and_stays_a_symlink() {
    let w = World::new();
    let dotfiles = w.dir.path().join("dotfiles/config.toml");
    std::fs::create_dir_all(dotfiles.parent().unwrap()).unwrap();
    std::fs::write(&dotfiles, "period = \"32d\"\n").unwrap();
    std::fs::create_dir_all(w.env.config_path().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&dotfiles, w.env.config_path()).unwrap();
    w.install(&args(), &addr()).0.unwrap();
    assert!(
        w.env
            .config_path()
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let text = std::fs::read_to_string(&dotfiles).unwrap();
    assert!(
        text.starts_with("period = \"32d\"\n") && text.contains("vault_addr"),
        "{text}"
    );
}

#[test]
fn server_address_comes_from_the_environment_or_is_required() {
    let mut w = World::new();
    let (r, _) = w.install(&args(), &Requested::new());
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--vault-addr"), "{err}");

    w.env.vault_addr = Some("http://127.0.0.1:8200".into());
    w.install(&args(), &Requested::new()).0.unwrap();
    assert!(
        w.config()
            .unwrap()
            .contains("vault_addr = \"http://127.0.0.1:8200\"")
    );
}

#[test]
fn token_file_flag_reaches_config_and_path_unit_and_relative_paths_become_absolute() {
    let w = World::new();
    let mut r = addr();
    r.insert("token_file".into(), "~/tokens/vault".into());
    r.insert("log_file".into(), "logs/renew.log".into());
    w.install(
        &InstallArgs {
            units: UnitOptionArgs {
                watch: true,
                ..Default::default()
            },
            ..args()
        },
        &r,
    )
    .0
    .unwrap();
    let path_unit = w.unit(units::PATH_UNIT).unwrap();
    assert!(
        path_unit.contains(&format!(
            "PathChanged={}\n",
            w.env.home.join("tokens/vault").display()
        )),
        "{path_unit}"
    );
    let config: toml::Table = toml::from_str(&w.config().unwrap()).unwrap();
    assert_eq!(config["token_file"].as_str(), Some("~/tokens/vault"));
    assert_eq!(
        config["log_file"].as_str().map(PathBuf::from),
        Some(w.env.cwd.join("logs/renew.log"))
    );
}

#[test]
fn a_rerun_keeps_the_unit_options_and_changes_them_only_with_force() {
    let w = World::new();
    let first = InstallArgs {
        units: UnitOptionArgs {
            watch: true,
            schedule: Some("Mon..Fri 03:00".into()),
            randomized_delay: Some("10m".into()),
            ..Default::default()
        },
        ..args()
    };
    w.install(&first, &addr()).0.unwrap();
    let timer = w.unit(units::TIMER).unwrap();
    w.calls();

    // A plain rerun: the path unit, the schedule and the delay stay.
    let (r, out) = w.install(&args(), &addr());
    r.unwrap();
    assert!(w.unit(units::PATH_UNIT).is_some(), "{out}");
    assert_eq!(w.unit(units::TIMER).unwrap(), timer);
    assert!(w.calls().contains(
        &"systemctl --user enable --now vault-token-renew.timer vault-token-renew.path".to_owned()
    ));

    // Another value is refused without --force, and nothing changes.
    let other = InstallArgs {
        units: UnitOptionArgs {
            no_watch: true,
            schedule: Some("hourly".into()),
            ..Default::default()
        },
        ..args()
    };
    let err = w.install(&other, &addr()).0.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.contains("--schedule: installed \"Mon..Fri 03:00\", flags say \"hourly\""),
        "{text}"
    );
    assert!(text.contains("--force"), "{text}");
    assert_eq!(w.unit(units::TIMER).unwrap(), timer);
    assert!(w.calls().is_empty());

    let forced = InstallArgs {
        force: true,
        ..other
    };
    w.install(&forced, &addr()).0.unwrap();
    assert!(w.unit(units::PATH_UNIT).is_none());
    let timer = w.unit(units::TIMER).unwrap();
    assert!(timer.contains("\nOnCalendar=hourly\n"), "{timer}");
    assert!(
        timer.contains("\nRandomizedDelaySec=10m\n"),
        "unflagged: kept; {timer}"
    );
    assert!(
        w.calls()
            .contains(&"systemctl --user disable --now vault-token-renew.path".to_owned())
    );
}

#[test]
fn schedules_and_delays_systemd_would_reject_are_refused_before_anything_is_written() {
    let w = World::new();
    for units in [
        UnitOptionArgs {
            schedule: Some("every day".into()),
            ..Default::default()
        },
        UnitOptionArgs {
            randomized_delay: Some("5x".into()),
            ..Default::default()
        },
    ] {
        let err = w
            .install(&InstallArgs { units, ..args() }, &addr())
            .0
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("is not a systemd"), "{err}");
    }
    assert!(w.unit(units::TIMER).is_none());
    assert!(w.config().is_none());
    assert!(w.calls().is_empty());
}

#[test]
fn a_dry_run_rerun_shows_a_diff() {
    let w = World::new();
    w.install(&args(), &addr()).0.unwrap();
    let (r, out) = w.install(
        &InstallArgs {
            units: UnitOptionArgs {
                schedule: Some("hourly".into()),
                ..Default::default()
            },
            force: true,
            dry_run: true,
            ..args()
        },
        &addr(),
    );
    r.unwrap();
    assert!(
        out.contains("- OnCalendar=daily\n+ OnCalendar=hourly\n"),
        "{out}"
    );
    assert!(w.unit(units::TIMER).unwrap().contains("OnCalendar=daily"));
}

#[test]
fn a_changed_schedule_restarts_the_timer() {
    let w = World::new();
    w.install(&args(), &addr()).0.unwrap();
    w.calls();
    w.install(
        &InstallArgs {
            units: UnitOptionArgs {
                schedule: Some("hourly".into()),
                ..Default::default()
            },
            force: true,
            ..args()
        },
        &addr(),
    )
    .0
    .unwrap();
    assert!(
        w.unit(units::TIMER)
            .unwrap()
            .contains("\nOnCalendar=hourly\n")
    );
    assert_eq!(
        w.calls().last().unwrap(),
        "systemctl --user restart vault-token-renew.timer"
    );
}

#[test]
fn denied_linger_prints_the_sudo_command_and_carries_on() {
    let w = World::new();
    w.fail("loginctl");
    let (r, out) = w.install(
        &InstallArgs {
            no_linger: false,
            ..args()
        },
        &addr(),
    );
    r.unwrap();
    assert!(out.contains("sudo loginctl enable-linger alice"), "{out}");
    assert!(
        w.calls()
            .iter()
            .any(|c| c.starts_with("systemctl --user enable --now"))
    );
}

#[test]
fn after_enabling_linger_install_waits_for_the_user_manager_to_appear() {
    let w = World::new();
    let bin = w.dir.path().join("fakebin");
    let socket = w.dir.path().join("run/systemd/private");
    // logind starts the manager a moment after enable-linger returns; systemctl fails until then.
    std::fs::write(
        bin.join("loginctl"),
        format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\n(sleep 0.5; mkdir -p '{0}'; touch '{1}') >/dev/null 2>&1 &\nexit 0\n",
            socket.parent().unwrap().display(),
            socket.display()
        ),
    )
    .unwrap();
    std::fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\n[ -e '{}' ] || {{ echo 'Failed to connect to bus' >&2; exit 1; }}\n",
            socket.display()
        ),
    )
    .unwrap();
    let (r, out) = w.install(&args(), &addr());
    r.unwrap();
    assert!(
        out.contains("running: systemctl --user enable --now"),
        "{out}"
    );
}

#[test]
fn a_custom_config_home_is_pointed_out() {
    let w = World::new();
    let (r, out) = w.install(
        &InstallArgs {
            dry_run: true,
            ..args()
        },
        &addr(),
    );
    r.unwrap();
    assert!(out.contains("note: XDG_CONFIG_HOME is"), "{out}");
    let mut w = World::new();
    w.env.xdg_config_home = Some(w.env.home.join(".config"));
    let (r, out) = w.install(
        &InstallArgs {
            dry_run: true,
            ..args()
        },
        &addr(),
    );
    r.unwrap();
    assert!(!out.contains("XDG_CONFIG_HOME"), "{out}");
}

#[test]
fn no_linger_skips_loginctl() {
    let w = World::new();
    w.install(
        &InstallArgs {
            no_linger: true,
            ..args()
        },
        &addr(),
    )
    .0
    .unwrap();
    assert!(!w.calls().iter().any(|c| c.starts_with("loginctl")));
}

#[test]
fn unreachable_user_manager_is_a_failure_that_says_what_to_do() {
    let w = World::new();
    w.fail("systemctl");
    let (r, _) = w.install(&args(), &addr());
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 4);
    let msg = err.to_string();
    assert!(
        msg.contains("Failed to connect to bus") && msg.contains("rerun"),
        "{msg}"
    );
}

#[test]
fn units_managed_by_home_manager_are_not_overwritten() {
    let w = World::new();
    std::fs::create_dir_all(w.env.unit_dir()).unwrap();
    std::os::unix::fs::symlink(
        "/nix/store/x-vault-token-renew.service",
        w.env.unit_dir().join(units::SERVICE),
    )
    .unwrap();
    let err = w.install(&args(), &addr()).0.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("home-manager"), "{err}");
    let (r, out) = w.uninstall(false);
    r.unwrap();
    assert!(out.contains("left alone"), "{out}");
    assert!(
        w.env
            .unit_dir()
            .join(units::SERVICE)
            .symlink_metadata()
            .is_ok()
    );
}

#[test]
fn install_writes_man_pages_and_completions_and_uninstall_removes_them() {
    let w = World::new();
    let (r, _) = w.install(&args(), &addr());
    r.unwrap();
    let share = w.env.home.join(".local/share");
    assert!(share.join("man/man1/vault-token-renew.1").is_file());
    let (r, out) = w.install(&args(), &addr());
    r.unwrap();
    assert!(
        out.contains("man pages up to date") && !out.contains("wrote "),
        "{out}"
    );
    assert!(
        share
            .join("bash-completion/completions")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );
    assert!(
        share
            .join("fish/vendor_completions.d/vault-token-renew.fish")
            .is_file()
    );
    let zsh = share.join("zsh/site-functions/_vault-token-renew");
    assert!(zsh.is_file());
    let (r, out) = w.uninstall(false);
    r.unwrap();
    assert!(
        !share.join("man/man1/vault-token-renew.1").exists(),
        "{out}"
    );
    assert!(!zsh.exists(), "{out}");
    assert_eq!(
        share
            .join("bash-completion/completions")
            .read_dir()
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn uninstall_disables_removes_units_and_keeps_token_and_config() {
    let w = World::new();
    w.install(
        &InstallArgs {
            units: UnitOptionArgs {
                watch: true,
                ..Default::default()
            },
            ..args()
        },
        &addr(),
    )
    .0
    .unwrap();
    std::fs::create_dir_all(&w.env.home).unwrap();
    std::fs::write(w.env.home.join(".vault-token"), "not-a-real-token").unwrap();
    w.calls();

    let (r, out) = w.uninstall(true);
    r.unwrap();
    assert!(
        w.calls().is_empty() && w.unit(units::SERVICE).is_some(),
        "dry run: {out}"
    );

    let (r, out) = w.uninstall(false);
    r.unwrap();
    assert_eq!(
        w.calls(),
        [
            "systemctl --user disable --now vault-token-renew.timer vault-token-renew.path",
            "systemctl --user reset-failed vault-token-renew.service vault-token-renew-failure@*",
            "systemctl --user daemon-reload",
        ],
        "{out}"
    );
    for name in units::ALL {
        assert!(w.unit(name).is_none(), "{name} removed");
    }
    assert_eq!(
        std::fs::read_to_string(w.env.home.join(".vault-token")).unwrap(),
        "not-a-real-token"
    );
    assert!(w.config().is_some());
    let (r, out) = w.uninstall(false);
    r.unwrap();
    assert!(out.contains("nothing to uninstall"), "{out}");
}
