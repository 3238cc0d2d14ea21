//! The OIDC auth method's CLI flow (contract §9 "`vault login -method=oidc`"), as the jwt plugin's
//! `path_oidc.go` serves it, plus a fake identity provider that signs the role's user in at once:
//!
//! 1. `POST /v1/auth/<mount>/oidc/auth_url {role, redirect_uri, client_nonce}` → `data.auth_url`,
//!    a URL of the fake provider (`/_provider/<mount>/authorize?…&state=…&nonce=…`).
//! 2. The browser follows it; the provider answers 302 to `<redirect_uri>?code=…&state=…`.
//! 3. The client's loopback listener calls `GET /v1/auth/<mount>/oidc/callback?state&code&client_nonce`
//!    → a login `auth` block (display name `<mount>-<user claim>`, contract §8).
//!
//! Both Vault paths are unauthenticated, like the plugin's; a state is good for one callback and
//! ten minutes of the double's clock.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::login::LoginGrant;
use crate::reply::Reply;
use crate::store::Store;

/// The plugin's `oidcStateTimeout`.
const STATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// What an organisation typically sets on the OIDC role: a week.
const DEFAULT_TTL: u64 = 7 * 24 * 3600;

/// An OIDC role on a mount, with the one user the fake provider signs in for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcRole {
    pub mount: String,
    pub role: String,
    /// The `user_claim` value of the signed-in user, e.g. `alice@example.com`.
    pub user: String,
    /// Token policies (`default` is always added, contract §8).
    pub policies: Vec<String>,
    /// Policies of the user's entity: where an OIDC admin's authority usually lives.
    pub identity_policies: Vec<String>,
    /// Loopback URIs match on any port (RFC 8252 §7.3, as the plugin's `validRedirect`).
    pub allowed_redirect_uris: Vec<String>,
    /// Seconds; default a week.
    pub ttl: Option<u64>,
    /// Make this the mount's `default_role`, used when a request names no role.
    pub default_role: bool,
}

impl Default for OidcRole {
    fn default() -> Self {
        OidcRole {
            mount: "oidc".into(),
            role: "default".into(),
            user: "alice@example.com".into(),
            policies: Vec::new(),
            identity_policies: Vec::new(),
            allowed_redirect_uris: vec!["http://localhost:8250/oidc/callback".into()],
            ttl: None,
            default_role: true,
        }
    }
}

struct PendingLogin {
    mount: String,
    role: String,
    redirect_uri: String,
    client_nonce: String,
    created: Duration,
    /// Set once the provider has signed the user in.
    code: Option<String>,
}

#[derive(Default)]
pub(crate) struct Oidc {
    /// (mount, role) → role and the entity of its user.
    roles: HashMap<(String, String), (OidcRole, String)>,
    default_roles: HashMap<String, String>,
    /// state id → pending login.
    states: HashMap<String, PendingLogin>,
}

/// `auth/<mount>/oidc/auth_url` or `…/callback` for a mount with OIDC roles.
pub(crate) fn route<'a>(store: &Store, path: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix("auth/")?;
    let (mount, action) = rest.rsplit_once("/oidc/")?;
    let known = store.oidc.roles.keys().any(|(m, _)| m == mount);
    (known && matches!(action, "auth_url" | "callback")).then_some((mount, action))
}

impl Store {
    pub(crate) fn add_oidc_role(&mut self, role: OidcRole) {
        let mount = role.mount.trim_matches('/').to_string();
        let name = role.role.to_lowercase();
        let entity = self.new_entity(crate::store::sanitize_policies(
            &role.identity_policies,
            false,
        ));
        if role.default_role {
            self.oidc.default_roles.insert(mount.clone(), name.clone());
        }
        self.oidc.roles.insert((mount, name), (role, entity));
    }

    /// `POST auth/<mount>/oidc/auth_url` (the plugin's `authURL`). `host` is the Host header, so
    /// the provider URL points back at this double however it was reached.
    pub(crate) fn oidc_auth_url(&mut self, mount: &str, body: &Value, host: &str) -> Reply {
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut role = field("role").to_lowercase();
        if role.is_empty() {
            role = self
                .oidc
                .default_roles
                .get(mount)
                .cloned()
                .unwrap_or_default();
        }
        if role.is_empty() {
            return Reply::bad_request("missing role");
        }
        let redirect_uri = field("redirect_uri");
        if redirect_uri.is_empty() {
            return Reply::bad_request("missing redirect_uri");
        }
        let Some((r, _)) = self.oidc.roles.get(&(mount.to_string(), role.clone())) else {
            return Reply::bad_request(&format!("role {role:?} could not be found"));
        };
        let allowed = valid_redirect(&redirect_uri, &r.allowed_redirect_uris);
        let rid = self.request_id();
        // The plugin answers an unauthorised redirect_uri with an empty URL, not an error.
        if !allowed {
            return Reply::ok(rid, json!({ "auth_url": "" }), vec![], Value::Null);
        }
        // 2 × 160-bit hex ids, like the plugin's createState.
        let state = self.hex_id();
        let nonce = self.hex_id();
        let created = self.now();
        self.oidc.states.insert(
            state.clone(),
            PendingLogin {
                mount: mount.to_string(),
                role,
                redirect_uri: redirect_uri.clone(),
                client_nonce: field("client_nonce"),
                created,
                code: None,
            },
        );
        let url = format!(
            "http://{host}/_provider/{mount}/authorize?client_id=vault-devserver&nonce={nonce}&redirect_uri={}&response_type=code&scope=openid&state={state}",
            encode(&redirect_uri)
        );
        Reply::ok(rid, json!({ "auth_url": url }), vec![], Value::Null)
    }

    /// `GET auth/<mount>/oidc/callback` (the plugin's `pathCallback`).
    pub(crate) fn oidc_callback(&mut self, mount: &str, query: &str) -> Reply {
        let params = parse_query(query);
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        // verifyState: found or not, a state is used up by the attempt.
        let now = self.now();
        let pending = self
            .oidc
            .states
            .remove(get("state"))
            .filter(|p| p.mount == mount && now.saturating_sub(p.created) <= STATE_TIMEOUT);
        let Some(pending) = pending else {
            return Reply::bad_request("OpenBao login failed. Expired or missing OAuth state.");
        };
        if !pending.client_nonce.is_empty() && get("client_nonce") != pending.client_nonce {
            return Reply::bad_request("invalid client_nonce");
        }
        let Some((role, entity_id)) = self
            .oidc
            .roles
            .get(&(mount.to_string(), pending.role.clone()))
            .cloned()
        else {
            return Reply::bad_request("OpenBao login failed. Role could not be found");
        };
        let code = get("code");
        if code.is_empty() {
            return Reply::bad_request("OpenBao login failed. No code or id_token received.");
        }
        if pending.code.as_deref() != Some(code) {
            return Reply::bad_request(
                "OpenBao login failed. Error exchanging oidc code: \"oauth2: \\\"invalid_grant\\\"\".",
            );
        }
        self.issue_login(LoginGrant {
            mount,
            name: &role.user,
            path: format!("auth/{mount}/oidc/callback"),
            meta: BTreeMap::from([("role".to_string(), pending.role.clone())]),
            policies: &role.policies,
            entity_id,
            ttl: role.ttl.unwrap_or(DEFAULT_TTL),
        })
    }

    /// The fake provider's authorization endpoint: the user is already signed in, so it issues a
    /// code at once. Returns the redirect target, or why the request is refused.
    pub(crate) fn oidc_authorize(&mut self, mount: &str, query: &str) -> Result<String, String> {
        let params = parse_query(query);
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let code = self.hex_id();
        let Some(pending) = self.oidc.states.get_mut(get("state")) else {
            return Err("unknown or expired state: start the login again".into());
        };
        if pending.mount != mount || pending.redirect_uri != get("redirect_uri") {
            return Err("redirect_uri does not match the one this login was started with".into());
        }
        pending.code = Some(code.clone());
        let sep = if pending.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!(
            "{}{sep}code={code}&state={}",
            pending.redirect_uri,
            encode(get("state"))
        ))
    }

    fn hex_id(&mut self) -> String {
        let (a, b, c) = (
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
        );
        format!("{a:016x}{b:016x}{:08x}", c >> 32)
    }
}

/// The plugin's `validRedirect`: loopback URIs match on any port, others exactly.
fn valid_redirect(uri: &str, allowed: &[String]) -> bool {
    let Some(given) = split_uri(uri) else {
        return false;
    };
    if !matches!(given.1, "localhost" | "127.0.0.1" | "[::1]") {
        return allowed.iter().any(|a| a == uri);
    }
    allowed
        .iter()
        .filter_map(|a| split_uri(a))
        .any(|a| a.0 == given.0 && a.1 == given.1 && a.2 == given.2)
}

/// (scheme, host, path-and-query) of an absolute http(s) URI; the port is dropped.
fn split_uri(uri: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = uri.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = if authority.starts_with('[') {
        &authority[..=authority.find(']')?]
    } else {
        authority.split(':').next()?
    };
    Some((scheme, host, path))
}

/// `application/x-www-form-urlencoded` decoding of a query string.
fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_others_exactly() {
        let allowed = vec![
            "http://localhost:8250/oidc/callback".to_string(),
            "https://vault.example.com/ui/vault/auth/oidc/oidc/callback".to_string(),
        ];
        assert!(valid_redirect(
            "http://localhost:41234/oidc/callback",
            &allowed
        ));
        assert!(!valid_redirect("http://localhost:8250/other", &allowed));
        assert!(!valid_redirect(
            "http://127.0.0.1:8250/oidc/callback",
            &allowed
        ));
        assert!(valid_redirect(
            "https://vault.example.com/ui/vault/auth/oidc/oidc/callback",
            &allowed
        ));
        assert!(!valid_redirect(
            "https://evil.example.com/oidc/callback",
            &allowed
        ));
    }

    fn store() -> Store {
        let mut s = Store::new(1);
        s.add_oidc_role(OidcRole {
            identity_policies: vec!["vault-admin".into()],
            ..Default::default()
        });
        s
    }

    const REDIRECT: &str = "http://localhost:41234/oidc/callback";

    /// auth_url, then the provider's redirect; returns (state, code, callback query).
    fn start(s: &mut Store, nonce: &str) -> (String, String) {
        let r = s.oidc_auth_url(
            "oidc",
            &json!({ "redirect_uri": REDIRECT, "client_nonce": nonce }),
            "127.0.0.1:1",
        );
        assert_eq!(r.status, 200);
        let url = r.body.unwrap()["data"]["auth_url"]
            .as_str()
            .unwrap()
            .to_string();
        let query = url.split_once('?').unwrap().1;
        let location = s.oidc_authorize("oidc", query).unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let params = parse_query(location.split_once('?').unwrap().1);
        (params["state"].clone(), params["code"].clone())
    }

    fn errors(r: &Reply) -> String {
        r.body.as_ref().unwrap()["errors"][0]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    #[test]
    fn the_whole_flow_yields_a_login_token_named_after_the_user_claim() {
        let mut s = store();
        let (state, code) = start(&mut s, "cn");
        let r = s.oidc_callback(
            "oidc",
            &format!("state={state}&code={code}&client_nonce=cn"),
        );
        assert_eq!(r.status, 200);
        let token = r.body.unwrap()["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        let e = &s.tokens[&token];
        assert_eq!(e.display_name, "oidc-alice@example.com");
        assert_eq!(e.path, "auth/oidc/oidc/callback");
        assert_eq!(e.policies, ["default"]);
        assert_eq!(s.identity_policies(e), ["vault-admin"]);
    }

    #[test]
    fn a_state_is_good_for_one_callback_only() {
        let mut s = store();
        let (state, code) = start(&mut s, "cn");
        let q = format!("state={state}&code={code}&client_nonce=cn");
        assert_eq!(s.oidc_callback("oidc", &q).status, 200);
        let again = s.oidc_callback("oidc", &q);
        assert_eq!(again.status, 400);
        assert_eq!(
            errors(&again),
            "OpenBao login failed. Expired or missing OAuth state."
        );
    }

    #[test]
    fn a_wrong_client_nonce_wrong_code_or_old_state_is_refused() {
        let mut s = store();
        let (state, code) = start(&mut s, "cn");
        let r = s.oidc_callback("oidc", &format!("state={state}&code={code}&client_nonce=x"));
        assert_eq!(
            (r.status, errors(&r).as_str()),
            (400, "invalid client_nonce")
        );

        let (state, _) = start(&mut s, "cn");
        let r = s.oidc_callback(
            "oidc",
            &format!("state={state}&code=forged&client_nonce=cn"),
        );
        assert_eq!(r.status, 400);
        assert!(errors(&r).contains("Error exchanging oidc code"), "{r:?}");

        let (state, code) = start(&mut s, "cn");
        s.clock.advance(STATE_TIMEOUT + Duration::from_secs(1));
        let r = s.oidc_callback(
            "oidc",
            &format!("state={state}&code={code}&client_nonce=cn"),
        );
        assert_eq!(r.status, 400);
        assert!(
            errors(&r).contains("Expired or missing OAuth state"),
            "{r:?}"
        );
    }

    #[test]
    fn auth_url_errors_follow_the_plugin() {
        let mut s = store();
        let url = |s: &mut Store, body: Value| s.oidc_auth_url("oidc", &body, "h:1");
        assert_eq!(errors(&url(&mut s, json!({}))), "missing redirect_uri");
        assert_eq!(
            errors(&url(
                &mut s,
                json!({"role": "nope", "redirect_uri": REDIRECT})
            )),
            "role \"nope\" could not be found"
        );
        let r = url(&mut s, json!({"redirect_uri": "http://evil.example/cb"}));
        assert_eq!(
            r.status, 200,
            "an unauthorised redirect is an empty URL, not an error"
        );
        assert_eq!(r.body.unwrap()["data"]["auth_url"], "");
        let mut bare = Store::new(1);
        bare.add_oidc_role(OidcRole {
            default_role: false,
            ..Default::default()
        });
        assert_eq!(
            errors(&bare.oidc_auth_url("oidc", &json!({"redirect_uri": REDIRECT}), "h")),
            "missing role"
        );
    }

    #[test]
    fn query_round_trip() {
        let q = format!(
            "redirect_uri={}&state=ab",
            encode("http://localhost:1/x?y=1 2")
        );
        let p = parse_query(&q);
        assert_eq!(p["redirect_uri"], "http://localhost:1/x?y=1 2");
        assert_eq!(p["state"], "ab");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
