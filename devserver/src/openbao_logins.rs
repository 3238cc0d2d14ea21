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
        self.oidc_role(&m.mount, &m.role, &m.token_policies, "168h");
        let accessor = self.mount_accessor(&m.mount);
        for (group, policies) in &m.groups {
            self.external_group(&accessor, group, policies);
        }
    }

    /// An OIDC role on `mount`: the user is the `email` claim, external groups come from the
    /// `groups` claim, the redirect is the CLI's.
    fn oidc_role(
        &self,
        mount: &str,
        role: &str,
        token_policies: &[impl serde::Serialize],
        ttl: &str,
    ) {
        self.root(
            "POST",
            &format!("auth/{mount}/role/{role}"),
            Some(json!({
                "role_type": "oidc",
                "user_claim": "email",
                "groups_claim": "groups",
                "oidc_scopes": ["email", "groups"],
                "allowed_redirect_uris": [OIDC_REDIRECT_URI],
                "token_policies": token_policies,
                "token_ttl": ttl,
            })),
        );
    }

    /// An external group carrying `policies`, joined by a login whose `groups` claim names it on
    /// the auth method with this mount accessor.
    fn external_group(
        &self,
        mount_accessor: &str,
        group: &str,
        policies: &[impl serde::Serialize],
    ) {
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
                "mount_accessor": mount_accessor,
                "canonical_id": created["data"]["id"],
            })),
        );
    }

    /// A whole OIDC login on `mount`'s default role, as the CLI and a browser do it:
    /// `auth_url` → the provider's authorize (302 to the callback) → `oidc/callback`.
    pub fn oidc_login_token(&self, mount: &str) -> Seeded {
        self.oidc_login_token_as(mount, None)
    }

    /// The same on a named role (None: the mount's default role).
    pub fn oidc_login_token_as(&self, mount: &str, role: Option<&str>) -> Seeded {
        let client_nonce = crate::jws::random_id();
        let mut request =
            json!({ "redirect_uri": OIDC_REDIRECT_URI, "client_nonce": client_nonce });
        if let Some(role) = role {
            request["role"] = json!(role);
        }
        let started = self.root(
            "POST",
            &format!("auth/{mount}/oidc/auth_url"),
            Some(request),
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
        self.kubernetes_role(&role, namespace, name, policies);
        self.kubernetes_login_as(cluster, &role, namespace, name)
    }

    /// A kubernetes role bound to exactly the service account `namespace/name`.
    pub fn kubernetes_role(&self, role: &str, namespace: &str, name: &str, policies: &[&str]) {
        self.root(
            "POST",
            &format!("auth/kubernetes/role/{role}"),
            Some(json!({
                "bound_service_account_names": [name],
                "bound_service_account_namespaces": [namespace],
                "token_policies": policies,
            })),
        );
    }

    /// A kubernetes login of `namespace/name` through an existing role.
    pub fn kubernetes_login_as(
        &self,
        cluster: &FakeKubernetes,
        role: &str,
        namespace: &str,
        name: &str,
    ) -> Seeded {
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

/// Genuine logins for a test's login specs: `oidc-<claim>` through the real OIDC method (the
/// claim, token policies and identity policies as the spec says: identity policies through an
/// external group), `kubernetes-<namespace>-<account>` through the real kubernetes method.
pub struct GenuineLogins {
    pub provider: OidcProvider,
    pub cluster: FakeKubernetes,
    roles: std::sync::Mutex<usize>,
    /// Kubernetes roles already written (one per service account), so bulk logins write each once.
    kubernetes_roles: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl GenuineLogins {
    /// The provider and fake API server, with `oidc/` (admin through the `vault-admins` group)
    /// and `kubernetes/` mounted on `bao`.
    pub fn mount(bao: &OpenBao) -> std::io::Result<GenuineLogins> {
        let provider = OidcProvider::start(crate::provider::OidcUser::default())?;
        bao.mount_oidc(&provider, &OidcMount::admin_through_groups());
        let cluster = FakeKubernetes::start()?;
        bao.mount_kubernetes(&cluster);
        Ok(GenuineLogins {
            provider,
            cluster,
            roles: std::sync::Mutex::new(0),
            kubernetes_roles: std::sync::Mutex::new(Default::default()),
        })
    }

    /// A real login for a login spec whose mount is `oidc` or `kubernetes`; None for others.
    pub fn login(&self, bao: &OpenBao, spec: &crate::types::TokenSpec) -> Option<Seeded> {
        let (mount, rest) = spec.display_name.split_once('-')?;
        let policies: Vec<&str> = spec
            .policies
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "default")
            .collect();
        match mount {
            "oidc" => Some(self.oidc(bao, rest, &policies, &spec.identity_policies, spec.ttl)),
            "kubernetes" => {
                assert!(
                    spec.identity_policies.is_empty(),
                    "kubernetes logins here carry no identity policies"
                );
                let (namespace, account) = rest.split_once('-')?;
                let role = format!("{rest}-{}", policies.join("-"));
                let new = crate::lock(&self.kubernetes_roles).insert(role.clone());
                if new {
                    bao.kubernetes_role(&role, namespace, account, &policies);
                }
                Some(bao.kubernetes_login_as(&self.cluster, &role, namespace, account))
            }
            _ => None,
        }
    }

    fn oidc(
        &self,
        bao: &OpenBao,
        claim: &str,
        policies: &[&str],
        identity: &[String],
        ttl: u64,
    ) -> Seeded {
        let n = {
            let mut roles = self.roles.lock().unwrap_or_else(|e| e.into_inner());
            *roles += 1;
            *roles
        };
        let role = format!("spec-{n}");
        bao.oidc_role("oidc", &role, policies, &format!("{}s", ttl.max(60)));
        let mut groups = vec![];
        if !identity.is_empty() {
            let group = format!("spec-{n}-admins");
            bao.external_group(&bao.mount_accessor("oidc"), &group, identity);
            groups.push(group);
        }
        self.provider.set_user(crate::provider::OidcUser {
            sub: format!("sub-{claim}"),
            email: claim.to_owned(),
            groups,
        });
        bao.oidc_login_token_as("oidc", Some(&role))
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
