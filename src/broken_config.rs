//! What a run still knows when its settings do not resolve (a typo in the config file): the
//! failure hook's command, the log file and the metrics file, each read on its own from its flag,
//! its environment variable, or its one line of the config file. A config error is a failure
//! like any other: it is logged, counted and notified.

use crate::cli::GlobalArgs;
use crate::settings::{Env, config_path};
use std::path::{Path, PathBuf};

/// A config file larger than this is not ours; the fallback reads no further.
const MAX_CONFIG: u64 = 1 << 20;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fallback {
    pub on_failure: Option<String>,
    pub log_file: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
}

impl Fallback {
    pub fn read(args: &GlobalArgs, env: &Env) -> Fallback {
        let text = config_path(args, env)
            .ok()
            .and_then(|(path, _)| read_bounded(&path))
            .unwrap_or_default();
        let home = env.vars.get("HOME").map(PathBuf::from);
        let path = |flag: &Option<PathBuf>, var: &str, key: &str| -> Option<PathBuf> {
            let chosen = flag
                .clone()
                .or_else(|| env.own(var).map(|(_, v)| PathBuf::from(v)))
                .or_else(|| lone_string(&text, key).map(PathBuf::from))?;
            expand(chosen, home.as_deref())
        };
        let default_log = env
            .xdg_dir("XDG_STATE_HOME", ".local/state")
            .map(|d| d.join("vault-token-renew.log"));
        Fallback {
            on_failure: lone_string(&text, "on_failure"),
            log_file: path(&args.log_file, "LOG_FILE", "log_file").or(default_log),
            metrics_file: path(&args.metrics_file, "METRICS_FILE", "metrics_file"),
        }
    }
}

/// The file's text under the same rules as a full load: a file others may have written is not
/// read at all (its `on_failure` is a command), and a FIFO or a huge file is refused, not waited
/// on or swallowed.
fn read_bounded(path: &Path) -> Option<String> {
    crate::trust::check_config(path).ok()?;
    let bytes = crate::localfile::read_regular(path, MAX_CONFIG).ok()?;
    String::from_utf8(bytes).ok()
}

fn expand(path: PathBuf, home: Option<&Path>) -> Option<PathBuf> {
    match path.to_str().and_then(|p| p.strip_prefix("~/")) {
        Some(rest) => Some(home?.join(rest)),
        None => (!path.as_os_str().is_empty()).then_some(path),
    }
}

/// One string key of the config text, even when the rest of the file does not parse or
/// validate: the first line that assigns it, parsed on its own.
pub fn lone_string(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, _) = line.split_once('=')?;
        if name.trim() != key {
            return None;
        }
        let table: toml::Table = toml::from_str(line).ok()?;
        table.get(key)?.as_str().map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_is_read_although_the_file_is_broken() {
        let text = "vault_adr = \"typo\"\npolicies = [unclosed\non_failure = 'notify-send \"x\" \"$LAST_LOG_LINE\"'\n";
        assert!(crate::config::ConfigFile::parse(text).is_err());
        assert_eq!(
            lone_string(text, "on_failure").as_deref(),
            Some("notify-send \"x\" \"$LAST_LOG_LINE\"")
        );
        assert_eq!(lone_string(text, "metrics_file"), None);
        assert_eq!(lone_string("# on_failure = 'x'\n", "on_failure"), None);
    }

    #[test]
    fn paths_fall_back_to_the_defaults_and_expand_home() {
        let env = Env {
            vars: [("HOME".to_owned(), "/home/alice".to_owned())].into(),
            hostname: "h".into(),
        };
        let args = GlobalArgs {
            metrics_file: Some("~/m.prom".into()),
            config: Some("/nonexistent/config.toml".into()),
            ..GlobalArgs::default()
        };
        let f = Fallback::read(&args, &env);
        assert_eq!(
            f.log_file.as_deref(),
            Some(Path::new("/home/alice/.local/state/vault-token-renew.log"))
        );
        assert_eq!(
            f.metrics_file.as_deref(),
            Some(Path::new("/home/alice/m.prom"))
        );
        assert_eq!(f.on_failure, None);
    }
}
