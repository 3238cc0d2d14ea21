//! The HTTP client: one method per endpoint, bounded retries with jittered backoff, bounded bodies.

use super::accessor_list::AccessorList;
use super::error::{Failure, VaultError, describe_reqwest};
use super::tls::{self, TlsError};
use crate::decide::MintPath;
use crate::secret::Token;
use crate::settings::Settings;
use crate::wire::{AuthBlock, Envelope, ErrorBody, RenewAuth, TokenInfo};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Largest body we read from an ordinary endpoint; a bigger one is a broken or hostile server.
const BODY_LIMIT: usize = 1 << 20;
/// The accessor list is streamed, never held; this only bounds how long a hostile server can
/// keep the sweep busy (64 MiB ≈ 2.4 million accessors).
const LIST_BODY_LIMIT: usize = 64 << 20;
/// No retry is started after this much time, and no request outlives `RUN_DEADLINE`, so a run
/// ends within about a minute however the server misbehaves.
const RETRY_BUDGET: Duration = Duration::from_secs(40);
const RUN_DEADLINE: Duration = Duration::from_secs(55);
/// The time a minted token's revoke always has, even past the run's deadline: a run that spent
/// its time (waiting for the lock, a slow server) still revokes what it minted.
pub const REVOKE_GRACE: Duration = Duration::from_secs(15);
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(8);

pub struct Client {
    http: reqwest::Client,
    /// `<address>/v1/`
    v1: Url,
    /// Each endpoint's full URL, parsed once: a sweep sends the same two 100,000 times.
    urls: Vec<(&'static str, Url)>,
    retries: u32,
    timeout: Duration,
    /// When the run's clock started: the run lock taken (`start_run_clock`), or the client made.
    started: Mutex<Instant>,
    /// Set by a 429 (or 503) answer: no request starts before then, so concurrent sweep workers
    /// back off together instead of each spending its retries against a rate limit.
    paused_until: Mutex<Option<Instant>>,
}

/// One endpoint: its verb, path, whether repeating it is harmless, and how big its answer may be.
struct Endpoint {
    method: Method,
    path: &'static str,
    idempotent: bool,
    body_limit: usize,
}

const fn ep(method: Method, path: &'static str, idempotent: bool) -> Endpoint {
    Endpoint {
        method,
        path,
        idempotent,
        body_limit: BODY_LIMIT,
    }
}

// lookup-self is a GET: the default policy grants only `read` on it (contract §1).
const LOOKUP_SELF: Endpoint = ep(Method::GET, "auth/token/lookup-self", true);
const RENEW_SELF: Endpoint = ep(Method::POST, "auth/token/renew-self", true);
const CREATE_ORPHAN: Endpoint = ep(Method::POST, "auth/token/create-orphan", false);
const CREATE: Endpoint = ep(Method::POST, "auth/token/create", false);
/// `auth/token/create/<role>`: its URL is formed from the configured role.
const CREATE_ROLE: Endpoint = ep(Method::POST, "auth/token/create/<role>", false);
const REVOKE_SELF: Endpoint = ep(Method::POST, "auth/token/revoke-self", true);
const CAPABILITIES_SELF: Endpoint = ep(Method::POST, "sys/capabilities-self", true);
// `GET ?list=true` is the list operation too, and survives proxies that drop the LIST verb (contract §4).
const LIST_ACCESSORS: Endpoint = Endpoint {
    method: Method::GET,
    path: "auth/token/accessors",
    idempotent: true,
    body_limit: LIST_BODY_LIMIT,
};
const LOOKUP_ACCESSOR: Endpoint = ep(Method::POST, "auth/token/lookup-accessor", true);
const REVOKE_ACCESSOR: Endpoint = ep(Method::POST, "auth/token/revoke-accessor", true);
/// The sweep's two first: the URL lookup scans this list.
const ENDPOINTS: [&Endpoint; 9] = [
    &LOOKUP_ACCESSOR,
    &REVOKE_ACCESSOR,
    &LOOKUP_SELF,
    &RENEW_SELF,
    &CREATE_ORPHAN,
    &CREATE,
    &REVOKE_SELF,
    &CAPABILITIES_SELF,
    &LIST_ACCESSORS,
];

/// What a revoke by accessor found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Now,
    /// Unknown accessor, or revoked meanwhile by someone else: nothing left to do.
    AlreadyGone,
}

#[derive(Debug)]
pub struct Renewed {
    pub ttl: i64,
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub struct MintRequest<'a> {
    pub policies: &'a [String],
    pub period_secs: u64,
    pub display_name: &'a str,
    pub meta: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Minted {
    pub token: Token,
    pub accessor: String,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Client, ClientBuildError> {
        // reqwest is built without a provider of its own; ring is ours. Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        // Sent by every official client; Vault Agent/Proxy listeners may require it (contract §7).
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(ns) = &settings.namespace {
            let value = HeaderValue::from_str(ns).map_err(|_| {
                ClientBuildError::Http(format!("namespace {ns:?} is not a valid header value"))
            })?;
            headers.insert("X-Vault-Namespace", value);
        }
        let builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("vault-token-renew/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .timeout(settings.timeout)
            .pool_max_idle_per_host(settings.sweep_concurrency)
            // A redirect (a standby pointing at the active node) would carry the token to another
            // host; refuse it and say which address to use instead.
            .redirect(reqwest::redirect::Policy::none())
            // Every repeat is decided in `with_retries`, which never repeats a mint that may have
            // reached the server. reqwest must not repeat anything on its own, and without a
            // retry budget it also skips copying every request in case it might.
            .retry(reqwest::retry::never().max_retries_per_request(0));
        let mut builder = tls::configure(builder, &settings.tls)?;
        let no_custom_roots = settings.tls.ca_cert.is_none() && settings.tls.ca_path.is_none();
        if settings.vault_addr.scheme() == "http" && no_custom_roots {
            // Plain http needs no roots: do not fail on a machine without a system CA bundle,
            // and do not spend half a happy-path run reading and parsing them.
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder.build().map_err(|e| {
            let cause = describe_reqwest(&e);
            ClientBuildError::Http(if no_custom_roots {
                format!("{cause}; if no system CA certificates are installed, install them (Debian: ca-certificates) or pass --ca-cert")
            } else {
                cause
            })
        })?;
        let mut base = settings.vault_addr.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let bad = |e: url::ParseError| {
            ClientBuildError::Http(format!("cannot form the API address from {base}: {e}"))
        };
        let v1 = base.join("v1/").map_err(bad)?;
        let mut urls = Vec::with_capacity(ENDPOINTS.len());
        for ep in ENDPOINTS {
            let mut url = v1.join(ep.path).map_err(bad)?;
            if ep.path == LIST_ACCESSORS.path {
                url.set_query(Some("list=true"));
            }
            urls.push((ep.path, url));
        }
        if let Some(role) = &settings.token_role {
            let path = MintPath::Role(role.clone()).api_path();
            urls.push((CREATE_ROLE.path, v1.join(&path).map_err(bad)?));
        }
        Ok(Client {
            http,
            v1,
            urls,
            retries: settings.retries,
            timeout: settings.timeout,
            started: Mutex::new(Instant::now()),
            paused_until: Mutex::new(None),
        })
    }

    /// The configured HTTP client (TLS, namespace, timeouts, no redirects) and the URL of a
    /// `/v1/` path, for the OIDC flow's unauthenticated calls to per-mount paths (`oidc.rs`).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn v1_url(&self, path: &str) -> Result<Url, url::ParseError> {
        self.v1.join(path)
    }

    pub async fn lookup_self(&self, token: &Token) -> Result<TokenInfo, VaultError> {
        let env: Envelope<TokenInfo, IgnoredAny> = self.call(&LOOKUP_SELF, token, None).await?;
        env.data.ok_or_else(|| missing(&LOOKUP_SELF, "data"))
    }

    pub async fn renew_self(&self, token: &Token) -> Result<Renewed, VaultError> {
        let env: Envelope<IgnoredAny, RenewAuth> =
            self.call(&RENEW_SELF, token, Some(json!({}))).await?;
        let auth = env.auth.ok_or_else(|| missing(&RENEW_SELF, "auth"))?;
        Ok(Renewed {
            ttl: auth.lease_duration,
            warnings: env.warnings,
        })
    }

    /// Mints a periodic orphan through `path`. `policies` are always sent: identity policies
    /// never carry over and an empty list would inherit only the caller's token policies
    /// (contract §3). Through a role the role sets the period: sending one would need sudo.
    pub async fn mint(
        &self,
        authority: &Token,
        path: &MintPath,
        req: &MintRequest<'_>,
    ) -> Result<Minted, VaultError> {
        let mut body = json!({
            "policies": req.policies,
            "display_name": req.display_name,
            "meta": req.meta,
            "renewable": true,
        });
        let ep = match path {
            MintPath::Role(_) => &CREATE_ROLE,
            MintPath::CreateOrphan => &CREATE_ORPHAN,
            MintPath::CreateNoParent => {
                body["no_parent"] = json!(true);
                &CREATE
            }
        };
        if ep.path != CREATE_ROLE.path {
            body["period"] = json!(format!("{}s", req.period_secs));
        }
        let env: Envelope<IgnoredAny, AuthBlock> = self.call(ep, authority, Some(body)).await?;
        let auth = env.auth.ok_or_else(|| missing(ep, "auth"))?;
        Ok(Minted {
            token: auth.client_token,
            accessor: auth.accessor,
            warnings: env.warnings,
        })
    }

    pub async fn revoke_self(&self, token: &Token) -> Result<(), VaultError> {
        self.call_empty(&REVOKE_SELF, token, None).await
    }

    pub async fn capabilities_self(
        &self,
        token: &Token,
        paths: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, VaultError> {
        let env: Envelope<BTreeMap<String, Value>, IgnoredAny> = self
            .call(&CAPABILITIES_SELF, token, Some(json!({ "paths": paths })))
            .await?;
        let data = env
            .data
            .ok_or_else(|| missing(&CAPABILITIES_SELF, "data"))?;
        paths
            .iter()
            .map(|path| {
                let caps = data
                    .get(path)
                    .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
                    .ok_or_else(|| missing(&CAPABILITIES_SELF, "a capability list for the path"))?;
                Ok((path.clone(), caps))
            })
            .collect()
    }

    /// Every accessor in the namespace, streamed from the answer as the caller reads it. An
    /// empty list is a 404 with `{"errors":[]}` (contract §4).
    pub async fn list_accessors(&self, token: &Token) -> Result<AccessorList, VaultError> {
        let ep = &LIST_ACCESSORS;
        let started = self
            .with_retries(ep, async || self.start(ep, token, None, true).await)
            .await;
        match started {
            Ok(response) => Ok(AccessorList::new(
                response,
                ep.path,
                ep.body_limit,
                self.timeout,
            )),
            Err(VaultError::Status { status: 404, .. }) => Ok(AccessorList::empty(ep.path)),
            Err(e) => Err(e),
        }
    }

    /// `None` when the server does not know the accessor (400 `invalid accessor`, contract §5).
    pub async fn lookup_accessor(
        &self,
        token: &Token,
        accessor: &str,
    ) -> Result<Option<TokenInfo>, VaultError> {
        match self
            .call::<Envelope<TokenInfo, IgnoredAny>>(
                &LOOKUP_ACCESSOR,
                token,
                Some(json!({ "accessor": accessor })),
            )
            .await
        {
            Ok(env) => Ok(Some(
                env.data.ok_or_else(|| missing(&LOOKUP_ACCESSOR, "data"))?,
            )),
            Err(VaultError::Status {
                status: 400,
                errors,
                ..
            }) if errors.iter().any(|e| e.contains("invalid accessor")) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// 204 when this call revoked it; 200 with a warning when the accessor is unknown, and 400
    /// `token not found` when the token vanished between look-up and revoke (contract §5): gone
    /// either way, but not by us.
    pub async fn revoke_accessor(
        &self,
        token: &Token,
        accessor: &str,
    ) -> Result<Revoked, VaultError> {
        let body = Some(json!({ "accessor": accessor }));
        match self.send_with_retries(&REVOKE_ACCESSOR, token, body).await {
            Ok(bytes) if bytes.is_empty() => Ok(Revoked::Now),
            Ok(_) => Ok(Revoked::AlreadyGone),
            Err(VaultError::Status {
                status: 400,
                errors,
                ..
            }) if errors.iter().any(|e| e.contains("token not found")) => Ok(Revoked::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        ep: &Endpoint,
        token: &Token,
        body: Option<Value>,
    ) -> Result<T, VaultError> {
        let bytes = self.send_with_retries(ep, token, body).await?;
        if bytes.is_empty() {
            return Err(VaultError::Decode {
                endpoint: ep.path,
                detail: "empty body".into(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| VaultError::Decode {
            endpoint: ep.path,
            detail: format!("not the expected JSON: {}", e.classify_str()),
        })
    }

    async fn call_empty(
        &self,
        ep: &Endpoint,
        token: &Token,
        body: Option<Value>,
    ) -> Result<(), VaultError> {
        self.send_with_retries(ep, token, body).await.map(drop)
    }

    async fn send_with_retries(
        &self,
        ep: &Endpoint,
        token: &Token,
        body: Option<Value>,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.with_retries(ep, async || {
            let response = self.start(ep, token, body.as_ref(), false).await?;
            read_body(ep, response).await.map_err(|e| (e, None))
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries or their time run out.
    async fn with_retries<T>(
        &self,
        ep: &Endpoint,
        attempt: impl AsyncFn() -> Result<T, (VaultError, Option<Duration>)>,
    ) -> Result<T, VaultError> {
        let mut tries = 0;
        loop {
            self.wait_out_pause().await;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err((error, retry_after)) => {
                    let throttled = matches!(
                        error,
                        VaultError::Status {
                            status: 429 | 503,
                            ..
                        }
                    );
                    // A mint is repeated only if it certainly never reached the server, so a
                    // lost answer can never become a second, stranded admin token.
                    let may_retry = if ep.idempotent {
                        error.is_transient()
                    } else {
                        error.never_reached_server()
                    };
                    if !retry_allowed(may_retry, tries, self.retries, self.elapsed()) {
                        return Err(error);
                    }
                    let wait = backoff(tries, retry_after);
                    tracing::debug!(
                        endpoint = ep.path,
                        attempt = tries,
                        ?wait,
                        "retrying after: {error}"
                    );
                    if throttled {
                        self.pause_for(wait);
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                    tries += 1;
                }
            }
        }
    }

    /// Starts the run's deadline and retry budget now: called once the run lock is taken, so
    /// time spent waiting for another run is not taken from this one.
    pub fn start_run_clock(&self) {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Makes sure at least `grace` of the run's deadline is left, for the revoke of a minted
    /// token that will not be installed.
    pub fn grant_grace(&self, grace: Duration) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        *started = start_leaving(*started, Instant::now(), grace);
    }

    fn elapsed(&self) -> Duration {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Holds every request of this client back until `wait` from now (the later pause wins).
    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn wait_out_pause(&self) {
        let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// Why sending failed; a failed TLS handshake is explained with the fix it needs.
    fn send_error(&self, endpoint: &'static str, e: &reqwest::Error) -> VaultError {
        let host = self.v1.host_str().unwrap_or_default();
        match tls::explain_handshake(e, host) {
            Some(detail) => VaultError::Transport {
                endpoint,
                failure: Failure::Tls,
                detail,
            },
            None => VaultError::transport(endpoint, e),
        }
    }

    /// Sends one request and waits for its status; a success's body is left to the caller, a
    /// failure's is read (bounded) into the error. A `streamed` body is read while the caller
    /// works through it, which may take longer than one request may: then the answer's head must
    /// come within the timeout, each read is bounded by the caller, and the whole by the run's
    /// deadline.
    async fn start(
        &self,
        ep: &Endpoint,
        token: &Token,
        body: Option<&Value>,
        streamed: bool,
    ) -> Result<reqwest::Response, (VaultError, Option<Duration>)> {
        let url = self
            .urls
            .iter()
            .find(|(path, _)| *path == ep.path)
            .map(|(_, url)| url.clone())
            .expect("every endpoint is in ENDPOINTS");
        let mut token_header = HeaderValue::from_str(token.expose()).map_err(|_| {
            (
                VaultError::Decode {
                    endpoint: ep.path,
                    detail: "the token holds characters that cannot be sent in a header".into(),
                },
                None,
            )
        })?;
        token_header.set_sensitive(true);
        let left = RUN_DEADLINE.saturating_sub(self.elapsed());
        if left < Duration::from_millis(100) {
            let detail = format!(
                "the run's {}s deadline passed before this request",
                RUN_DEADLINE.as_secs()
            );
            return Err((VaultError::timed_out(ep.path, detail), None));
        }
        let per_request = self.timeout.min(left);
        let mut request = self
            .http
            .request(ep.method.clone(), url)
            .header("X-Vault-Token", token_header)
            .timeout(if streamed { left } else { per_request });
        if let Some(body) = body {
            request = request.json(body);
        }
        // reqwest's own timeout covers a whole ordinary request; a streamed one needs its own
        // bound on the head (one timer per request matters in a 100,000-request sweep).
        let sent_at = Instant::now();
        let sent = if streamed {
            tokio::time::timeout(per_request, request.send()).await
        } else {
            Ok(request.send().await)
        };
        // `-v`: one line per request. The path is the endpoint's, never a URL with a query, and
        // the token travels only in a header, so nothing secret can be in it.
        let ms = sent_at.elapsed().as_millis();
        match &sent {
            Ok(Ok(r)) => tracing::debug!(
                "{} {} -> {} in {ms}ms",
                ep.method,
                ep.path,
                r.status().as_u16()
            ),
            _ => tracing::debug!("{} {} -> no answer after {ms}ms", ep.method, ep.path),
        }
        let response = match sent {
            Ok(result) => result.map_err(|e| (self.send_error(ep.path, &e), None))?,
            Err(_) => {
                let detail = format!("timed out: no answer within {per_request:?}");
                return Err((VaultError::timed_out(ep.path, detail), None));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let bytes = read_body(ep, response).await.map_err(|e| (e, None))?;
        Err((error_from(ep.path, status, &bytes, token), retry_after))
    }
}

/// Whether a failed request is sent again: only if it may be, retries are left, and the retry
/// budget is not spent (so a run ends within its deadline however the server misbehaves).
fn retry_allowed(may_retry: bool, tries: u32, retries: u32, elapsed: Duration) -> bool {
    may_retry && tries < retries && elapsed <= RETRY_BUDGET
}

/// The run's start, moved later if need be so that at least `grace` of its deadline is left at `now`.
fn start_leaving(started: Instant, now: Instant, grace: Duration) -> Instant {
    match (now + grace).checked_sub(RUN_DEADLINE) {
        Some(later) => started.max(later),
        None => started,
    }
}

/// The whole body, refusing one larger than the endpoint's limit.
async fn read_body(
    ep: &Endpoint,
    mut response: reqwest::Response,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut bytes = Zeroizing::new(Vec::new());
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| VaultError::transport(ep.path, &e))?
    {
        if bytes.len() + chunk.len() > ep.body_limit {
            return Err(VaultError::Decode {
                endpoint: ep.path,
                detail: format!("the body is larger than {} bytes", ep.body_limit),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn error_from(
    endpoint: &'static str,
    status: StatusCode,
    body: &[u8],
    token: &Token,
) -> VaultError {
    let errors = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.errors,
        // Not Vault's error shape (a proxy's HTML page, say): keep a bounded excerpt.
        Err(_) if body.is_empty() => Vec::new(),
        Err(_) => vec![String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()],
    };
    // A broken or hostile server may echo the token it was sent; it never reaches our output.
    let errors = errors
        .into_iter()
        .map(|e| e.replace(token.expose(), "<redacted>"))
        .collect();
    VaultError::Status {
        endpoint,
        status: status.as_u16(),
        errors,
    }
}

fn missing(ep: &Endpoint, what: &str) -> VaultError {
    VaultError::Decode {
        endpoint: ep.path,
        detail: format!("no {what} in the answer"),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(10)))
}

/// Exponential backoff with full jitter; a server's Retry-After (capped) is honoured as a floor.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(10))
        .min(BACKOFF_CAP);
    let jittered = ceiling.mul_f64(0.5 + fastrand::f64() / 2.0);
    retry_after.map_or(jittered, |floor| floor.max(jittered))
}

trait ClassifyStr {
    fn classify_str(&self) -> String;
}

impl ClassifyStr for serde_json::Error {
    /// serde_json's message may quote part of the input; the input might be a token, so say only
    /// what kind of problem it was and where.
    fn classify_str(&self) -> String {
        let kind = match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "fields of unexpected types",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        format!("{kind} at line {} column {}", self.line(), self.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_when_refused_used_up_or_out_of_time() {
        let early = Duration::from_secs(1);
        assert!(retry_allowed(true, 0, 2, early));
        assert!(retry_allowed(true, 1, 2, RETRY_BUDGET));
        assert!(!retry_allowed(false, 0, 2, early), "not retryable");
        assert!(!retry_allowed(true, 2, 2, early), "retries used up");
        assert!(
            !retry_allowed(true, 0, 2, RETRY_BUDGET + Duration::from_millis(1)),
            "the time budget is spent"
        );
    }

    #[test]
    fn a_revoke_gets_its_grace_however_late_the_run_is() {
        let now = Instant::now() + Duration::from_secs(3600);
        let spent = now - Duration::from_secs(60);
        let left = |start: Instant| (start + RUN_DEADLINE).saturating_duration_since(now);
        assert_eq!(left(spent), Duration::ZERO);
        assert_eq!(left(start_leaving(spent, now, REVOKE_GRACE)), REVOKE_GRACE);
        let fresh = now - Duration::from_secs(1);
        assert_eq!(
            start_leaving(fresh, now, REVOKE_GRACE),
            fresh,
            "never shortens"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        for attempt in 0..20 {
            let b = backoff(attempt, None);
            assert!(b <= BACKOFF_CAP, "{attempt}: {b:?}");
            assert!(b >= BACKOFF_BASE / 2);
        }
        assert!(backoff(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        let err = serde_json::from_str::<Envelope<TokenInfo, IgnoredAny>>(
            r#"{"data":{"ttl":"s.SECRET"}}"#,
        )
        .unwrap_err();
        assert!(!err.classify_str().contains("SECRET"));
        assert!(err.classify_str().contains("unexpected types"));
    }
}
