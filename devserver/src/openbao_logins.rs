//! Genuine logins on the real OpenBao: its built-in `oidc` auth method against the test OpenID
//! provider ([`OidcProvider`]), and its built-in `kubernetes` auth method against the fake
//! TokenReview API ([`FakeKubernetes`]). The tokens these make are the server's own logins
//! (display name, path, metadata, entity), not userpass stand-ins.

use serde_json::{Value, json};

use crate::openbao::OpenBao;
use crate::provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider};
use crate::tokenreview::FakeKubernetes;
use crate::types::Seeded;

/// The Vault CLI's callback; OpenBao matches loopback redirect URIs on any port.
pub const OIDC_REDIRECT_URI: &str = "http://localhost:8250/oidc/callback";

/// An `oidc` mount with one role (its `default_role`).
#[derive(Clone, Debug)]
pub struct OidcMount {
    pub mount: String,
    pub role: String,
    /// The role's `token_policies` (`default` is added by the server).
    pub token_policies: Vec<String>,
    /// External groups, each bound to a `groups` claim value of the same name, with their
    /// policies: where an OIDC admin's authority usually lives.
    pub groups: Vec<(String, Vec<String>)>,
}

impl OidcMount {
    /// `oidc/`, role `default`: token policies `[default]`, and `vault-admin`, `sops-admin`
    /// only through the external group `vault-admins`.
    pub fn admin_through_groups() -> OidcMount {
        OidcMount {
            mount: "oidc".into(),
            role: "default".into(),
            token_policies: vec![],
            groups: vec![(
                "vault-admins".into(),
                vec!["vault-admin".into(), "sops-admin".into()],
            )],
        }
    }
}

impl OpenBao {
    /// Enables OIDC at `m.mount` against the provider, with its role and external groups.
    pub fn mount_oidc(&self, provider: &OidcProvider, m: &OidcMount) {
        self.root(
            "POST",
            &format!("sys/auth/{}", m.mount),
            Some(json!({ "type": "oidc" })),
        );
        self.root(
            "POST",
            &format!("auth/{}/config", m.mount),
            Some(json!({
                "oidc_discovery_url": provider.issuer(),
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                "default_role": m.role,
            })),
        );
        self.root(
            "POST",
            &format!("auth/{}/role/{}", m.mount, m.role),
            Some(json!({
                "role_type": "oidc",
                "user_claim": "email",
                "groups_claim": "groups",
                "oidc_scopes": ["email", "groups"],
                "allowed_redirect_uris": [OIDC_REDIRECT_URI],
                "token_policies": m.token_policies,
                "token_ttl": "168h",
            })),
        );
        let accessor = self.mount_accessor(&m.mount);
        for (group, policies) in &m.groups {
            let created = self.root(
                "POST",
                "identity/group",
                Some(json!({ "name": group, "type": "external", "policies": policies })),
            );
            self.root(
                "POST",
                "identity/group-alias",
                Some(json!({
                    "name": group,
                    "mount_accessor": accessor,
                    "canonical_id": created["data"]["id"],
                })),
            );
        }
    }

    /// A whole OIDC login on `mount`'s default role, as the CLI and a browser do it:
    /// `auth_url` → the provider's authorize (302 to the callback) → `oidc/callback`.
    pub fn oidc_login_token(&self, mount: &str) -> Seeded {
        let client_nonce = crate::jws::random_id();
        let started = self.root(
            "POST",
            &format!("auth/{mount}/oidc/auth_url"),
            Some(json!({ "redirect_uri": OIDC_REDIRECT_URI, "client_nonce": client_nonce })),
        );
        let auth_url = started["data"]["auth_url"].as_str().unwrap_or_default();
        assert!(!auth_url.is_empty(), "OpenBao gave no auth_url: {started}");
        let callback = follow_once(auth_url);
        let query = callback.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        for key in ["state", "code"] {
            back.append_pair(key, params.get(key).map(String::as_str).unwrap_or(""));
        }
        back.append_pair("client_nonce", &client_nonce);
        let a = self.call(
            None,
            "GET",
            &format!("auth/{mount}/oidc/callback?{}", back.finish()),
            None,
        );
        assert!(a.ok(), "OpenBao: OIDC callback → {} {}", a.status, a.body);
        seeded(&a.body)
    }

    /// Enables the kubernetes auth method against the fake API server (https, its CA pinned;
    /// no local service-account files, this is not a pod).
    pub fn mount_kubernetes(&self, cluster: &FakeKubernetes) {
        self.root(
            "POST",
            "sys/auth/kubernetes",
            Some(json!({ "type": "kubernetes" })),
        );
        self.root(
            "POST",
            "auth/kubernetes/config",
            Some(json!({
                "kubernetes_host": cluster.url(),
                "kubernetes_ca_cert": cluster.ca_pem(),
                "disable_local_ca_jwt": true,
            })),
        );
    }

    /// A kubernetes login of service account `namespace/name`, through a role of the same
    /// name bound to exactly that account and granting `policies`.
    pub fn kubernetes_login_token(
        &self,
        cluster: &FakeKubernetes,
        namespace: &str,
        name: &str,
        policies: &[&str],
    ) -> Seeded {
        let role = format!("{namespace}-{name}");
        self.root(
            "POST",
            &format!("auth/kubernetes/role/{role}"),
            Some(json!({
                "bound_service_account_names": [name],
                "bound_service_account_namespaces": [namespace],
                "token_policies": policies,
            })),
        );
        let jwt = cluster.service_account_jwt(namespace, name);
        let a = self.call(
            None,
            "POST",
            "auth/kubernetes/login",
            Some(json!({ "role": role, "jwt": jwt })),
        );
        assert!(
            a.ok(),
            "OpenBao: kubernetes login → {} {}",
            a.status,
            a.body
        );
        seeded(&a.body)
    }

    /// The accessor of the auth method mounted at `mount`.
    pub fn mount_accessor(&self, mount: &str) -> String {
        let auths = self.root("GET", "sys/auth", None);
        let accessor = &auths["data"][format!("{}/", mount.trim_matches('/'))]["accessor"];
        accessor
            .as_str()
            .unwrap_or_else(|| panic!("no auth method at {mount}/: {auths}"))
            .to_owned()
    }
}

/// One browser GET that must answer with a redirect; returns where it points.
fn follow_once(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let resp = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET the provider's authorize: {e}"));
    assert_eq!(
        resp.status().as_u16(),
        302,
        "the provider signs the user in"
    );
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned()
}

fn seeded(body: &Value) -> Seeded {
    let field = |k: &str| body["auth"][k].as_str().unwrap_or_default().to_owned();
    Seeded {
        token: field("client_token"),
        accessor: field("accessor"),
    }
}
