//! Policies and the ACL built from them (contract §3.0, §3.2, §4, §6).

use std::collections::HashMap;

pub(crate) const CREATE: u8 = 1;
pub(crate) const READ: u8 = 2;
pub(crate) const UPDATE: u8 = 4;
pub(crate) const DELETE: u8 = 8;
pub(crate) const LIST: u8 = 16;
pub(crate) const SUDO: u8 = 32;
pub(crate) const DENY: u8 = 64;
pub(crate) const PATCH: u8 = 128;

/// Sorted by name, as `sys/capabilities-self` reports them (contract §6).
const NAMES: [(&str, u8); 7] = [
    ("create", CREATE),
    ("delete", DELETE),
    ("list", LIST),
    ("patch", PATCH),
    ("read", READ),
    ("sudo", SUDO),
    ("update", UPDATE),
];

pub(crate) fn parse_capability(name: &str) -> Result<u8, String> {
    if name == "deny" {
        return Ok(DENY);
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bit)| *bit)
        .ok_or_else(|| format!("unknown capability {name:?}; use create, read, update, patch, delete, list, sudo or deny"))
}

/// One named policy: path pattern → capability bits. A pattern ending in `*` is a prefix glob.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) rules: Vec<(String, u8)>,
}

impl Policy {
    pub(crate) fn from_rules(rules: &[(&str, &[&str])]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(rules.len());
        for (path, caps) in rules {
            let mut bits = 0;
            for c in *caps {
                bits |= parse_capability(c)?;
            }
            out.push(((*path).to_string(), bits));
        }
        Ok(Policy { rules: out })
    }

    /// OpenBao's built-in `default` policy (`internal/vault/policy/policy_store.go` DefaultPolicy
    /// @113c5286), minus the templated identity paths and the `+` OIDC path the double cannot
    /// express (contract §1: only `read` on lookup-self; §2 `update` on renew-self; §6 `update` on
    /// capabilities-self).
    pub(crate) fn builtin_default() -> Self {
        Policy::from_rules(&[
            ("auth/token/lookup-self", &["read"]),
            ("auth/token/renew-self", &["update"]),
            ("auth/token/revoke-self", &["update"]),
            ("sys/capabilities-self", &["update"]),
            ("sys/internal/ui/resultant-acl", &["read"]),
            ("sys/leases/renew", &["update"]),
            ("sys/leases/lookup", &["update"]),
            (
                "cubbyhole/*",
                &["create", "read", "update", "delete", "list"],
            ),
            ("sys/wrapping/wrap", &["update"]),
            ("sys/wrapping/lookup", &["update"]),
            ("sys/wrapping/unwrap", &["update"]),
            ("sys/tools/hash", &["update"]),
            ("sys/tools/hash/*", &["update"]),
        ])
        .expect("built-in default policy is well-formed")
    }
}

/// The merged rules of every policy a request carries (token + identity policies, contract §3.0).
pub(crate) struct Acl {
    root: bool,
    exact: HashMap<String, u8>,
    /// Glob prefixes, longest first: the longest matching prefix wins, as in Vault.
    prefix: Vec<(String, u8)>,
}

fn merge(into: &mut u8, bits: u8) {
    // Deny on a pattern overrides every other grant on that same pattern.
    *into = if (*into | bits) & DENY != 0 {
        DENY
    } else {
        *into | bits
    };
}

impl Acl {
    pub(crate) fn new<'a>(
        names: impl IntoIterator<Item = &'a str>,
        policies: &HashMap<String, Policy>,
    ) -> Self {
        let mut acl = Acl {
            root: false,
            exact: HashMap::new(),
            prefix: Vec::new(),
        };
        let mut prefixes: HashMap<String, u8> = HashMap::new();
        for name in names {
            if name == "root" {
                acl.root = true;
                continue;
            }
            let Some(policy) = policies.get(name) else {
                continue;
            };
            for (pattern, bits) in &policy.rules {
                match pattern.strip_suffix('*') {
                    Some(p) => merge(prefixes.entry(p.to_string()).or_default(), *bits),
                    None => merge(acl.exact.entry(pattern.clone()).or_default(), *bits),
                }
            }
        }
        acl.prefix = prefixes.into_iter().collect();
        acl.prefix.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        acl
    }

    /// Capability bits on `path`: an exact rule first, else the longest matching glob. For a LIST the
    /// path carries a trailing `/`, and an exact rule without the slash matches too (contract §4).
    pub(crate) fn capabilities(&self, path: &str) -> u8 {
        let found = self.exact.get(path).copied().or_else(|| {
            path.strip_suffix('/')
                .and_then(|p| self.exact.get(p).copied())
        });
        let bits = found
            .or_else(|| {
                self.prefix
                    .iter()
                    .find(|(p, _)| path.starts_with(p.as_str()))
                    .map(|(_, b)| *b)
            })
            .unwrap_or(0);
        if bits & DENY != 0 { DENY } else { bits }
    }

    pub(crate) fn allows(&self, path: &str, op: u8) -> bool {
        self.root || self.capabilities(path) & op != 0
    }

    /// Sudo is checked on the exact request path (contract §3.2): sudo on `auth/token/create`
    /// does not grant it on `auth/token/create-orphan`.
    pub(crate) fn has_sudo(&self, path: &str) -> bool {
        self.root || self.capabilities(path) & SUDO != 0
    }

    /// The sorted names `sys/capabilities-self` reports: `["root"]`, `["deny"]` or the granted set (§6).
    pub(crate) fn capability_names(&self, path: &str) -> Vec<&'static str> {
        if self.root {
            return vec!["root"];
        }
        let bits = self.capabilities(path);
        if bits == 0 || bits & DENY != 0 {
            return vec!["deny"];
        }
        NAMES
            .iter()
            .filter(|(_, b)| bits & b != 0)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> HashMap<String, Policy> {
        let mut m = HashMap::new();
        m.insert("default".into(), Policy::builtin_default());
        m.insert(
            "admin".into(),
            Policy::from_rules(&[
                ("auth/token/*", &["update", "sudo"]),
                ("auth/token/create", &["update"]),
                ("auth/token/accessors", &["list", "sudo"]),
            ])
            .unwrap(),
        );
        m.insert(
            "nope".into(),
            Policy::from_rules(&[("auth/token/*", &["deny"])]).unwrap(),
        );
        m
    }

    #[test]
    fn exact_rule_beats_glob_and_list_matches_without_slash() {
        let acl = Acl::new(["admin"], &store());
        assert!(acl.has_sudo("auth/token/create-orphan"));
        assert!(
            !acl.has_sudo("auth/token/create"),
            "exact rule wins over the glob"
        );
        assert!(acl.allows("auth/token/accessors/", LIST));
        assert_eq!(
            acl.capability_names("auth/token/accessors/"),
            ["list", "sudo"]
        );
    }

    #[test]
    fn default_grants_only_read_on_lookup_self() {
        let acl = Acl::new(["default"], &store());
        assert!(acl.allows("auth/token/lookup-self", READ));
        assert!(!acl.allows("auth/token/lookup-self", UPDATE));
        assert_eq!(acl.capability_names("auth/token/create"), ["deny"]);
    }

    #[test]
    fn deny_wins_when_merged() {
        let acl = Acl::new(["admin", "nope"], &store());
        assert!(!acl.allows("auth/token/revoke-accessor", UPDATE));
        assert_eq!(Acl::new(["root"], &store()).capability_names("x"), ["root"]);
    }
}
