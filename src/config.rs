//! The TOML config file: the same settings the timer uses, for a person running the binary by hand.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A config file is a few hundred bytes; a larger one is refused before it is read into memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Every key the config file may hold. Unknown keys are rejected so a typo never passes silently.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub vault_addr: Option<String>,
    pub token_file: Option<PathBuf>,
    pub display_name: Option<String>,
    pub policies: Option<Vec<String>>,
    pub require_policies: Option<Vec<String>>,
    /// Token role to mint through (`auth/token/create/<role>`).
    pub token_role: Option<String>,
    pub period: Option<String>,
    pub log_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: Option<bool>,
    pub namespace: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub sweep_concurrency: Option<usize>,
    /// Shell command the failure hook runs (`vault-token-renew on-failure <unit>`).
    pub on_failure: Option<String>,
    /// Prometheus textfile written after every renew/mint/sweep run (opt-in).
    pub metrics_file: Option<PathBuf>,
    /// `[profiles.<name>]`: each a table of the keys above, checked when the file is parsed.
    #[serde(default)]
    pub profiles: BTreeMap<String, toml::Table>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error(
        "cannot read config file {path}: {source}; check its permissions, or pass --config with another file"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "config file {path} is larger than {MAX_CONFIG_BYTES} bytes; it is a short TOML file: point --config at the right file or shorten it"
    )]
    TooLarge { path: PathBuf },
    #[error(
        "refusing config file {path}: {checked}: {why}, so another user could have changed it, and it can run a command (`on_failure`); make it yours (`chown`) and writable only by you (`chmod go-w {checked}`)"
    )]
    Untrusted {
        path: PathBuf,
        checked: PathBuf,
        why: String,
    },
    #[error(
        "config file {path} is invalid: {message}; fix that key (see `vault-token-renew --help` for the keys)"
    )]
    Parse { path: PathBuf, message: String },
}

impl ConfigFile {
    /// Reads `path`. A missing file is fine only when the caller did not ask for it explicitly.
    pub fn load(path: &Path, required: bool) -> Result<Option<ConfigFile>, ConfigFileError> {
        crate::trust::check_config(path).map_err(|u| ConfigFileError::Untrusted {
            path: path.to_owned(),
            checked: u.path,
            why: u.why,
        })?;
        // Bounded and non-blocking: a huge file or a FIFO at the path must not eat memory or hang.
        let bytes = match crate::localfile::read_regular(path, MAX_CONFIG_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ConfigFileError::TooLarge {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(ConfigFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| ConfigFileError::Parse {
            path: path.to_owned(),
            message: "it is not UTF-8 text".into(),
        })?;
        Self::parse(&text)
            .map(Some)
            .map_err(|message| ConfigFileError::Parse {
                path: path.to_owned(),
                message,
            })
    }

    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let file: ConfigFile = toml::from_str(text)
            .map_err(|e| without_values(e.message()) + &span_hint(text, e.span()))?;
        // A typo inside a profile's table must fail now, for every command, not only when that
        // profile runs.
        for (name, table) in &file.profiles {
            crate::profile::check_name(name).map_err(|why| format!("[profiles.{name}]: {why}"))?;
            if name == crate::profile::DEFAULT {
                return Err(format!(
                    "[profiles.{name}]: `{name}` is the top level's own profile; put its keys at the top level of the file"
                ));
            }
            if table.contains_key("profiles") {
                return Err(format!(
                    "[profiles.{name}] holds `profiles`: profiles do not nest; define every profile at the top level as [profiles.<name>]"
                ));
            }
            Self::from_table(table.clone()).map_err(|e| format!("[profiles.{name}]: {e}"))?;
        }
        Ok(file)
    }

    fn from_table(table: toml::Table) -> Result<ConfigFile, String> {
        ConfigFile::deserialize(toml::Value::Table(table)).map_err(|e| without_values(e.message()))
    }

    /// The profile's view of the file: its table's keys over the top level's, minus the keys a
    /// profile never inherits (each keeps its own token file, state and metrics), and which keys
    /// the profile's own table set. The default profile is the top level as written.
    pub fn select(&self, profile: &str) -> Result<(ConfigFile, BTreeSet<String>), UnknownProfile> {
        if profile == crate::profile::DEFAULT {
            let top = ConfigFile {
                profiles: BTreeMap::new(),
                ..self.clone()
            };
            return Ok((top, BTreeSet::new()));
        }
        let Some(table) = self.profiles.get(profile) else {
            return Err(UnknownProfile {
                name: profile.to_owned(),
                known: self.profile_names(),
            });
        };
        let mut merged = self.top_level_table();
        for key in crate::profile::NOT_INHERITED {
            merged.remove(*key);
        }
        merged.extend(table.clone());
        let view = Self::from_table(merged).expect("each part was checked by parse");
        Ok((view, table.keys().cloned().collect()))
    }

    /// Every profile the file defines, the default (top level) first.
    pub fn profile_names(&self) -> Vec<String> {
        std::iter::once(crate::profile::DEFAULT.to_owned())
            .chain(self.profiles.keys().cloned())
            .collect()
    }

    /// The profiles "every profile" means: the named ones, and the default when the top level
    /// names a server (a file of named profiles only has no default token to keep).
    pub fn configured_profiles(&self) -> Vec<String> {
        let mut names = self.profile_names();
        if self.vault_addr.is_none() {
            names.retain(|n| n != crate::profile::DEFAULT);
        }
        names
    }

    fn top_level_table(&self) -> toml::Table {
        let mut table = toml::Table::try_from(self).expect("a parsed config serialises");
        table.remove("profiles");
        table
    }
}

/// `--profile NAME` names no `[profiles.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile {
    pub name: String,
    pub known: Vec<String>,
}

/// serde quotes a rejected value (`invalid type: string "…"`); a token pasted into the file by
/// mistake must not reach stderr, so double-quoted parts of the message are dropped.
fn without_values(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            // toml's type errors point at the value; name the key too, which the person edits.
            // Only a plain key is quoted, never a value (a token pasted into the file stays out).
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| {
                    !k.is_empty()
                        && k.len() <= 64
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
            match key {
                Some(key) => format!(" (line {line}, key `{key}`)"),
                None => format!(" (line {line})"),
            }
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let err = ConfigFile::parse("vault_addr = \"http://x\"\npolicy = [\"a\"]\n").unwrap_err();
        assert!(err.contains("policy"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = ConfigFile::parse("policies = \"vault-admin\"\n").unwrap_err();
        assert!(err.contains("line 1, key `policies`"), "{err}");
        let err = ConfigFile::parse("retries = \"hvs.SECRET\"\n").unwrap_err();
        assert!(err.contains("key `retries`"), "{err}");
        assert!(!err.contains("SECRET"), "values are never quoted: {err}");
    }

    #[test]
    fn full_file_parses() {
        let file = ConfigFile::parse(
            r#"
vault_addr = "https://vault.example:8200"
token_file = "~/.vault-token"
display_name = "devvm-alice"
policies = ["vault-admin", "sops-admin"]
period = "768h"
tls_skip_verify = false
retries = 2
"#,
        )
        .unwrap();
        assert_eq!(file.policies.unwrap(), ["vault-admin", "sops-admin"]);
        assert_eq!(file.retries, Some(2));
    }
}
