//! A fault-injecting HTTP proxy in front of a real server (a `bao server -dev`): the double's
//! fault and request-record API for a server that cannot stage faults itself. Each request is
//! answered in a task of its own, apart from the client's connection, so a request whose client
//! hung up still reaches the server: a delayed mint happens after the client's crash, as it
//! would behind a slow network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header, request, response};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::fault::Fault;
use crate::inject::{ConnKill, Injector, MAX_BODY, json_response};
use crate::lock;
use crate::server::Running;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A running proxy on 127.0.0.1; dropping it stops it (and cancels parked requests).
pub struct FaultProxy {
    shared: Arc<Shared>,
    running: Running,
}

struct Shared {
    /// `host:port` of the server behind the proxy.
    upstream: String,
    injector: Injector,
    /// Every `auth.client_token` seen in an answer, for leak checks.
    issued: Mutex<Vec<String>>,
    /// Requests received and not yet answered (or dropped).
    in_flight: AtomicUsize,
}

impl FaultProxy {
    /// Proxies a free loopback port to `upstream_url` (`http://host:port`).
    pub fn start(upstream_url: &str) -> std::io::Result<FaultProxy> {
        let upstream = upstream_url
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "the fault proxy forwards plain http only, not {upstream_url}"
                ))
            })?;
        let shared = Arc::new(Shared {
            upstream,
            injector: Injector::default(),
            issued: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let running = Running::start("fault-proxy", listener, app, None)?;
        Ok(FaultProxy { shared, running })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.shared.injector.inject(fault, 0);
    }

    /// Like [`FaultProxy::inject_fault`], but the first `skip` matching requests pass untouched.
    pub fn inject_fault_after(&self, fault: Fault, skip: u32) {
        self.shared.injector.inject(fault, skip);
    }

    pub fn clear_faults(&self) {
        self.shared.injector.clear();
    }

    /// `(method, path without /v1/, status)`; status 0 = connection dropped without a response.
    /// A request is recorded once answered (a delayed one after its delay, client or not).
    pub fn requests(&self) -> Vec<(Method, String, u16)> {
        self.shared.injector.requests()
    }

    /// Requests with this verb and path (a trailing slash is ignored).
    pub fn request_count(&self, method: Method, path: &str) -> usize {
        self.shared.injector.request_count(method, path)
    }

    pub fn reset_requests(&self) {
        self.shared.injector.reset_requests();
    }

    /// Requests received whose answer is not decided yet: after the record shows the request
    /// before it, a sequential client's delayed request is parked exactly when this is 1.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Every `auth.client_token` value the server answered through the proxy.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.issued).clone()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let path = path.strip_prefix("/v1/").unwrap_or(path).to_owned();
    let method = parts.method.clone();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        shared.injector.record(&method, &path, 413);
        return error(413, "fault proxy: request body too large".into());
    };
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let fault = shared.injector.take(&method, &path);
    let flight = InFlight::new(&shared);
    // Detached from this connection: a client that hangs up does not cancel the forward.
    let task = tokio::spawn({
        let kill = kill.clone();
        async move {
            let _flight = flight;
            let serve = || forward(&shared, parts, body);
            shared
                .injector
                .answer(&method, &path, fault, kill, serve)
                .await
        }
    });
    match task.await {
        Ok(Some(response)) => response,
        Ok(None) => kill.unwrap_or_default().cut().await,
        Err(e) => error(502, format!("fault proxy: the forward failed: {e}")),
    }
}

/// Counts a request in flight from the moment its fault is chosen until its answer is decided,
/// however that ends.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> InFlight {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn error(status: u16, message: String) -> Response {
    json_response(status, json!({ "errors": [message] }).to_string())
}

/// The upstream's answer to the request as it came (502 if the upstream cannot be reached).
async fn forward(shared: &Shared, parts: request::Parts, body: Bytes) -> Response {
    match send(&shared.upstream, parts, body).await {
        Ok((head, body)) => {
            shared.note_tokens(&body);
            Response::from_parts(head, Body::from(body))
        }
        Err(e) => error(502, format!("fault proxy: upstream: {e}")),
    }
}

/// One request on a fresh upstream connection: method, path and query, headers, body.
async fn send(
    upstream: &str,
    parts: request::Parts,
    body: Bytes,
) -> Result<(response::Parts, Bytes), Error> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::new(Body::from(body));
    *req.method_mut() = parts.method;
    *req.uri_mut() = match parts.uri.path_and_query() {
        Some(pq) => Uri::try_from(pq.as_str())?,
        None => Uri::from_static("/"),
    };
    *req.headers_mut() = without_framing(parts.headers);
    let (mut head, incoming) = sender.send_request(req).await?.into_parts();
    let body = axum::body::to_bytes(Body::new(incoming), MAX_BODY).await?;
    head.headers = without_framing(head.headers);
    Ok((head, body))
}

/// Headers minus the per-connection ones; each side frames the (whole) body itself.
fn without_framing(mut headers: HeaderMap) -> HeaderMap {
    for h in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ] {
        headers.remove(h);
    }
    headers
}

impl Shared {
    fn note_tokens(&self, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if let Some(t) = v.pointer("/auth/client_token").and_then(Value::as_str) {
            let mut issued = lock(&self.issued);
            if !issued.iter().any(|i| i == t) {
                issued.push(t.to_owned());
            }
        }
    }
}
