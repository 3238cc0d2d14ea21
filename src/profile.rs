//! Named profiles: several tokens (servers, token files) for one person, each with its own state.
//! The top-level keys of the config file are the `default` profile and the others' defaults.

/// The profile of the config file's top level; today's single configuration.
pub const DEFAULT: &str = "default";

/// Keys a named profile never takes from the top level or the environment: two profiles sharing
/// a token file would heal each other's token away, and state and metrics are per token.
pub const NOT_INHERITED: &[&str] = &["token_file", "state_dir", "metrics_file"];

/// A profile's name goes into unit names (`vault-token-renew@<name>.service`), file names and
/// log lines, so it is short and plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty()
        || name.len() > 32
        || !name.chars().all(plain)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "{:?} is not a profile name: use up to 32 lower-case letters, digits, - and _, starting with a letter or digit",
            // Debug quoting escapes control characters; the cut keeps a pasted blob short.
            name.chars().take(40).collect::<String>()
        ));
    }
    Ok(())
}

/// The profile a failed unit ran: `vault-token-renew@lab.service` → `lab`; None for the
/// default profile's units (no instance) and for units that are not ours.
pub fn of_unit(unit: &str) -> Option<&str> {
    let rest = unit.strip_prefix("vault-token-renew@")?;
    let (name, kind) = rest.rsplit_once('.')?;
    (matches!(kind, "service" | "timer" | "path") && check_name(name).is_ok()).then_some(name)
}

/// Where a named profile keeps its lock and record by default: under the top level's state dir.
pub fn state_dir(base: &std::path::Path, profile: &str) -> std::path::PathBuf {
    base.join("profiles").join(profile)
}

/// A top-level `metrics_file` gives each named profile a file of its own beside it
/// (`node.prom` → `node-lab.prom`): one textfile per writer, as node_exporter expects.
pub fn metrics_file(top: &std::path::Path, profile: &str) -> std::path::PathBuf {
    let stem = top.file_stem().unwrap_or_default().to_string_lossy();
    let name = match top.extension() {
        Some(ext) => format!("{stem}-{profile}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{profile}"),
    };
    top.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn names_fit_unit_and_file_names() {
        for good in ["lab", "work-prod", "a", "x_1", "0day"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Lab",
            "-x",
            "_x",
            "a.b",
            "a/b",
            "a b",
            "é",
            &"x".repeat(33),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let why = check_name("a\nb").unwrap_err();
        assert!(!why.contains('\n'), "{why}");
    }

    #[test]
    fn the_profile_of_a_unit() {
        assert_eq!(of_unit("vault-token-renew@lab.service"), Some("lab"));
        assert_eq!(
            of_unit("vault-token-renew@work-prod.path"),
            Some("work-prod")
        );
        assert_eq!(of_unit("vault-token-renew.service"), None);
        assert_eq!(of_unit("vault-token-renew-failure@x.service"), None);
        assert_eq!(of_unit("vault-token-renew@Bad.service"), None);
        assert_eq!(of_unit("vault-token-renew@lab.socket"), None);
    }

    #[test]
    fn per_profile_paths() {
        assert_eq!(
            state_dir(Path::new("/s/vault-token-renew"), "lab"),
            Path::new("/s/vault-token-renew/profiles/lab")
        );
        assert_eq!(
            metrics_file(Path::new("/m/vtr.prom"), "lab"),
            Path::new("/m/vtr-lab.prom")
        );
        assert_eq!(
            metrics_file(Path::new("/m/vtr"), "lab"),
            Path::new("/m/vtr-lab")
        );
    }
}
