//! A test OpenID Connect provider on 127.0.0.1: discovery, JWKS, an `authorize` endpoint whose
//! user is always signed in (it answers 302 to `redirect_uri?code=…&state=…` at once, so a test
//! plays the browser with one GET), and a `token` endpoint that exchanges a code for an RS256
//! id_token after checking the client's credentials, the redirect URI and the PKCE S256
//! verifier. Enough of OpenID Connect Core 1.0 for OpenBao's `oidc` auth method (the jwt
//! plugin, through hashicorp/cap and go-oidc) to log a user in for real.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use crate::jws::{b64url, random_id, signer, unix_now};
use crate::lock;
use crate::server::Running;

/// The one client the provider knows (`oidc_client_id`/`oidc_client_secret` on the mount).
pub const CLIENT_ID: &str = "vault-token-renew-tests";
pub const CLIENT_SECRET: &str = "test-only-client-secret";
/// How long an id_token is valid.
const ID_TOKEN_LIFETIME: u64 = 600;

/// The always-signed-in user: what the id_token says about them.
#[derive(Clone, Debug)]
pub struct OidcUser {
    pub sub: String,
    pub email: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

impl Default for OidcUser {
    fn default() -> Self {
        OidcUser {
            sub: "248289761001".into(),
            email: "alice@example.com".into(),
            groups: vec!["vault-admins".into()],
        }
    }
}

/// A code the provider handed out and has not yet exchanged.
struct Grant {
    redirect_uri: String,
    nonce: String,
    code_challenge: String,
    user: OidcUser,
}

struct Provider {
    issuer: String,
    user: Mutex<OidcUser>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Every `error` the token endpoint answered, in order; and how many exchanges succeeded.
    refusals: Mutex<Vec<String>>,
    exchanges: Mutex<usize>,
}

/// A running provider; dropping it stops it.
pub struct OidcProvider {
    state: Arc<Provider>,
    server: Running,
}

impl OidcProvider {
    pub fn start(user: OidcUser) -> std::io::Result<OidcProvider> {
        // The issuer URL names its own port, so the port is bound before the app is built.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let state = Arc::new(Provider {
            issuer: format!("http://{}", listener.local_addr()?),
            user: Mutex::new(user),
            grants: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Vec::new()),
            exchanges: Mutex::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        let server = Running::start("oidc-provider", listener, app, None)?;
        Ok(OidcProvider { state, server })
    }

    /// The issuer, and the `oidc_discovery_url` for OpenBao.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// Signs a different user in from now on.
    pub fn set_user(&self, user: OidcUser) {
        *lock(&self.state.user) = user;
    }

    pub fn user(&self) -> OidcUser {
        lock(&self.state.user).clone()
    }

    /// How many codes were exchanged for an id_token.
    pub fn exchanges(&self) -> usize {
        *lock(&self.state.exchanges)
    }

    /// The OAuth `error` of every refused token request, in order.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.state.refusals).clone()
    }
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let issuer = &p.issuer;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "groups"],
        }),
    )
}

async fn jwks() -> Response {
    json_response(StatusCode::OK, &signer().jwks())
}

/// The user is signed in already: hand out a code bound to this request and send the browser
/// back. Errors about the client or the redirect URI are shown, not redirected (RFC 6749 §4.1.2.1).
async fn authorize(State(p): State<Arc<Provider>>, RawQuery(query): RawQuery) -> Response {
    let q = form(query.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return text_response(StatusCode::BAD_REQUEST, "unknown client_id");
    }
    let redirect_uri = get("redirect_uri");
    if !redirect_uri.starts_with("http://") && !redirect_uri.starts_with("https://") {
        return text_response(StatusCode::BAD_REQUEST, "missing or invalid redirect_uri");
    }
    let refusal = if get("response_type") != "code" {
        Some("unsupported_response_type")
    } else if !get("scope").split(' ').any(|s| s == "openid") {
        Some("invalid_scope")
    } else if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        // This provider insists on PKCE, as OpenBao's jwt plugin always sends it.
        Some("invalid_request")
    } else {
        None
    };
    let mut back = url::form_urlencoded::Serializer::new(String::new());
    match refusal {
        Some(error) => back.append_pair("error", error),
        None => {
            let code = random_id();
            lock(&p.grants).insert(
                code.clone(),
                Grant {
                    redirect_uri: redirect_uri.clone(),
                    nonce: get("nonce"),
                    code_challenge: get("code_challenge"),
                    user: lock(&p.user).clone(),
                },
            );
            back.append_pair("code", &code)
        }
    };
    back.append_pair("state", &get("state"));
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = format!("{redirect_uri}{sep}{}", back.finish()).parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The code exchange (RFC 6749 §4.1.3, RFC 7636 §4.6).
async fn token(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Bytes) -> Response {
    match exchange(&p, &headers, &body) {
        Ok(answer) => {
            *lock(&p.exchanges) += 1;
            json_response(StatusCode::OK, &answer)
        }
        Err((status, error)) => {
            lock(&p.refusals).push(error.to_owned());
            json_response(status, &json!({ "error": error }))
        }
    }
}

fn exchange(
    p: &Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, (StatusCode, &'static str)> {
    let f = form(body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (id, secret) =
        basic_credentials(headers).unwrap_or((get("client_id"), get("client_secret")));
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return Err((StatusCode::UNAUTHORIZED, "invalid_client"));
    }
    if get("grant_type") != "authorization_code" {
        return Err((StatusCode::BAD_REQUEST, "unsupported_grant_type"));
    }
    // A code is good once, whatever happens next.
    let grant = lock(&p.grants)
        .remove(&get("code"))
        .ok_or((StatusCode::BAD_REQUEST, "invalid_grant"))?;
    if get("redirect_uri") != grant.redirect_uri {
        return Err((StatusCode::BAD_REQUEST, "invalid_grant"));
    }
    if b64url(digest(&SHA256, get("code_verifier").as_bytes()).as_ref()) != grant.code_challenge {
        return Err((StatusCode::BAD_REQUEST, "invalid_grant"));
    }
    let now = unix_now();
    let claims = json!({
        "iss": p.issuer,
        "sub": grant.user.sub,
        "aud": CLIENT_ID,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "auth_time": now,
        "nonce": grant.nonce,
        "email": grant.user.email,
        "email_verified": true,
        // Always present, empty or not: OpenBao refuses a login whose id_token lacks the
        // role's groups_claim.
        "groups": grant.user.groups,
    });
    Ok(json!({
        "access_token": random_id(),
        "token_type": "Bearer",
        "expires_in": ID_TOKEN_LIFETIME,
        "id_token": signer().sign(&claims),
    }))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("static"),
    );
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    r
}

fn text_response(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r
}
