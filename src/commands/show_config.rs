//! `config`: every effective setting and where it came from, as `git config --show-origin`
//! prints it — `flag:--x`, `env:VAR`, `file:PATH` or `default` — so a person can see why the
//! service does what it does. Needs no server.

use crate::settings::{Origin, Settings};
use std::path::Path;

/// One `origin<TAB>key = value` line per setting, in the config file's key names.
pub fn render(s: &Settings) -> String {
    let path = |p: &Path| toml_string(&p.display().to_string());
    let opt_path = |p: &Option<std::path::PathBuf>| p.as_deref().map(path);
    let opt = |v: &Option<String>| v.as_deref().map(toml_string);
    let list = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|p| toml_string(p)).collect();
        format!("[{}]", items.join(", "))
    };
    let secs = |d: std::time::Duration| toml_string(&crate::schedule::human(d));
    let rows: [(&str, Option<String>); 21] = [
        (
            "vault_addr",
            Some(toml_string(&without_userinfo(&s.vault_addr))),
        ),
        ("token_file", Some(path(&s.token_file))),
        ("display_name", Some(toml_string(&s.display_name))),
        ("policies", Some(list(&s.policies))),
        ("require_policies", Some(list(&s.require_policies))),
        ("token_role", opt(&s.token_role)),
        ("period", Some(secs(s.period))),
        ("log_file", Some(path(&s.log_file))),
        ("state_dir", Some(path(&s.state_dir))),
        ("ca_cert", opt_path(&s.tls.ca_cert)),
        ("ca_path", opt_path(&s.tls.ca_path)),
        ("client_cert", opt_path(&s.tls.client_cert)),
        ("client_key", opt_path(&s.tls.client_key)),
        ("tls_server_name", opt(&s.tls.server_name)),
        ("tls_skip_verify", Some(s.tls.skip_verify.to_string())),
        ("namespace", opt(&s.namespace)),
        ("timeout", Some(secs(s.timeout))),
        ("retries", Some(s.retries.to_string())),
        ("sweep_concurrency", Some(s.sweep_concurrency.to_string())),
        ("on_failure", opt(&s.on_failure)),
        ("metrics_file", opt_path(&s.metrics_file)),
    ];
    let origins: Vec<String> = rows
        .iter()
        .map(|(key, _)| origin_label(s.origins.get(key)))
        .collect();
    let width = origins.iter().map(String::len).max().unwrap_or(0);
    let mut out = format!(
        "# config file: {}\n# profile: {}\n",
        s.config_file.display(),
        s.profile
    );
    for ((key, value), origin) in rows.iter().zip(origins) {
        let value = value.clone().unwrap_or_else(|| "# unset".into());
        out.push_str(&format!("{origin:<width$}  {key} = {value}\n"));
    }
    out
}

fn origin_label(origin: Option<&Origin>) -> String {
    match origin {
        None => "default".into(),
        Some(Origin::Flag(flag)) => format!("flag:--{flag}"),
        Some(Origin::EnvVar(var)) => format!("env:{var}"),
        Some(Origin::ConfigKey(_, path)) => format!("file:{}", path.display()),
        Some(Origin::ProfileKey(_, profile, path)) => {
            format!("file:{}[profiles.{profile}]", path.display())
        }
    }
}

/// A basic TOML string, so a line can be pasted into the config file.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A password in the address is nobody's business on a terminal.
fn without_userinfo(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::GlobalArgs;
    use crate::settings::Env;

    #[test]
    fn each_setting_names_its_origin() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "policies = [\"a\"]\nretries = 2\n").unwrap();
        let env = Env {
            vars: [
                ("HOME".to_owned(), "/home/alice".to_owned()),
                (
                    "VAULT_ADDR".to_owned(),
                    "https://u:secret@vault.example:8200".to_owned(),
                ),
            ]
            .into(),
            hostname: "devvm".into(),
        };
        let args = GlobalArgs {
            config: Some(config.clone()),
            period: Some("48h".into()),
            ..GlobalArgs::default()
        };
        let text = render(&Settings::resolve(&args, &env).unwrap());
        let file = format!("file:{}", config.display());
        let line = |key: &str| {
            text.lines()
                .find(|l| l.contains(&format!("  {key} = ")))
                .unwrap_or_else(|| panic!("no {key}: {text}"))
                .to_owned()
        };
        assert!(line("period").starts_with("flag:--period "), "{text}");
        assert!(line("period").ends_with("period = \"48h\""), "{text}");
        assert!(line("vault_addr").starts_with("env:VAULT_ADDR "), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(line("policies").starts_with(&file), "{text}");
        assert!(line("retries").starts_with(&file), "{text}");
        assert!(line("timeout").starts_with("default "), "{text}");
        assert!(line("token_role").ends_with("# unset"), "{text}");
    }
}
