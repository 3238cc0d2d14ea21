//! What `install --profile NAME` and `uninstall --profile NAME` do differently from the default
//! profile: a named profile's keys live in its `[profiles.NAME]` table (src/install_config.rs),
//! it must name a token file of its own, and its units are `vault-token-renew@NAME.*`. What all
//! profiles share — the failure hook template, the man pages and completions — stays until the
//! last profile is uninstalled, so removing one profile never breaks another.

use crate::profile::DEFAULT;
use crate::units;
use std::path::{Path, PathBuf};

/// The token file the profile's path unit watches: the requested or configured one. The default
/// profile falls back to `~/.vault-token`; a named profile has no fallback, since two profiles on
/// one file would heal each other's token away.
pub fn token_file(
    profile: &str,
    requested: &toml::Table,
    file: &toml::Table,
    home: &Path,
) -> Result<PathBuf, String> {
    let configured = match profile {
        DEFAULT => file.get("token_file"),
        name => file
            .get("profiles")
            .and_then(|p| p.get(name))
            .and_then(|t| t.get("token_file")),
    };
    match requested.get("token_file").or(configured) {
        Some(toml::Value::String(v)) => Ok(expand_home(v, home)),
        Some(other) => Err(format!(
            "token_file must be a string, the config file has {other}"
        )),
        None if profile == DEFAULT => Ok(home.join(".vault-token")),
        None => Err(format!(
            "install --profile {profile} needs the profile's own token file: pass --token-file \
             ~/.vault-token-{profile} (any path no other profile uses), and have `vault login` / `bao login` \
             write there (VAULT_TOKEN_PATH / BAO_TOKEN_PATH, or copy the token there)"
        )),
    }
}

/// Whether the profile has a server address in the file: its own, or (named profiles inherit
/// it) the top level's.
pub fn has_vault_addr(profile: &str, file: &toml::Table) -> bool {
    let own = file
        .get("profiles")
        .and_then(|p| p.get(profile))
        .is_some_and(|t| t.get("vault_addr").is_some());
    file.contains_key("vault_addr") || (profile != DEFAULT && own)
}

fn expand_home(value: &str, home: &Path) -> PathBuf {
    match value.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if value == "~" => home.to_owned(),
        None => PathBuf::from(value),
    }
}

/// The profile's own unit files, in the order they are stopped and removed.
pub fn own_units(profile: &str) -> [String; 3] {
    let names = units::Names::of(profile);
    [names.timer, names.path, names.service]
}

/// The profiles other than `profile` whose units are in `unit_dir`: while any is left, the
/// shared files stay.
pub fn other_installed_profiles(unit_dir: &Path, profile: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(unit_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == units::SERVICE || name == units::TIMER {
                return Some(DEFAULT.to_owned());
            }
            crate::profile::of_unit(&name).map(str::to_owned)
        })
        .filter(|p| p != profile)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_named_profile_needs_its_own_token_file() {
        let home = Path::new("/home/alice");
        let file = table("token_file = \"~/.vault-token\"\n");
        let none = toml::Table::new();
        let err = token_file("lab", &none, &file, home).unwrap_err();
        assert!(err.contains("--token-file ~/.vault-token-lab"), "{err}");
        assert_eq!(
            token_file("default", &none, &none, home).unwrap(),
            home.join(".vault-token")
        );
        let with_lab = table("[profiles.lab]\ntoken_file = \"~/.t-lab\"\n");
        assert_eq!(
            token_file("lab", &none, &with_lab, home).unwrap(),
            home.join(".t-lab")
        );
        let asked = table("token_file = \"/x/t\"\n");
        assert_eq!(
            token_file("lab", &asked, &with_lab, home).unwrap(),
            Path::new("/x/t")
        );
    }

    #[test]
    fn a_named_profile_inherits_the_server_address() {
        assert!(has_vault_addr("lab", &table("vault_addr = \"http://a\"\n")));
        assert!(has_vault_addr(
            "lab",
            &table("[profiles.lab]\nvault_addr = \"http://a\"\n")
        ));
        assert!(!has_vault_addr(
            "default",
            &table("[profiles.lab]\nvault_addr = \"http://a\"\n")
        ));
        assert!(!has_vault_addr(
            "lab",
            &table("[profiles.work]\nvault_addr = \"http://a\"\n")
        ));
    }

    #[test]
    fn other_profiles_are_found_by_their_unit_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "vault-token-renew.timer",
            "vault-token-renew@lab.timer",
            "vault-token-renew@lab.service",
            "vault-token-renew@work.service",
            "vault-token-renew-failure@.service",
            "other@x.service",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(
            other_installed_profiles(dir.path(), "lab"),
            ["default", "work"]
        );
        assert_eq!(
            other_installed_profiles(dir.path(), "default"),
            ["lab", "work"]
        );
    }
}
