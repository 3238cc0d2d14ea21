//! How `install` changes the config file: the requested keys go to the top level (the default
//! profile) or to a `[profiles.<name>]` table, under one policy for both. Keys the flags do not
//! mention are kept as written; when only new keys are added they are inserted as lines, so
//! comments and layout survive; a flag that would change a key the file already sets is refused
//! unless `force`, which rewrites the file from the merged keys.

use std::fmt::Write as _;
use std::path::Path;

/// What happens to the config file.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigPlan {
    Unchanged,
    /// Whole new text, and a one-line reason for the report.
    Write(String, &'static str),
}

pub const CONFIG_HEADER: &str = "\
# vault-token-renew settings, read by the systemd user service (see `vault-token-renew --help`).
# Written by `vault-token-renew install`; edit freely: install keeps keys it is not asked to change.
";

/// Merges `requested` into `profile`'s keys of the file `existing` (None: no file yet). Errors
/// are usage errors: nothing was changed.
pub fn plan(
    existing: Option<&str>,
    requested: &toml::Table,
    profile: &str,
    force: bool,
    path: &Path,
) -> Result<ConfigPlan, String> {
    let current: toml::Table = match existing {
        None => toml::Table::new(),
        Some(text) => toml::from_str(text).map_err(|e| {
            format!(
                "the config file {} is not valid TOML ({}); fix or remove it, then rerun install",
                path.display(),
                e.message()
            )
        })?,
    };
    let scope = Scope::of(profile);
    let keys = scope.keys(&current);
    let mut added = Vec::new();
    let mut conflicts = Vec::new();
    for (key, value) in requested {
        match keys.get(key) {
            Some(old) if old == value => {}
            Some(old) => conflicts.push((key, old, value)),
            None => added.push((key, value)),
        }
    }
    if !conflicts.is_empty() && !force {
        let mut msg = format!(
            "the config file {} already sets other values{} than the flags given; nothing was changed:\n",
            path.display(),
            scope.place()
        );
        for (key, old, new) in &conflicts {
            let _ = writeln!(msg, "  {key}: file has {old}, flags say {new}");
        }
        msg.push_str("Rerun with --force to replace them (the file is rewritten, its comments are not kept), or edit the file by hand.");
        return Err(msg);
    }
    if added.is_empty() && conflicts.is_empty() {
        return Ok(ConfigPlan::Unchanged);
    }
    let mut merged = current.clone();
    let mut new_keys = keys.clone();
    for (key, value) in requested {
        new_keys.insert(key.clone(), value.clone());
    }
    scope.set_keys(&mut merged, new_keys);
    if conflicts.is_empty() {
        let lines: String = added.iter().map(|(k, v)| toml_line(k, v)).collect();
        let text = scope.insert(existing, &lines);
        // The lines went where a reader of the file would put them by hand; proved by reading
        // the result back, so an unusual layout is refused instead of mis-edited.
        if toml::from_str::<toml::Table>(&text).ok().as_ref() != Some(&merged) {
            return Err(format!(
                "cannot add {}{} to the config file {} without rewriting it (its layout is unusual); nothing was \
                 changed. Add them by hand, or rerun with --force to rewrite the file (its comments are not kept)",
                added
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                scope.place(),
                path.display()
            ));
        }
        let why = if existing.is_some() {
            "added keys"
        } else {
            "new file"
        };
        return Ok(ConfigPlan::Write(text, why));
    }
    let text = format!(
        "{CONFIG_HEADER}{}",
        toml::to_string(&merged).unwrap_or_default()
    );
    Ok(ConfigPlan::Write(text, "replaced keys (--force)"))
}

/// The keys of one profile in the file.
enum Scope<'a> {
    TopLevel,
    Profile(&'a str),
}

impl<'a> Scope<'a> {
    fn of(profile: &'a str) -> Scope<'a> {
        match profile {
            crate::profile::DEFAULT => Scope::TopLevel,
            name => Scope::Profile(name),
        }
    }

    fn place(&self) -> String {
        match self {
            Scope::TopLevel => String::new(),
            Scope::Profile(name) => format!(" in [profiles.{name}]"),
        }
    }

    fn header(name: &str) -> String {
        format!("[profiles.{name}]")
    }

    fn keys(&self, file: &toml::Table) -> toml::Table {
        match self {
            Scope::TopLevel => {
                let mut top = file.clone();
                top.remove("profiles");
                top
            }
            Scope::Profile(name) => file
                .get("profiles")
                .and_then(|p| p.get(*name))
                .and_then(toml::Value::as_table)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn set_keys(&self, file: &mut toml::Table, keys: toml::Table) {
        match self {
            Scope::TopLevel => {
                let profiles = file.remove("profiles");
                *file = keys;
                if let Some(p) = profiles {
                    file.insert("profiles".into(), p);
                }
            }
            Scope::Profile(name) => {
                let profiles = file
                    .entry("profiles")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(profiles) = profiles.as_table_mut() {
                    profiles.insert((*name).to_owned(), toml::Value::Table(keys));
                }
            }
        }
    }

    /// `lines` (new keys) inserted where they belong: top-level keys before the first table,
    /// a profile's right under its table's header, or in a new table at the end.
    fn insert(&self, existing: Option<&str>, lines: &str) -> String {
        let text = existing.unwrap_or(CONFIG_HEADER);
        let mut out = String::with_capacity(text.len() + lines.len() + 32);
        let mut done = false;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            match self {
                Scope::TopLevel if !done && trimmed.starts_with('[') => {
                    out.push_str(lines);
                    done = true;
                    out.push_str(line);
                }
                Scope::Profile(name) if !done && is_header(trimmed, &Self::header(name)) => {
                    out.push_str(line);
                    if !line.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(lines);
                    done = true;
                }
                _ => out.push_str(line),
            }
        }
        if !done {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if let Scope::Profile(name) = self {
                let _ = write!(out, "\n{}\n", Self::header(name));
            }
            out.push_str(lines);
        }
        out
    }
}

/// `[profiles.lab]`, alone on its line or followed by a comment.
fn is_header(line: &str, header: &str) -> bool {
    line.strip_prefix(header)
        .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
}

fn toml_line(key: &str, value: &toml::Value) -> String {
    let mut t = toml::Table::new();
    t.insert(key.to_owned(), value.clone());
    toml::to_string(&t).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&str, &str)]) -> toml::Table {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), toml::Value::String((*v).to_owned())))
            .collect()
    }

    fn write(plan: Result<ConfigPlan, String>) -> String {
        match plan.unwrap() {
            ConfigPlan::Write(text, _) => text,
            ConfigPlan::Unchanged => panic!("expected a write"),
        }
    }

    const WITH_PROFILE: &str = "\
# mine
vault_addr = \"https://work:8200\" # work

[profiles.lab]
# the homelab
vault_addr = \"http://lab:8200\"
";

    #[test]
    fn a_profile_key_goes_under_its_table_and_comments_survive() {
        let text = write(plan(
            Some(WITH_PROFILE),
            &req(&[("token_file", "/h/.vault-token-lab")]),
            "lab",
            false,
            Path::new("c.toml"),
        ));
        assert_eq!(
            text,
            "\
# mine
vault_addr = \"https://work:8200\" # work

[profiles.lab]
token_file = \"/h/.vault-token-lab\"
# the homelab
vault_addr = \"http://lab:8200\"
"
        );
    }

    #[test]
    fn a_new_profile_gets_a_table_at_the_end() {
        let text = write(plan(
            Some("vault_addr = \"https://work:8200\""),
            &req(&[("token_file", "/h/t-lab")]),
            "lab",
            false,
            Path::new("c.toml"),
        ));
        assert_eq!(
            text,
            "vault_addr = \"https://work:8200\"\n\n[profiles.lab]\ntoken_file = \"/h/t-lab\"\n"
        );
        let fresh = write(plan(
            None,
            &req(&[("token_file", "/h/t-lab")]),
            "lab",
            false,
            Path::new("c.toml"),
        ));
        assert!(
            fresh.starts_with(CONFIG_HEADER)
                && fresh.ends_with("\n[profiles.lab]\ntoken_file = \"/h/t-lab\"\n"),
            "{fresh}"
        );
    }

    // Appended at the end, a top-level key would land in the last profile's table.
    #[test]
    fn a_top_level_key_goes_before_the_first_table() {
        let text = write(plan(
            Some(WITH_PROFILE),
            &req(&[("display_name", "devvm-alice")]),
            "default",
            false,
            Path::new("c.toml"),
        ));
        let file: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(file["display_name"].as_str(), Some("devvm-alice"));
        assert!(
            !file["profiles"]["lab"]
                .as_table()
                .unwrap()
                .contains_key("display_name")
        );
        assert!(text.contains("# the homelab"), "{text}");
    }

    #[test]
    fn a_changed_profile_key_is_refused_unless_forced_and_other_profiles_are_untouched() {
        let asked = req(&[("vault_addr", "http://lab2:8200")]);
        let err = plan(
            Some(WITH_PROFILE),
            &asked,
            "lab",
            false,
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(
            err.contains("in [profiles.lab]") && err.contains("vault_addr"),
            "{err}"
        );
        let text = write(plan(
            Some(WITH_PROFILE),
            &asked,
            "lab",
            true,
            Path::new("c.toml"),
        ));
        let file: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            file["profiles"]["lab"]["vault_addr"].as_str(),
            Some("http://lab2:8200")
        );
        assert_eq!(file["vault_addr"].as_str(), Some("https://work:8200"));
        // The top level's keys are not the profile's: the same value there is no conflict.
        let same_as_top = req(&[("vault_addr", "https://work:8200")]);
        assert_eq!(
            plan(
                Some(WITH_PROFILE),
                &same_as_top,
                "default",
                false,
                Path::new("c.toml")
            ),
            Ok(ConfigPlan::Unchanged)
        );
        assert!(
            plan(
                Some(WITH_PROFILE),
                &same_as_top,
                "lab",
                false,
                Path::new("c.toml")
            )
            .is_err()
        );
    }

    #[test]
    fn an_unusual_layout_is_refused_rather_than_mis_edited() {
        // The profile written as a dotted key, not a [profiles.lab] header.
        let inline =
            "vault_addr = \"https://work:8200\"\nprofiles.lab.vault_addr = \"http://lab:8200\"\n";
        let err = plan(
            Some(inline),
            &req(&[("token_file", "/h/t-lab")]),
            "lab",
            false,
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.contains("--force"), "{err}");
    }
}
