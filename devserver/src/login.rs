//! Userpass login (`POST auth/<mount>/login/<username>`), the double's stand-in for OIDC and
//! kubernetes logins (contract §8).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::reply::Reply;
use crate::store::{Entry, Lease, MAX_TTL, Store, sanitize_policies};
use crate::types::{TokenType, UserpassUser};

impl Store {
    pub(crate) fn add_user(&mut self, user: UserpassUser) {
        let mount = user.mount.trim_matches('/').to_string();
        let name = user.username.to_lowercase();
        let entity = self.new_entity(sanitize_policies(&user.identity_policies, false));
        self.users.insert((mount, name), (user, entity));
    }

    pub(crate) fn has_mount(&self, mount: &str) -> bool {
        self.users.keys().any(|(m, _)| m == mount)
    }

    pub(crate) fn login(&mut self, mount: &str, username: &str, body: &Value) -> Reply {
        let name = username.to_lowercase();
        let password = body.get("password").and_then(Value::as_str).unwrap_or("");
        if password.is_empty() {
            return Reply::bad_request("missing password");
        }
        let Some((user, entity_id)) = self.users.get(&(mount.to_string(), name.clone())).cloned()
        else {
            return Reply::bad_request("invalid username or password");
        };
        if user.password != password {
            return Reply::bad_request("invalid username or password");
        }
        // §8: display name = mount path with `/` → `-`, then the plugin's name, one trailing `-`
        // stripped, no sanitising; userpass's name is the lower-cased username.
        let ttl = user.ttl.unwrap_or(MAX_TTL).min(MAX_TTL);
        self.issue_login(LoginGrant {
            mount,
            name: &name,
            // The request path as sent: the plugin lower-cases the name, the path keeps its case.
            path: format!("auth/{mount}/login/{username}"),
            meta: BTreeMap::from([("username".to_string(), name.clone())]),
            policies: &user.policies,
            entity_id,
            ttl,
        })
    }

    /// Creates the token of a successful login of any auth method (contract §8) and answers
    /// with its `auth` block.
    pub(crate) fn issue_login(&mut self, grant: LoginGrant) -> Reply {
        let source = format!("{}-", grant.mount.replace('/', "-"));
        let dn = format!("{source}{}", grant.name);
        let display_name = dn.strip_suffix('-').map(str::to_string).unwrap_or(dn);
        let ttl = grant.ttl;
        let now = self.now();
        let (id, accessor) = self.new_ids(TokenType::Service);
        let entry = Entry {
            id,
            accessor,
            // §8 trap: a login token's own policies always hold `default`.
            policies: sanitize_policies(grant.policies, true),
            display_name,
            path: grant.path,
            meta: Some(grant.meta),
            num_uses: 0,
            parent: None, // every auth-method login token is an orphan (§1 `orphan`)
            children: Vec::new(),
            created_by: None,
            creation_time: now,
            creation_ttl: ttl,
            lease: Lease {
                issue_time: now,
                expire: Some(now + Duration::from_secs(ttl)),
                renewable: true,
                ttl,
            },
            period: 0,
            explicit_max_ttl: 0,
            entity_id: grant.entity_id,
            token_type: TokenType::Service,
            revoked: false,
            last_renewal: None,
            renewals: 0,
        };
        let auth = self.auth_block(&entry, ttl);
        self.insert(entry);
        let rid = self.request_id();
        Reply::ok(rid, Value::Null, vec![], auth)
    }
}

/// What a successful login grants; the display name is `<mount>-<name>` (contract §8).
pub(crate) struct LoginGrant<'a> {
    pub(crate) mount: &'a str,
    /// The plugin's display name: userpass's user name, OIDC's `user_claim` value.
    pub(crate) name: &'a str,
    pub(crate) path: String,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) policies: &'a [String],
    pub(crate) entity_id: String,
    pub(crate) ttl: u64,
}
