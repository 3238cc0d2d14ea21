//! `auth/token/create` and `auth/token/create-orphan`: the authorization model of contract §3,
//! checked in the order of §3.6 (ACL 403 → parent checks → type checks → policy subset →
//! root/non-assignable → no_parent sudo → explicit_max_ttl → period sudo → ttl).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::clock::{go_duration, parse_duration_secs};
use crate::reply::Reply;
use crate::store::{Entry, Lease, MAX_TTL, Store, sanitize_display_name, sanitize_policies};
use crate::types::TokenType;

/// Weak decode of `policies` into []string: an array, or one string kept whole (contract §3 params:
/// `"a,b"` becomes one policy named `a,b`).
fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn weak_bool(v: Option<&Value>, default: bool) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
            _ => Err(format!("cannot parse {s:?} as bool")),
        },
        Some(Value::Number(n)) => Ok(n.as_f64() != Some(0.0)),
        Some(other) => Err(format!("cannot parse {other} as bool")),
    }
}

fn weak_str(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn weak_int(v: Option<&Value>) -> Result<i64, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("invalid integer {n}")),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| format!("invalid integer {s:?}")),
        Some(other) => Err(format!("invalid integer {other}")),
    }
}

/// The body key is `meta` (contract §3 params); values are coerced to strings.
fn meta(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let Some(Value::Object(m)) = v else {
        return None;
    };
    if m.is_empty() {
        return None;
    }
    Some(
        m.iter()
            .map(|(k, v)| (k.clone(), weak_str(Some(v))))
            .collect(),
    )
}

impl Store {
    /// `caller` is a live token whose ACL already granted `update` on `path` (§3.0, checked by the router).
    pub(crate) fn create_token(&mut self, caller: &str, path: &str, body: &Value) -> Reply {
        let parent = self.tokens[caller].clone();
        let acl = self.acl(&parent);
        // §3.2: sudo on the exact request path, from token + identity policies.
        let is_sudo = acl.has_sudo(path);
        let is_orphan_endpoint = path == "auth/token/create-orphan";
        let get = |k: &str| body.get(k);

        // §3.1 parent checks.
        if parent.token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot create more tokens");
        }
        if parent.num_uses > 0 {
            return Reply::bad_request("restricted use token cannot generate child tokens");
        }

        // Type checks (§3 params `num_uses`, `type`, `entity_alias`).
        let num_uses = match weak_int(get("num_uses")) {
            Ok(n) if n < 0 => return Reply::bad_request("number of uses cannot be negative"),
            Ok(n) => n as u64,
            Err(e) => return Reply::bad_request(&e),
        };
        if !weak_str(get("entity_alias")).is_empty() {
            return Reply::bad_request(
                "'entity_alias' is only allowed in combination with token role",
            );
        }
        let token_type = match weak_str(get("type")).as_str() {
            "" | "service" => TokenType::Service,
            "batch" => {
                let nonzero = |k: &str| matches!(parse_duration_secs(get(k).unwrap_or(&Value::Null)), Ok(d) if d != 0);
                let bad = if nonzero("explicit_max_ttl") {
                    Some("explicit_max_ttl")
                } else if num_uses != 0 {
                    Some("num_uses")
                } else if nonzero("period") {
                    Some("period")
                } else {
                    None
                };
                if let Some(field) = bad {
                    return Reply::bad_request(&format!("batch tokens cannot have {field:?} set"));
                }
                TokenType::Batch
            }
            _ => return Reply::bad_request("invalid 'token_type' value"),
        };
        let renewable = match weak_bool(get("renewable"), true) {
            Ok(b) => b,
            Err(e) => return Reply::bad_request(&e),
        };
        let no_parent = match weak_bool(get("no_parent"), false) {
            Ok(b) => b,
            Err(e) => return Reply::bad_request(&e),
        };
        let no_default = match weak_bool(get("no_default_policy"), false) {
            Ok(b) => b,
            Err(e) => return Reply::bad_request(&e),
        };

        // §3.3 policy resolution.
        let requested = sanitize_policies(&string_list(get("policies")), false);
        let mut policies = if requested.is_empty() {
            // Inherit the parent's *token* policies; identity policies never carry over.
            parent.policies.clone()
        } else {
            if !is_sudo && !requested.iter().all(|p| parent.policies.contains(p)) {
                // The subset check sees token policies only, never identity policies.
                return Reply::bad_request("child policies must be subset of parent");
            }
            requested
        };
        let add_default =
            !no_default && (is_sudo || parent.policies.iter().any(|p| p == "default"));
        policies = sanitize_policies(&policies, add_default);
        if no_default {
            policies.retain(|p| p != "default");
        }
        if policies.iter().any(|p| p == "root") && !parent.policies.iter().any(|p| p == "root") {
            return Reply::bad_request(
                "root tokens may not be created without parent token being root",
            );
        }
        for reserved in ["response-wrapping", "control-group"] {
            if policies.iter().any(|p| p == reserved) {
                return Reply::bad_request(&format!("cannot assign policy {reserved:?}"));
            }
        }

        // Custom token id: sudo only, and not shaped like a generated token (§3 params `id`).
        let custom_id = weak_str(get("id"));
        if !custom_id.is_empty() {
            if !is_sudo {
                return Reply::bad_request("root or sudo privileges required to specify token id");
            }
            if custom_id.starts_with("s.")
                || custom_id.starts_with("hvs.")
                || custom_id.starts_with("b.")
            {
                return Reply::bad_request("custom token ID cannot have the 's.' or 'hvs.' prefix");
            }
            if custom_id.contains('.') {
                return Reply::bad_request("custom token ID cannot have a '.' in the value");
            }
            if self.tokens.contains_key(&custom_id) {
                return Reply::bad_request("unable to create token");
            }
        }

        // §3.4 orphans: create-orphan always makes one; `no_parent` needs sudo on either path.
        if no_parent && !is_sudo {
            return Reply::bad_request("root or sudo privileges required to create orphan token");
        }
        let orphan = is_orphan_endpoint || no_parent;

        let explicit_max_ttl =
            match parse_duration_secs(get("explicit_max_ttl").unwrap_or(&Value::Null)) {
                Ok(d) if d < 0 => return Reply::bad_request("explicit_max_ttl must be positive"),
                Ok(d) => d as u64,
                Err(e) => return Reply::bad_request(&e),
            };
        // §3.5 period needs sudo.
        let period = match parse_duration_secs(get("period").unwrap_or(&Value::Null)) {
            Ok(d) if d < 0 => return Reply::bad_request("period must be positive"),
            Ok(d) => d as u64,
            Err(e) => return Reply::bad_request(&e),
        };
        if period > 0 && !is_sudo {
            return Reply::bad_request("root or sudo privileges required to create periodic token");
        }
        let ttl_field = get("ttl").or_else(|| get("lease")).unwrap_or(&Value::Null);
        let ttl_req = match parse_duration_secs(ttl_field) {
            Ok(d) if d < 0 => return Reply::bad_request("ttl must be positive"),
            Ok(d) => d as u64,
            Err(e) => return Reply::bad_request(&e),
        };

        // TTL (framework.CalculateTTL, contract §2.4/§2.5): the period wins over ttl; everything is
        // capped at the 768h system max (with a warning) and at explicit_max_ttl.
        let mut warnings = Vec::new();
        let is_root = policies.iter().any(|p| p == "root");
        let ttl = if period > 0 {
            if period > MAX_TTL {
                warnings.push(format!(
                    "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped accordingly",
                    go_duration(period),
                    go_duration(MAX_TTL)
                ));
            }
            period.min(MAX_TTL)
        } else if ttl_req > 0 {
            if ttl_req > MAX_TTL {
                warnings.push(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                    go_duration(ttl_req),
                    go_duration(MAX_TTL)
                ));
            }
            ttl_req.min(MAX_TTL)
        } else if is_root {
            0 // a root token with no TTL never expires
        } else {
            MAX_TTL // the mount default
        };
        let ttl = if explicit_max_ttl > 0 && (ttl == 0 || ttl > explicit_max_ttl) {
            explicit_max_ttl
        } else {
            ttl
        };

        // §3.3: unknown policies are allowed, with a warning each.
        for p in &policies {
            if p != "root" && !self.policies.contains_key(p) {
                warnings.push(format!("Policy {p:?} does not exist"));
            }
        }

        let (generated, accessor) = self.new_ids(token_type);
        let id = if custom_id.is_empty() {
            generated
        } else {
            custom_id
        };
        let now = self.now();
        let entry = Entry {
            id,
            accessor,
            policies,
            display_name: sanitize_display_name(&weak_str(get("display_name"))),
            path: path.to_string(),
            meta: meta(get("meta")),
            num_uses,
            parent: (!orphan).then(|| parent.id.clone()),
            children: Vec::new(),
            created_by: Some(parent.accessor.clone()),
            creation_time: now,
            creation_ttl: ttl,
            lease: Lease {
                issue_time: now,
                expire: (ttl > 0).then(|| now + Duration::from_secs(ttl)),
                // A lease without expiry is not renewable (contract §1 `renewable`, §2.2).
                renewable: renewable && ttl > 0 && token_type == TokenType::Service,
            },
            period,
            explicit_max_ttl,
            // §3.4: an orphan does not inherit the parent's entity.
            entity_id: if orphan {
                String::new()
            } else {
                parent.entity_id.clone()
            },
            token_type,
            revoked: false,
            last_renewal: None,
            renewals: 0,
        };
        let auth = self.auth_block(&entry, ttl);
        self.insert(entry);
        let rid = self.request_id();
        Reply::ok(rid, Value::Null, warnings, auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn weak_decoding_matches_vaults_struct_decode() {
        assert_eq!(string_list(Some(&json!("a,b"))), ["a,b"]);
        assert_eq!(string_list(Some(&json!(["x", "y"]))), ["x", "y"]);
        assert_eq!(weak_bool(Some(&json!("true")), false), Ok(true));
        assert_eq!(weak_bool(None, true), Ok(true));
        assert_eq!(weak_int(Some(&json!("3"))), Ok(3));
        assert_eq!(meta(Some(&json!({"tool": "x", "n": 1}))).unwrap()["n"], "1");
    }
}
