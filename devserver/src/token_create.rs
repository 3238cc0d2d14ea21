//! `auth/token/create` and `auth/token/create-orphan`: the authorization model of contract §3,
//! in the order openbao's `handleCreateCommon` checks it (`internal/vault/token_store.go` @2edd34dd):
//! field validation (before the handler) → parent checks → token type → num_uses → entity_alias →
//! custom-id sudo → policy subset / non-assignable → root → no_parent sudo → explicit_max_ttl →
//! period sudo → ttl → TTL calculation → custom-id shape. This refines contract §3.6, which leaves
//! the custom id out.

use std::time::Duration;

use serde_json::Value;

use crate::clock::parse_duration_secs;
use crate::fields::{self, Fields};
use crate::reply::Reply;
use crate::store::{Entry, Lease, Store, sanitize_display_name, sanitize_policies};
use crate::ttl::calculate_ttl;
use crate::types::TokenType;

/// `parseutil.ParseDurationSecond` of a string field; `""` is "not given".
fn duration(s: &str) -> Result<i64, String> {
    parse_duration_secs(&Value::String(s.to_string()))
}

impl Store {
    /// `caller` is a live token whose ACL already granted `update` on `path` (§3.0, checked by the router).
    pub(crate) fn create_token(&mut self, caller: &str, path: &str, body: &Value) -> Reply {
        let f = match Fields::validate(body, fields::CREATE) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let parent = self.tokens[caller].clone();
        let acl = self.acl(&parent);
        // §3.2: sudo on the exact request path, from token + identity policies.
        let is_sudo = acl.has_sudo(path);
        let is_orphan_endpoint = path == "auth/token/create-orphan";

        // §3.1 parent checks.
        if parent.token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot create more tokens");
        }
        if parent.num_uses > 0 {
            return Reply::bad_request("restricted use token cannot generate child tokens");
        }

        // Token type. Go's `switch` takes the first case whose condition holds, so an
        // `explicit_max_ttl` of "0s" (what the CLI sends) stops the batch checks there.
        let explicit_max_ttl_str = f.str("explicit_max_ttl");
        let period_str = f.str("period");
        let num_uses = f.int("num_uses");
        let mut renewable = f.bool_or("renewable", true);
        let token_type = match f.str("type").as_str() {
            "" | "service" => TokenType::Service,
            "batch" => {
                let mut bad = None;
                if !explicit_max_ttl_str.is_empty() {
                    match duration(&explicit_max_ttl_str) {
                        Err(_) => {
                            return Reply::bad_request(
                                "'explicit_max_ttl' value could not be parsed",
                            );
                        }
                        Ok(d) if d != 0 => bad = Some("explicit_max_ttl"),
                        Ok(_) => {}
                    }
                } else if num_uses != 0 {
                    bad = Some("num_uses");
                } else if !period_str.is_empty() {
                    match duration(&period_str) {
                        Err(_) => return Reply::bad_request("'period' value could not be parsed"),
                        Ok(d) if d != 0 => bad = Some("period"),
                        Ok(_) => {}
                    }
                }
                if let Some(field) = bad {
                    return Reply::bad_request(&format!("batch tokens cannot have {field:?} set"));
                }
                renewable = false;
                TokenType::Batch
            }
            _ => return Reply::bad_request("invalid 'token_type' value"),
        };
        if num_uses < 0 {
            return Reply::bad_request("number of uses cannot be negative");
        }
        if !f.str("entity_alias").is_empty() {
            return Reply::bad_request(
                "'entity_alias' is only allowed in combination with token role",
            );
        }
        // A custom id needs sudo, checked before the policies (§3 params `id`).
        let custom_id = f.str("id");
        if !custom_id.is_empty() && !is_sudo {
            return Reply::bad_request("root or sudo privileges required to specify token id");
        }

        // §3.3 policy resolution (resolveTokenPolicies, no role).
        let no_default = f.bool_or("no_default_policy", false);
        let requested = f.list("policies");
        let (policies, add_default) = if requested.is_empty() {
            // Inherit the parent's *token* policies; `default` only if the parent has it.
            (sanitize_policies(&parent.policies, false), false)
        } else if !is_sudo {
            let wanted = sanitize_policies(&requested, false);
            let have = sanitize_policies(&parent.policies, false);
            // The subset check sees token policies only, never identity policies.
            if !wanted.iter().all(|p| have.contains(p)) {
                return Reply::bad_request("child policies must be subset of parent");
            }
            (
                wanted,
                !no_default && parent.policies.iter().any(|p| p == "default"),
            )
        } else {
            (requested, !no_default)
        };
        let mut policies = sanitize_policies(&policies, add_default);
        if no_default {
            policies.retain(|p| p != "default");
        }
        // Vault OSS also reserves `control-group`; OpenBao only `response-wrapping`.
        for reserved in ["response-wrapping", "control-group"] {
            if policies.iter().any(|p| p == reserved) {
                return Reply::bad_request(&format!("cannot assign policy {reserved:?}"));
            }
        }
        let is_root = policies.iter().any(|p| p == "root");
        if is_root && !parent.policies.iter().any(|p| p == "root") {
            return Reply::bad_request(
                "root tokens may not be created without parent token being root",
            );
        }
        if is_root && token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot be root tokens");
        }

        // §3.4 orphans: create-orphan always makes one; `no_parent` needs sudo on either path.
        let no_parent = f.bool_or("no_parent", false);
        if no_parent && !is_sudo {
            return Reply::bad_request("root or sudo privileges required to create orphan token");
        }
        let orphan = is_orphan_endpoint || no_parent;

        // parseAndMergeTTLPeriod: explicit_max_ttl, then period (§3.5 sudo), then ttl/lease.
        let mut explicit_max_ttl = 0;
        if !explicit_max_ttl_str.is_empty() {
            match duration(&explicit_max_ttl_str) {
                Ok(d) if d < 0 => return Reply::bad_request("explicit_max_ttl must be positive"),
                Ok(d) => explicit_max_ttl = d as u64,
                Err(e) => return Reply::bad_request(&e),
            }
        }
        let mut period = 0;
        if !period_str.is_empty() {
            match duration(&period_str) {
                Ok(d) if d < 0 => return Reply::bad_request("period must be positive"),
                Ok(0) => {}
                Ok(_) if !is_sudo => {
                    return Reply::bad_request(
                        "root or sudo privileges required to create periodic token",
                    );
                }
                Ok(d) => period = d as u64,
                Err(e) => return Reply::bad_request(&e),
            }
        }
        // `lease` is the deprecated name, read only when `ttl` is empty.
        let mut ttl = 0;
        for name in ["ttl", "lease"] {
            let raw = f.str(name);
            if raw.is_empty() {
                continue;
            }
            match duration(&raw) {
                Ok(d) if d < 0 => return Reply::bad_request(&format!("{name} must be positive")),
                Ok(d) => ttl = d as u64,
                Err(e) => return Reply::bad_request(&e),
            }
            break;
        }

        // Only root tokens without a TTL or period skip the calculation (they never expire).
        let now = self.now();
        let mut warnings = Vec::new();
        if period > 0 || ttl > 0 || !is_root {
            match calculate_ttl(
                0,
                ttl,
                period,
                explicit_max_ttl,
                now.as_secs(),
                now.as_secs(),
            ) {
                Ok((t, w)) => {
                    ttl = t;
                    warnings.extend(w);
                }
                Err(e) => return Reply::error(500, &e),
            }
        }
        if ttl == 0 && explicit_max_ttl > 0 {
            ttl = explicit_max_ttl; // root tokens are still bound by explicit_max_ttl
        }
        if ttl == 0 {
            if parent.creation_ttl != 0 {
                return Reply::bad_request(
                    "expiring root tokens cannot create non-expiring root tokens",
                );
            }
            // A lease without expiry is not renewable (contract §1 `renewable`, §2.2).
            renewable = false;
        }

        // The custom id's shape is checked last, when the token is stored (§3 params `id`).
        if !custom_id.is_empty() {
            let refused = if custom_id.starts_with("hvs.") {
                Some("custom token ID cannot have the 'hvs.' prefix")
            } else if custom_id.starts_with("s.") {
                Some("custom token ID cannot have the 's.' prefix")
            } else if custom_id.contains('.') {
                Some("custom token ID cannot have a '.' in the value")
            } else if self.tokens.contains_key(&custom_id) {
                Some("cannot create a token with a duplicate ID")
            } else {
                None
            };
            if let Some(msg) = refused {
                return Reply::bad_request(msg);
            }
            warnings.push("Supplying a custom ID for the token uses the weaker SHA1 hashing instead of the more secure SHA2-256 HMAC for token obfuscation. SHA1 hashed tokens on the wire leads to less secure lookups.".into());
        }

        let (generated, accessor) = self.new_ids(token_type);
        let id = if custom_id.is_empty() || token_type == TokenType::Batch {
            generated
        } else {
            custom_id
        };
        let entry = Entry {
            id,
            accessor,
            display_name: sanitize_display_name(&f.str("display_name")),
            path: path.to_string(),
            // `meta:{}` stays an empty object, `meta:null` or no meta is null (GetOk in handleCreateCommon).
            meta: f.kv("meta"),
            num_uses: num_uses as u64,
            parent: (!orphan).then(|| parent.id.clone()),
            children: Vec::new(),
            created_by: Some(parent.accessor.clone()),
            creation_time: now,
            creation_ttl: ttl,
            lease: Lease {
                issue_time: now,
                expire: (ttl > 0).then(|| now + Duration::from_secs(ttl)),
                renewable,
                ttl,
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
            policies,
        };
        // §3.3: unknown policies are allowed, with a warning each.
        for p in &entry.policies {
            if p != "root" && !self.policies.contains_key(p) {
                warnings.push(format!("Policy {p:?} does not exist"));
            }
        }
        let auth = self.auth_block(&entry, ttl);
        self.insert(entry);
        let rid = self.request_id();
        Reply::ok(rid, Value::Null, warnings, auth)
    }
}
