//! The token-store endpoints other than create: lookups, renew, revocation, the accessor list
//! and `sys/capabilities-self` (contract §1, §2, §4, §5, §6).

use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::{go_duration, parse_duration_secs};
use crate::reply::Reply;
use crate::store::{MAX_TTL, Store};
use crate::types::TokenType;

fn body_str<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Store {
    /// §1: `id` is the token as the client sent it.
    pub(crate) fn lookup_self(&mut self, caller: &str) -> Reply {
        let data = self.lookup_data(&self.tokens[caller], caller);
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// `auth/token/lookup` with the token in the body; unknown → 403 `bad token` (contract §7).
    pub(crate) fn lookup_other(&mut self, body: &Value) -> Reply {
        let token = body_str(body, "token");
        if token.is_empty() {
            return Reply::bad_request("missing token");
        }
        let Some(e) = self.live(token) else {
            return Reply::error(403, "bad token");
        };
        let data = self.lookup_data(e, token);
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// §2 renew-self: periodic → TTL = period (increment ignored), else increment or original TTL,
    /// capped at the 768h max and at explicit_max_ttl.
    pub(crate) fn renew_self(&mut self, caller: &str, body: &Value) -> Reply {
        let now = self.now();
        let e = &self.tokens[caller];
        if e.token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot be renewed");
        }
        // §2.2: not renewable, or a lease without expiry (a root token from token create).
        if !e.lease.renewable || e.lease.expire.is_none() {
            return Reply::bad_request("lease is not renewable");
        }
        let increment = match parse_duration_secs(body.get("increment").unwrap_or(&Value::Null)) {
            Ok(d) => d.max(0) as u64,
            Err(err) => return Reply::bad_request(&err),
        };
        let mut warnings = Vec::new();
        let mut ttl = if e.period > 0 {
            if e.period > MAX_TTL {
                warnings.push(format!(
                    "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped accordingly",
                    go_duration(e.period),
                    go_duration(MAX_TTL)
                ));
            }
            e.period.min(MAX_TTL)
        } else {
            let wanted = if increment > 0 {
                increment
            } else if e.creation_ttl > 0 {
                e.creation_ttl
            } else {
                MAX_TTL
            };
            // Non-periodic tokens are capped at issue time + the max TTL.
            let left = (e.creation_time + Duration::from_secs(MAX_TTL))
                .saturating_sub(now)
                .as_secs();
            if left == 0 {
                return Reply::error(500, "past the max TTL, cannot renew");
            }
            if wanted > left {
                warnings.push(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                    go_duration(wanted),
                    go_duration(left)
                ));
            }
            wanted.min(left)
        };
        if e.explicit_max_ttl > 0 {
            let left = (e.creation_time + Duration::from_secs(e.explicit_max_ttl))
                .saturating_sub(now)
                .as_secs();
            if left == 0 {
                // A plain Go error in Vault, so a 500 (contract §2.4 [I]).
                return Reply::error(500, "past the max TTL, cannot renew");
            }
            ttl = ttl.min(left);
        }
        let e = self.tokens.get_mut(caller).expect("caller exists");
        e.lease.expire = Some(now + Duration::from_secs(ttl));
        e.last_renewal = Some(now);
        e.renewals += 1;
        let auth = self.auth_block(&self.tokens[caller], ttl);
        let rid = self.request_id();
        Reply::ok(rid, Value::Null, warnings, auth)
    }

    pub(crate) fn revoke_self(&mut self, caller: &str) -> Reply {
        self.revoke_tree(caller);
        Reply::no_content()
    }

    /// §5 lookup-accessor: same data as lookup-self with `id` blanked.
    pub(crate) fn lookup_accessor(&mut self, body: &Value) -> Reply {
        let acc = body_str(body, "accessor");
        if acc.is_empty() {
            return Reply::bad_request("missing accessor");
        }
        let Some(e) = self.live_by_accessor(acc) else {
            return Reply::bad_request("invalid accessor");
        };
        let data = self.lookup_data(e, "");
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// §5 revoke-accessor: 204; unknown → 200 with a warning, not an error.
    pub(crate) fn revoke_accessor(&mut self, body: &Value) -> Reply {
        let acc = body_str(body, "accessor");
        if acc.is_empty() {
            return Reply::bad_request("missing accessor");
        }
        let Some(id) = self.live_by_accessor(acc).map(|e| e.id.clone()) else {
            let rid = self.request_id();
            return Reply::ok(
                rid,
                Value::Null,
                vec!["No token found with this accessor".into()],
                Value::Null,
            );
        };
        self.revoke_tree(&id);
        Reply::no_content()
    }

    /// §4 the accessor list: every live service token; empty → 404 `{"errors":[]}`. Vault lists in
    /// storage-key (salted hash) order, effectively random, so clients must not rely on order; the
    /// double sorts by accessor to stay deterministic. Scans entries in place: 100k keys must be quick.
    pub(crate) fn list_accessors(&mut self) -> Reply {
        let now = self.now();
        let mut keys: Vec<&str> = self
            .tokens
            .values()
            .filter(|e| !e.accessor.is_empty() && self.entry_alive_at(e, now))
            .map(|e| e.accessor.as_str())
            .collect();
        keys.sort_unstable();
        if keys.is_empty() {
            return Reply::not_found();
        }
        let data = json!({ "keys": keys });
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// §6 capabilities-self: sorted names per path, `capabilities` too for exactly one path, and the
    /// `data` keys copied to the top level.
    pub(crate) fn capabilities_self(&mut self, caller: &str, body: &Value) -> Reply {
        let mut paths: Vec<String> = match body.get("paths") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
            _ => Vec::new(),
        };
        paths.retain(|p| !p.is_empty());
        if paths.is_empty() {
            // The deprecated `path` is read when `paths` is empty.
            let p = body_str(body, "path");
            if !p.is_empty() {
                paths.push(p.to_string());
            }
        }
        if paths.is_empty() {
            return Reply::bad_request("paths must be supplied");
        }
        let acl = self.acl(&self.tokens[caller]);
        let mut data = serde_json::Map::new();
        for p in &paths {
            data.insert(
                p.clone(),
                json!(acl.capability_names(p.trim_start_matches('/'))),
            );
        }
        if paths.len() == 1 {
            data.insert("capabilities".into(), data[&paths[0]].clone());
        }
        let rid = self.request_id();
        let mut reply = Reply::ok(rid, Value::Object(data.clone()), vec![], Value::Null);
        if let Some(Value::Object(top)) = reply.body.as_mut() {
            for (k, v) in data {
                top.entry(k).or_insert(v);
            }
        }
        reply
    }
}
