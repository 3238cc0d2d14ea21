//! Applying queued faults to requests, and recording them: shared by the double, which serves
//! from its store, and the proxy, which forwards to a real server. Either way a fault means
//! the same thing (see [`FaultKind`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::sync::Notify;

use crate::fault::{Fault, FaultKind, WRONG_TYPES_BODY, default_error_body};
use crate::lock;
use crate::types::RequestRecord;

/// Largest body read (a request, or an answer to damage); bigger ones are refused.
pub(crate) const MAX_BODY: usize = 32 << 20;

/// Aborts the connection a request arrived on.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(pub(crate) Arc<Notify>);

impl ConnKill {
    /// Closes the connection with no further bytes written; never returns.
    pub(crate) async fn cut(&self) -> Response {
        self.0.notify_one();
        std::future::pending::<()>().await;
        unreachable!("the connection task drops this future")
    }
}

/// The queued faults and the record of requests, behind the fault API of the double and the proxy.
#[derive(Default)]
pub(crate) struct Injector {
    /// Queued faults, each with how many matching requests it still lets through first.
    faults: Mutex<Vec<(Fault, u32)>>,
    requests: Mutex<Vec<RequestRecord>>,
}

impl Injector {
    pub(crate) fn inject(&self, fault: Fault, skip: u32) {
        lock(&self.faults).push((fault, skip));
    }

    pub(crate) fn clear(&self) {
        lock(&self.faults).clear();
    }

    /// Take one hit of the first fault that matches this request.
    pub(crate) fn take(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut faults = lock(&self.faults);
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

    pub(crate) fn record(&self, method: &Method, path: &str, status: u16) {
        lock(&self.requests).push(RequestRecord {
            method: method.as_str().to_string(),
            path: path.to_string(),
            status,
        });
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }

    /// `(method, path without /v1/, status)`; status 0 = connection dropped without a response.
    pub(crate) fn requests(&self) -> Vec<(Method, String, u16)> {
        lock(&self.requests)
            .iter()
            .map(|r| {
                (
                    Method::from_bytes(r.method.as_bytes()).unwrap_or(Method::GET),
                    r.path.clone(),
                    r.status,
                )
            })
            .collect()
    }

    /// Requests with this verb and path (a trailing slash is ignored).
    pub(crate) fn request_count(&self, method: Method, path: &str) -> usize {
        let want = path.trim_start_matches('/').trim_end_matches('/');
        lock(&self.requests)
            .iter()
            .filter(|r| r.method == method.as_str() && r.path.trim_end_matches('/') == want)
            .count()
    }

    pub(crate) fn reset_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Answers one request under `fault`, recording it: `serve` is the real answer (the store's,
    /// or the upstream's), run only for the kinds where the request takes effect. None = close
    /// the connection without a byte ([`ConnKill::cut`]).
    pub(crate) async fn answer<F, Fut>(
        &self,
        method: &Method,
        path: &str,
        fault: Option<FaultKind>,
        kill: Option<ConnKill>,
        serve: F,
    ) -> Option<Response>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Response>,
    {
        let (status, response) = match fault {
            None => served(serve().await),
            Some(FaultKind::Delay(d)) => {
                tokio::time::sleep(d).await;
                served(serve().await)
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
                let (status, bytes) = body_of(serve().await).await;
                let cut = bytes.slice(..bytes.len() / 2);
                (status, json_response(status, cut))
            }
            Some(FaultKind::DropMidBody) => {
                let (status, bytes) = body_of(serve().await).await;
                let bytes = if bytes.is_empty() {
                    Bytes::from_static(br#"{"errors":[]}"#)
                } else {
                    bytes
                };
                // A 204 cannot carry a body, so the damaged answer claims a 200.
                let status = if status == 204 { 200 } else { status };
                (0, drop_mid_body(status, bytes, kill))
            }
            Some(FaultKind::DropConnection) => {
                self.record(method, path, 0);
                return None;
            }
        };
        self.record(method, path, status);
        Some(response)
    }
}

fn served(r: Response) -> (u16, Response) {
    (r.status().as_u16(), r)
}

/// The status and the whole body of an answer (empty if it cannot be read).
async fn body_of(r: Response) -> (u16, Bytes) {
    let status = r.status().as_u16();
    let bytes = axum::body::to_bytes(r.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    (status, bytes)
}

pub(crate) fn json_response(status: u16, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Headers and the first half of `body`, then (after a pause that lets it reach the client) an abort.
fn drop_mid_body(status: u16, body: Bytes, kill: Option<ConnKill>) -> Response {
    let full_len = body.len().max(2);
    let half = body.slice(..body.len() / 2);
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
