//! Whose copy of our token is it? Every mint leaves a mark in the token's `meta`: the tool, the
//! machine, the user and the configuration that minted it, plus a nonce of the attempt. The sweep
//! revokes a same-named token only when the mark says this very configuration minted it, so two
//! machines sharing one config, or two configurations sharing a state dir, never revoke each other.
//!
//! The mark is a label, not a proof against forgery: whoever may create tokens can copy it, but
//! copying it only gets their own token revoked by us.

use ring::{digest, hmac, rand::SecureRandom};
use std::collections::BTreeMap;
use std::path::Path;

/// The tool's name, the part of `minted-by` before the `/`.
pub const TOOL: &str = "vault-token-renew";

/// The `meta` keys of a mint. Short, because every token carries them; the server stores each
/// value as a string (OpenBao coerces non-strings).
pub mod key {
    /// `vault-token-renew/<version>`: the tool (matched) and its version (for people).
    pub const MINTED_BY: &str = "minted-by";
    /// The machine id, hashed for this application (matched).
    pub const MACHINE: &str = "machine";
    /// `$USER`, else the numeric uid (matched).
    pub const USER: &str = "user";
    /// The configuration id (matched).
    pub const CONFIG: &str = "config";
    /// Random per mint attempt: finds a token whose create answer was lost.
    pub const NONCE: &str = "nonce";
    /// The hostname, for people reading an audit; never matched.
    pub const HOST: &str = "host";
    /// The display name as configured, for people; never matched.
    pub const DISPLAY_NAME: &str = "display-name";
}

/// Where the machine id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineSource {
    MachineId,
    DbusMachineId,
    /// Neither file was readable: two machines with one hostname look alike.
    Hostname,
}

impl MachineSource {
    pub fn describe(self) -> &'static str {
        match self {
            MachineSource::MachineId => "/etc/machine-id",
            MachineSource::DbusMachineId => "/var/lib/dbus/machine-id",
            MachineSource::Hostname => "the hostname (no machine-id file was readable)",
        }
    }
}

/// The identity of this configuration on this machine, for this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub machine: String,
    pub machine_source: MachineSource,
    pub user: String,
    pub config: String,
}

/// How a token's `meta` compares with our identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Minted by this tool, on this machine, for this user and configuration.
    Ours,
    /// No mark at all: minted by an older version, by hand, or by another tool.
    Missing,
    /// Marked, but by someone else: the first field that differs.
    Other(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Tool,
    Machine,
    User,
    Config,
}

impl Mark {
    /// Why a same-named token is not ours, for a report line.
    pub fn describe(self) -> &'static str {
        match self {
            Mark::Ours => "ours",
            Mark::Missing => "no identity mark (an older mint, or made by hand)",
            Mark::Other(Field::Tool) => "minted by another tool",
            Mark::Other(Field::Machine) => "another machine's",
            Mark::Other(Field::User) => "another user's",
            Mark::Other(Field::Config) => "another configuration's",
        }
    }

    /// A one-word form for JSON.
    pub fn code(self) -> &'static str {
        match self {
            Mark::Ours => "ours",
            Mark::Missing => "unmarked",
            Mark::Other(Field::Tool) => "other-tool",
            Mark::Other(Field::Machine) => "other-machine",
            Mark::Other(Field::User) => "other-user",
            Mark::Other(Field::Config) => "other-config",
        }
    }
}

impl Identity {
    /// This configuration's identity: the machine and user from the system.
    pub fn current(token_file: &Path, display_name: &str) -> Identity {
        let (machine, machine_source) = machine();
        Identity {
            machine,
            machine_source,
            // The same user the metrics label with: `$USER`, else the uid.
            user: crate::metrics::user_label(),
            config: configuration_id(token_file, display_name),
        }
    }

    /// Compares a token's `meta` with us. Every matched field must be present and equal; the
    /// version in `minted-by`, the host and the nonce are never compared.
    pub fn mark_of(&self, meta: &BTreeMap<String, String>) -> Mark {
        let get = |k: &str| meta.get(k).map(String::as_str);
        let matched = [key::MINTED_BY, key::MACHINE, key::USER, key::CONFIG];
        if matched.iter().all(|k| get(k).is_none()) {
            return Mark::Missing;
        }
        let tool = get(key::MINTED_BY).map(|m| m.split('/').next().unwrap_or_default());
        let checks = [
            (tool, TOOL, Field::Tool),
            (get(key::MACHINE), self.machine.as_str(), Field::Machine),
            (get(key::USER), self.user.as_str(), Field::User),
            (get(key::CONFIG), self.config.as_str(), Field::Config),
        ];
        match checks
            .iter()
            .find(|(theirs, ours, _)| *theirs != Some(*ours))
        {
            Some((_, _, field)) => Mark::Other(*field),
            None => Mark::Ours,
        }
    }

    /// The `meta` of one mint attempt.
    pub fn mint_meta(
        &self,
        display_name: &str,
        host: &str,
        nonce: &str,
    ) -> BTreeMap<String, String> {
        [
            (
                key::MINTED_BY,
                concat!("vault-token-renew/", env!("CARGO_PKG_VERSION")),
            ),
            (key::MACHINE, self.machine.as_str()),
            (key::USER, self.user.as_str()),
            (key::CONFIG, self.config.as_str()),
            (key::NONCE, nonce),
            (key::HOST, host),
            (key::DISPLAY_NAME, display_name),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

/// The configuration id: the first 16 hex digits of SHA-256 over the token file's absolute path
/// and the display name, NUL-separated. Those make two configurations distinct copies; the policies
/// or period may change without orphaning the copies. The server address is left out on purpose:
/// tokens on two servers never meet, and one server reached under two names (a load balancer and
/// a node, a proxy) must stay one configuration, or its own copies would stop being swept.
pub fn configuration_id(token_file: &Path, display_name: &str) -> String {
    let path = std::path::absolute(token_file).unwrap_or_else(|_| token_file.to_path_buf());
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(path.as_os_str().as_encoded_bytes());
    ctx.update(b"\0");
    ctx.update(display_name.as_bytes());
    hex(&ctx.finish().as_ref()[..8])
}

/// The machine value from the machine-id files' contents or the hostname. The machine id itself
/// is confidential (machine-id(5)), so only an application-specific HMAC of it is used, as
/// `sd_id128_get_machine_app_specific` does; a hostname fallback is stored as `host-<name>`,
/// visibly not a machine id.
pub fn machine_from(
    machine_id: Option<&str>,
    dbus_machine_id: Option<&str>,
    hostname: &str,
) -> (String, MachineSource) {
    let hashed = |id: &str| {
        let k = hmac::Key::new(hmac::HMAC_SHA256, id.as_bytes());
        hex(&hmac::sign(&k, TOOL.as_bytes()).as_ref()[..16])
    };
    if let Some(id) = usable(machine_id) {
        (hashed(id), MachineSource::MachineId)
    } else if let Some(id) = usable(dbus_machine_id) {
        (hashed(id), MachineSource::DbusMachineId)
    } else {
        (format!("host-{hostname}"), MachineSource::Hostname)
    }
}

fn usable(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// This machine's value, read from the system.
pub fn machine() -> (String, MachineSource) {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    machine_from(
        read("/etc/machine-id").as_deref(),
        read("/var/lib/dbus/machine-id").as_deref(),
        &hostname(),
    )
}

pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// A fresh random nonce for one mint attempt (128 bits, hex).
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: time and pid still tell attempts apart on one machine.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return format!("t{}-{}", now.as_nanos(), std::process::id());
    }
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Identity {
        Identity {
            machine: "m1".into(),
            machine_source: MachineSource::MachineId,
            user: "alice".into(),
            config: "c1".into(),
        }
    }

    #[test]
    fn our_own_mint_is_ours_whatever_the_version_host_and_nonce() {
        let mut meta = us().mint_meta("devvm-alice", "devvm", "n1");
        assert_eq!(us().mark_of(&meta), Mark::Ours);
        meta.insert(key::MINTED_BY.into(), "vault-token-renew/9.9.9".into());
        meta.insert(key::HOST.into(), "renamed".into());
        meta.insert(key::NONCE.into(), "n2".into());
        assert_eq!(us().mark_of(&meta), Mark::Ours);
    }

    #[test]
    fn each_matched_field_that_differs_makes_it_someone_elses() {
        let meta = us().mint_meta("devvm-alice", "devvm", "n1");
        for (k, field) in [
            (key::MINTED_BY, Field::Tool),
            (key::MACHINE, Field::Machine),
            (key::USER, Field::User),
            (key::CONFIG, Field::Config),
        ] {
            let mut other = meta.clone();
            other.insert(k.into(), "other".into());
            assert_eq!(us().mark_of(&other), Mark::Other(field), "{k}");
            other.remove(k);
            assert_eq!(us().mark_of(&other), Mark::Other(field), "{k} missing");
        }
    }

    #[test]
    fn a_mint_without_a_mark_is_missing_not_ours() {
        assert_eq!(us().mark_of(&BTreeMap::new()), Mark::Missing);
        let old = BTreeMap::from([
            ("host".to_string(), "devvm".to_string()),
            ("display-name".to_string(), "devvm-alice".to_string()),
        ]);
        assert_eq!(us().mark_of(&old), Mark::Missing);
    }

    #[test]
    fn tool_is_matched_whole_not_by_prefix() {
        let mut meta = us().mint_meta("d", "h", "n");
        meta.insert(key::MINTED_BY.into(), "vault-token-renew-fork/1".into());
        assert_eq!(us().mark_of(&meta), Mark::Other(Field::Tool));
        meta.insert(key::MINTED_BY.into(), "vault-token-renew".into());
        assert_eq!(us().mark_of(&meta), Mark::Ours);
    }

    #[test]
    fn configuration_id_is_stable_and_tells_configurations_apart() {
        let a = configuration_id(Path::new("/home/a/.vault-token"), "devvm-a");
        assert_eq!(a.len(), 16);
        assert_eq!(
            a,
            configuration_id(Path::new("/home/a/.vault-token"), "devvm-a")
        );
        for other in [
            configuration_id(Path::new("/home/a/.vault-token2"), "devvm-a"),
            configuration_id(Path::new("/home/a/.vault-token"), "devvm-b"),
            // The separator keeps the fields apart.
            configuration_id(Path::new("/home/a/.vault-tokend"), "evvm-a"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn machine_id_is_hashed_and_falls_back_in_order() {
        let (m, src) = machine_from(Some("0123abcd\n"), Some("ffff"), "devvm");
        assert_eq!(src, MachineSource::MachineId);
        assert_eq!(m.len(), 32);
        assert!(
            !m.contains("0123abcd"),
            "the machine id itself is never stored"
        );
        assert_eq!(m, machine_from(Some("0123abcd"), None, "x").0, "trimmed");
        let (d, src) = machine_from(Some(" \n"), Some("ffff"), "devvm");
        assert_eq!(src, MachineSource::DbusMachineId);
        assert_ne!(d, m);
        assert_eq!(
            machine_from(None, None, "devvm"),
            ("host-devvm".to_string(), MachineSource::Hostname)
        );
    }

    #[test]
    fn nonces_differ() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
