//! A fake Kubernetes API server on 127.0.0.1 (https, with the TEST-ONLY certificate) that
//! answers only the TokenReview call OpenBao's `kubernetes` auth method makes at login:
//! `POST /apis/authentication.k8s.io/v1/tokenreviews`. It knows the service-account JWTs it
//! minted itself; the bearer (the reviewer's credential) must be one of them too, since OpenBao
//! without `token_reviewer_jwt` sends the login JWT as its own bearer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

use crate::jws::{TEST_ONLY_CERT_PEM, TEST_ONLY_KEY_PEM, signer, unix_now};
use crate::lock;
use crate::provider::json_response;
use crate::server::Running;

/// The issuer of legacy (secret-based) service-account tokens.
const SA_ISSUER: &str = "kubernetes/serviceaccount";

#[derive(Clone, Debug)]
struct ServiceAccount {
    namespace: String,
    name: String,
    uid: String,
}

#[derive(Default)]
struct Cluster {
    /// JWT → the service account it belongs to.
    accounts: Mutex<HashMap<String, ServiceAccount>>,
    reviews: Mutex<usize>,
}

/// A running fake API server; dropping it stops it.
pub struct FakeKubernetes {
    cluster: Arc<Cluster>,
    server: Running,
}

impl FakeKubernetes {
    pub fn start() -> std::io::Result<FakeKubernetes> {
        let tls = crate::tls::acceptor(TEST_ONLY_CERT_PEM.as_bytes(), TEST_ONLY_KEY_PEM)?;
        let cluster = Arc::new(Cluster::default());
        let app_cluster = cluster.clone();
        let app = axum::Router::new()
            .route("/apis/authentication.k8s.io/v1/tokenreviews", post(review))
            .with_state(app_cluster);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let server = Running::start("fake-kubernetes", listener, app, Some(tls))?;
        Ok(FakeKubernetes { cluster, server })
    }

    /// `kubernetes_host` for OpenBao.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr)
    }

    /// `kubernetes_ca_cert` for OpenBao: the server's own self-signed certificate.
    pub fn ca_pem(&self) -> &'static str {
        TEST_ONLY_CERT_PEM
    }

    /// A signed service-account JWT, as a pod would find it mounted, that this cluster's
    /// TokenReview will vouch for.
    pub fn service_account_jwt(&self, namespace: &str, name: &str) -> String {
        let mut accounts = lock(&self.cluster.accounts);
        let account = ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("00000000-0000-4000-8000-{:012}", accounts.len() + 1),
        };
        let jwt = signer().sign(&json!({
            "iss": SA_ISSUER,
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "iat": unix_now(),
            "kubernetes.io/serviceaccount/namespace": account.namespace,
            "kubernetes.io/serviceaccount/secret.name": format!("{name}-token"),
            "kubernetes.io/serviceaccount/service-account.name": account.name,
            "kubernetes.io/serviceaccount/service-account.uid": account.uid,
        }));
        accounts.insert(jwt.clone(), account);
        jwt
    }

    /// The uid the cluster gave the account of this JWT.
    pub fn uid_of(&self, jwt: &str) -> Option<String> {
        lock(&self.cluster.accounts).get(jwt).map(|a| a.uid.clone())
    }

    /// Deletes the service account of this JWT: TokenReview stops vouching for it.
    pub fn delete_service_account(&self, jwt: &str) {
        lock(&self.cluster.accounts).remove(jwt);
    }

    /// How many TokenReviews were answered (authenticated or not).
    pub fn reviews(&self) -> usize {
        *lock(&self.cluster.reviews)
    }
}

async fn review(State(c): State<Arc<Cluster>>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !lock(&c.accounts).contains_key(bearer) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &status_failure(401, "Unauthorized"),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return json_response(StatusCode::BAD_REQUEST, &status_failure(400, "BadRequest"));
    };
    *lock(&c.reviews) += 1;
    let token = request["spec"]["token"].as_str().unwrap_or("");
    let audiences = request["spec"]["audiences"].clone();
    let status = match lock(&c.accounts).get(token) {
        Some(sa) => json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{}:{}", sa.namespace, sa.name),
                "uid": sa.uid,
                "groups": [
                    "system:serviceaccounts",
                    format!("system:serviceaccounts:{}", sa.namespace),
                    "system:authenticated",
                ],
            },
            "audiences": if audiences.is_array() { audiences } else { json!([]) },
        }),
        None => json!({ "user": {}, "error": "[invalid bearer token]" }),
    };
    json_response(
        StatusCode::CREATED,
        &json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": { "creationTimestamp": null },
            "spec": request["spec"],
            "status": status,
        }),
    )
}

/// A `metav1.Status` failure, as the API server answers an unauthenticated caller.
fn status_failure(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": reason.to_lowercase(),
        "reason": reason,
        "code": code,
    })
}
