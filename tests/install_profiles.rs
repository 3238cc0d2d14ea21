//! `install --profile NAME` and `uninstall --profile NAME`, driving the real binary in a private
//! HOME with a `systemctl` and `loginctl` on PATH that only record their arguments: a named
//! profile's keys go to `[profiles.NAME]`, its units are `vault-token-renew@NAME.*`, and the
//! other profiles' units and keys are never touched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");

struct Home {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fakebin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        for tool in ["systemctl", "loginctl"] {
            let script = format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexit 0\n",
                dir.path().join("calls").display()
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Home { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn run(&self, args: &[&str]) -> Run {
        let path = format!(
            "{}:{}",
            self.dir.path().join("fakebin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("USER", "alice")
            .env("PATH", path)
            .current_dir(self.home())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "{args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// The `systemctl`/`loginctl` command lines run since the last call.
    fn calls(&self) -> Vec<String> {
        let path = self.dir.path().join("calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_owned).collect()
    }

    fn unit_dir(&self) -> PathBuf {
        self.home().join(".config/systemd/user")
    }

    fn unit(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.unit_dir().join(name)).ok()
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.home().join(".config/vault-token-renew/config.toml"))
            .unwrap_or_default()
    }

    /// Every file under the unit directory with its text: what "nothing else changed" compares.
    fn unit_files(&self) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        collect(&self.unit_dir(), &mut files);
        files.sort();
        files
    }

    fn install_default(&self) {
        self.ok(&[
            "install",
            "--no-linger",
            "--vault-addr",
            "http://127.0.0.1:8200",
            "--policy",
            "vault-admin",
        ]);
        self.calls();
    }

    fn install_lab(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "--profile",
            "lab",
            "install",
            "--no-linger",
            "--vault-addr",
            "http://127.0.0.1:8300",
            "--token-file",
            "~/.vault-token-lab",
        ];
        args.extend(extra);
        self.run(&args)
    }
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            collect(&path, files);
        } else {
            let text = std::fs::read_link(&path)
                .map(|t| format!("-> {}", t.display()))
                .or_else(|_| std::fs::read_to_string(&path))
                .unwrap();
            files.push((path, text));
        }
    }
}

#[test]
fn a_second_profile_installs_beside_the_default_and_uninstalls_alone() {
    let h = Home::new();
    h.install_default();
    let default_units = h.unit_files();
    let default_config = h.config();

    let run = h.install_lab(&["--schedule", "hourly", "--watch"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let service = h
        .unit("vault-token-renew@lab.service")
        .expect("lab's service");
    let exec = format!("\nExecStart={BIN} --profile lab renew\n");
    assert!(service.contains(&exec), "{service}");
    let timer = h.unit("vault-token-renew@lab.timer").unwrap();
    assert!(timer.contains("\nOnCalendar=hourly\n"), "{timer}");
    assert!(
        timer.contains("\nUnit=vault-token-renew@lab.service\n"),
        "{timer}"
    );
    let path = h.unit("vault-token-renew@lab.path").unwrap();
    let watched = h.home().join(".vault-token-lab");
    assert!(
        path.contains(&format!("\nPathChanged={}\n", watched.display())),
        "{path}"
    );
    assert_eq!(
        h.calls(),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now vault-token-renew@lab.timer vault-token-renew@lab.path",
        ]
    );
    // The default profile's units and keys are as they were; lab's keys are in its table.
    for (file, text) in &default_units {
        assert_eq!(
            &std::fs::read_to_string(file).unwrap(),
            text,
            "{}",
            file.display()
        );
    }
    let config = h.config();
    assert!(config.starts_with(&default_config), "{config}");
    let parsed: toml::Table = toml::from_str(&config).unwrap();
    let lab = parsed["profiles"]["lab"].as_table().unwrap();
    assert_eq!(lab["vault_addr"].as_str(), Some("http://127.0.0.1:8300"));
    assert_eq!(lab["token_file"].as_str(), Some("~/.vault-token-lab"));
    // The binary reads that table back as the profile the units run.
    let shown = h.ok(&["--profile", "lab", "config"]).stdout;
    let line = shown
        .lines()
        .find(|l| l.contains("  token_file = "))
        .unwrap();
    assert!(line.contains(&watched.display().to_string()), "{shown}");

    // A rerun changes nothing; another schedule needs --force, for this profile's timer only.
    let rerun = h.install_lab(&[]);
    assert_eq!(rerun.code, 0, "{}{}", rerun.stdout, rerun.stderr);
    assert!(!rerun.stdout.contains("wrote "), "{}", rerun.stdout);
    h.calls();
    let refused = h.install_lab(&["--schedule", "weekly"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("hourly"), "{}", refused.stderr);

    // uninstall --profile lab removes lab's units and nothing else.
    let run = h.ok(&["--profile", "lab", "uninstall"]);
    assert_eq!(
        h.calls(),
        [
            "systemctl --user disable --now vault-token-renew@lab.timer vault-token-renew@lab.path",
            "systemctl --user reset-failed vault-token-renew@lab.service",
            "systemctl --user daemon-reload",
        ]
    );
    assert!(
        run.stdout.contains("kept the units of profile(s) default"),
        "{}",
        run.stdout
    );
    assert_eq!(h.unit_files(), default_units, "only lab's units went");
    assert!(h.config().contains("[profiles.lab]"), "the config is kept");
}

#[test]
fn uninstalling_the_default_leaves_a_named_profile_and_the_shared_hook() {
    let h = Home::new();
    h.install_default();
    assert_eq!(h.install_lab(&[]).code, 0);
    h.calls();
    h.ok(&["uninstall"]);
    assert!(h.unit("vault-token-renew.timer").is_none());
    assert!(h.unit("vault-token-renew.service").is_none());
    assert!(h.unit("vault-token-renew@lab.timer").is_some());
    assert!(
        h.unit("vault-token-renew-failure@.service").is_some(),
        "lab's OnFailure= still needs the hook"
    );
    assert!(
        h.home()
            .join(".local/share/man/man1")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    // The last profile takes the shared files with it.
    h.ok(&["--profile", "lab", "uninstall"]);
    assert!(h.unit("vault-token-renew-failure@.service").is_none());
    assert!(h.unit("vault-token-renew@lab.timer").is_none());
}

#[test]
fn a_named_profile_needs_a_token_file_no_other_profile_uses() {
    let h = Home::new();
    h.install_default();
    let before = (h.config(), h.unit_files());

    let run = h.run(&[
        "--profile",
        "lab",
        "install",
        "--no-linger",
        "--vault-addr",
        "http://127.0.0.1:8300",
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("--token-file ~/.vault-token-lab"),
        "{}",
        run.stderr
    );

    let run = h.run(&[
        "--profile",
        "lab",
        "install",
        "--no-linger",
        "--token-file",
        "~/.vault-token",
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("same token file"), "{}", run.stderr);

    let run = h.run(&["--profile", "Lab", "install", "--token-file", "/x"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("not a profile name"), "{}", run.stderr);

    assert_eq!((h.config(), h.unit_files()), before, "nothing changed");
    assert!(h.calls().is_empty());
}

#[test]
fn a_profile_dry_run_shows_the_diff_and_changes_nothing() {
    let h = Home::new();
    h.install_default();
    let before = (h.config(), h.unit_files());
    let run = h.install_lab(&["--dry-run"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("+ [profiles.lab]\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("+ token_file = \"~/.vault-token-lab\"\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("vault-token-renew@lab.timer:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("would run: systemctl --user enable --now vault-token-renew@lab.timer"),
        "{}",
        run.stdout
    );
    assert_eq!((h.config(), h.unit_files()), before);
    assert!(h.calls().is_empty());
}
