//! The token-store endpoints other than create: lookups, renew, revocation, the accessor list
//! and `sys/capabilities-self` (contract §1, §2, §4, §5, §6).

use std::time::Duration;

use serde_json::{Value, json};

use crate::fields::{self, Fields};
use crate::reply::Reply;
use crate::store::Store;
use crate::ttl::calculate_ttl;
use crate::types::TokenType;

/// One string field of an endpoint's schema, validated the way the framework does first.
fn body_str(body: &Value, schema: fields::Schema, key: &str) -> Result<String, Reply> {
    Fields::validate(body, schema).map(|f| f.str(key))
}

impl Store {
    /// §1: `id` is the token as the client sent it.
    pub(crate) fn lookup_self(&mut self, caller: &str) -> Reply {
        let data = self.lookup_data(&self.tokens[caller], caller);
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// `auth/token/lookup` with the token in the body; unknown → 403 `bad token` (contract §7). No
    /// token means the caller's own (openbao token_store.go handleLookup falls back to the client token).
    pub(crate) fn lookup_other(&mut self, caller: &str, body: &Value) -> Reply {
        let token = match body_str(body, fields::LOOKUP, "token") {
            Ok(t) if t.is_empty() => caller.to_string(),
            Ok(t) => t,
            Err(r) => return r,
        };
        let token = token.as_str();
        let Some(e) = self.live(token) else {
            return Reply::error(403, "bad token");
        };
        let data = self.lookup_data(e, token);
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// §2 renew-self: periodic → TTL = period (increment ignored), else the increment or the lease's
    /// current TTL (the original one until a renewal replaces it); capped at the 768h max and at
    /// explicit_max_ttl by `calculate_ttl`, counted from the lease's issue time.
    pub(crate) fn renew_self(&mut self, caller: &str, body: &Value) -> Reply {
        // `increment` is a TypeDurationSecond: a negative value fails validation before the handler.
        let increment = match Fields::validate(body, fields::RENEW_SELF) {
            Ok(f) => f.secs("increment"),
            Err(r) => return r,
        };
        let now = self.now();
        let e = &self.tokens[caller];
        if e.token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot be renewed");
        }
        // §2.2: not renewable, or a lease without expiry (a root token from token create).
        if !e.lease.renewable || e.lease.expire.is_none() {
            return Reply::bad_request("lease is not renewable");
        }
        // A login's auth method answers the renewal with the TTL its role or user grants
        // (userpass and jwt pathLoginRenew set Auth.TTL = TokenTTL), so without an increment it
        // starts again from the login's TTL; the token store renews from the lease's current TTL.
        let base_ttl = if e.path.starts_with("auth/token/") {
            e.lease.ttl
        } else {
            e.creation_ttl
        };
        let (ttl, warnings) = match calculate_ttl(
            increment,
            base_ttl,
            e.period,
            e.explicit_max_ttl,
            e.lease.issue_time.as_secs(),
            now.as_secs(),
        ) {
            Ok(x) => x,
            // A plain Go error in Vault, so a 500 (contract §2.4 [I]).
            Err(msg) => return Reply::error(500, &msg),
        };
        let e = self.tokens.get_mut(caller).expect("caller exists");
        e.lease.expire = Some(now + Duration::from_secs(ttl));
        e.lease.ttl = ttl;
        e.last_renewal = Some(now);
        e.renewals += 1;
        let auth = self.auth_block(&self.tokens[caller], ttl);
        let rid = self.request_id();
        Reply::ok(rid, Value::Null, warnings, auth)
    }

    /// 204, taking the child tree along; batch tokens cannot be revoked (openbao revokeCommon).
    pub(crate) fn revoke_self(&mut self, caller: &str) -> Reply {
        if self.tokens[caller].token_type == TokenType::Batch {
            return Reply::bad_request("batch tokens cannot be revoked");
        }
        self.revoke_tree(caller);
        Reply::no_content()
    }

    /// §5 lookup-accessor: same data as lookup-self with `id` blanked.
    pub(crate) fn lookup_accessor(&mut self, body: &Value) -> Reply {
        let acc = match accessor_arg(body) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let acc = acc.as_str();
        let Some(e) = self.live_by_accessor(acc) else {
            // A Go error from the handler, so core wraps it (contract §7, measured on OpenBao).
            return Reply::wrapped(400, "invalid accessor");
        };
        let data = self.lookup_data(e, "");
        let rid = self.request_id();
        Reply::ok(rid, data, vec![], Value::Null)
    }

    /// §5 revoke-accessor: 204; unknown → 200 with a warning, not an error.
    pub(crate) fn revoke_accessor(&mut self, body: &Value) -> Reply {
        let acc = match accessor_arg(body) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let acc = acc.as_str();
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
        let f = match Fields::validate(body, fields::CAPABILITIES) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut paths = f.list("paths");
        if paths.is_empty() {
            // The deprecated `path` is read when `paths` is empty.
            paths = f.list("path");
        }
        if paths.is_empty() {
            return Reply::bad_request("paths must be supplied");
        }
        // Each path is looked up as given; an empty one ("a,,b") fails the whole request
        // (openbao internal/vault/capabilities.go: 400 "missing path").
        if paths.iter().any(String::is_empty) {
            // A Go error, so multierror-wrapped (measured on OpenBao 2.7.2).
            return Reply::wrapped(400, "missing path");
        }
        let acl = self.acl(&self.tokens[caller]);
        let mut data = serde_json::Map::new();
        for p in &paths {
            data.insert(p.clone(), json!(acl.capability_names(p)));
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

/// The `accessor` body field of lookup- and revoke-accessor; empty → 400 `missing accessor` (§5),
/// multierror-wrapped like every Go error a handler returns.
fn accessor_arg(body: &Value) -> Result<String, Reply> {
    let acc = body_str(body, fields::ACCESSOR, "accessor")?;
    if acc.is_empty() {
        return Err(Reply::wrapped(400, "missing accessor"));
    }
    Ok(acc)
}
