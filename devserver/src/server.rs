//! The HTTP layer: accept loop (with per-connection abort, for dropped-connection faults),
//! `/v1/…` handling with fault injection and request recording.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::fault::{Fault, FaultKind, WRONG_TYPES_BODY, default_error_body};
use crate::reply::Reply;
use crate::router::dispatch;
use crate::store::Store;
use crate::types::RequestRecord;

/// Largest request body read; bigger ones are refused.
const MAX_BODY: usize = 32 << 20;

pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    /// Queued faults, each with how many matching requests it still lets through first.
    pub(crate) faults: Mutex<Vec<(Fault, u32)>>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) test_controls: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not wedge the server for every later request.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts the connection a request arrived on.
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app).await,
                // A client that rejects our certificate ends the handshake; nothing to serve then.
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        serve_connection(stream, app).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(stream: I, app: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let k = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnKill(k.clone()));
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(
                app.oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            )
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    // Dropping the connection future closes the socket with no further bytes written.
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

fn json_response(status: u16, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn to_response(reply: Reply) -> Response {
    match reply.body {
        None => json_response(reply.status, Body::empty()),
        Some(v) => json_response(reply.status, serde_json::to_vec(&v).unwrap_or_default()),
    }
}

fn record(shared: &Shared, method: &Method, path: &str, status: u16) {
    lock(&shared.requests).push(RequestRecord {
        method: method.as_str().to_string(),
        path: path.to_string(),
        status,
    });
}

/// Take one hit of the first fault that matches this request.
fn take_fault(shared: &Shared, method: &Method, path: &str) -> Option<FaultKind> {
    let mut faults = lock(&shared.faults);
    let i = faults.iter().position(|(f, _)| f.matches(method, path))?;
    let (fault, skip) = &mut faults[i];
    if *skip > 0 {
        *skip -= 1;
        return None;
    }
    fault.times -= 1;
    let kind = fault.kind.clone();
    if fault.times == 0 {
        faults.remove(i);
    }
    Some(kind)
}

/// Headers and the first half of `body`, then (after a pause that lets it reach the client) an abort.
fn drop_mid_body(status: u16, body: Vec<u8>, kill: Option<ConnKill>) -> Response {
    let full_len = body.len().max(2);
    let half = Bytes::from(body[..body.len() / 2].to_vec());
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let half = half.clone();
        let kill = kill.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(half), 1)),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if let Some(k) = kill {
                        k.0.notify_one();
                    }
                    std::future::pending::<()>().await;
                    None
                }
            }
        }
    });
    let mut r = json_response(status, Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
    r
}

/// A valid JSON body of exactly `bytes` bytes (at least the 12-byte skeleton), streamed.
fn huge(bytes: usize) -> Response {
    const HEAD: &[u8] = br#"{"data":{"pad":""#;
    const TAIL: &[u8] = br#""}}"#;
    let pad = bytes.saturating_sub(HEAD.len() + TAIL.len());
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut parts = vec![Bytes::from_static(HEAD)];
    let mut left = pad;
    while left > 0 {
        let n = left.min(chunk.len());
        parts.push(chunk.slice(..n));
        left -= n;
    }
    parts.push(Bytes::from_static(TAIL));
    let total = HEAD.len() + pad + TAIL.len();
    let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
    let mut r = json_response(200, Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    r
}

/// The fake OIDC provider (`/_provider/<mount>/authorize`): a browser that follows the auth URL
/// is redirected straight back to the client's loopback callback with a code.
fn provider(shared: &Shared, rest: &str, query: &str) -> Response {
    let Some(mount) = rest.strip_suffix("/authorize") else {
        return to_response(Reply::not_found());
    };
    let mut r = Response::new(Body::empty());
    match lock(&shared.store).oidc_authorize(mount, query) {
        Ok(location) => {
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
        }
        Err(why) => {
            *r.status_mut() = StatusCode::BAD_REQUEST;
            *r.body_mut() = Body::from(format!("fake OIDC provider: {why}\n"));
        }
    }
    r
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let full_path = parts.uri.path().to_string();
    if let Some(rest) = full_path.strip_prefix("/_test/") {
        if !shared.test_controls {
            return to_response(Reply::not_found());
        }
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        return to_response(crate::control::handle(&shared, &parts.method, rest, &body));
    }
    if let Some(rest) = full_path.strip_prefix("/_provider/") {
        return provider(&shared, rest, parts.uri.query().unwrap_or(""));
    }
    let Some(path) = full_path.strip_prefix("/v1/") else {
        return to_response(Reply::not_found());
    };
    let method = parts.method.clone();
    let query = parts.uri.query().unwrap_or("");
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        record(&shared, &method, path, 413);
        return to_response(Reply::error(413, "request body too large"));
    };
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let fault = take_fault(&shared, &method, path);
    let serve = |shared: &Shared| {
        dispatch(
            &mut lock(&shared.store),
            &method,
            path,
            query,
            &parts.headers,
            &body,
        )
    };

    let (status, response) = match fault {
        None => {
            let reply = serve(&shared);
            (reply.status, to_response(reply))
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            let reply = serve(&shared);
            (reply.status, to_response(reply))
        }
        Some(FaultKind::Status { code, body }) => (
            code,
            json_response(code, body.unwrap_or_else(|| default_error_body(code))),
        ),
        Some(FaultKind::Sealed) => (503, json_response(503, default_error_body(503))),
        Some(FaultKind::Malformed) => (
            200,
            json_response(
                200,
                "<html><body>this is not JSON {\"data\": }</body></html>",
            ),
        ),
        Some(FaultKind::EmptyBody) => (200, json_response(200, Body::empty())),
        Some(FaultKind::WrongTypes) => (200, json_response(200, WRONG_TYPES_BODY)),
        Some(FaultKind::Huge(n)) => (200, huge(n)),
        Some(FaultKind::Truncated) => {
            let reply = serve(&shared);
            let bytes = reply
                .body
                .map(|v| serde_json::to_vec(&v).unwrap_or_default())
                .unwrap_or_default();
            let cut = bytes[..bytes.len() / 2].to_vec();
            (reply.status, json_response(reply.status, cut))
        }
        Some(FaultKind::DropMidBody) => {
            let reply = serve(&shared);
            let bytes = reply
                .body
                .map(|v| serde_json::to_vec(&v).unwrap_or_default())
                .unwrap_or_else(|| br#"{"errors":[]}"#.to_vec());
            record(&shared, &method, path, 0);
            // A 204 cannot carry a body, so the damaged answer claims a 200.
            let status = if reply.status == 204 {
                200
            } else {
                reply.status
            };
            return drop_mid_body(status, bytes, kill);
        }
        Some(FaultKind::DropConnection) => {
            record(&shared, &method, path, 0);
            if let Some(k) = kill {
                k.0.notify_one();
            }
            std::future::pending::<()>().await;
            unreachable!("the connection task drops this future")
        }
    };
    record(&shared, &method, path, status);
    response
}
