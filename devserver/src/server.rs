//! The HTTP layer: a server on its own thread and runtime, the accept loop (with per-connection
//! abort, for dropped-connection faults), and the double's `/v1/…` handling (faults and request
//! records through `inject`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::inject::{ConnKill, Injector, MAX_BODY, json_response};
use crate::lock;
use crate::reply::Reply;
use crate::router::dispatch;
use crate::store::Store;

pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) injector: Injector,
    pub(crate) test_controls: bool,
}

/// An HTTP app served on its own thread and tokio runtime; dropping it stops the server and
/// cancels parked requests rather than awaiting them.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    pub(crate) fn start(
        name: &str,
        listener: std::net::TcpListener,
        app: axum::Router,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Running> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name(name)
            .build()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let label = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => serve(l, app, stop_rx, tls).await,
                        Err(e) => eprintln!("{label}: cannot serve on {addr}: {e}"),
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Running {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
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

fn to_response(reply: Reply) -> Response {
    match reply.body {
        None => json_response(reply.status, Body::empty()),
        Some(v) => json_response(reply.status, serde_json::to_vec(&v).unwrap_or_default()),
    }
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
        shared.injector.record(&method, path, 413);
        return to_response(Reply::error(413, "request body too large"));
    };
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let fault = shared.injector.take(&method, path);
    let serve = || async {
        let reply = dispatch(
            &mut lock(&shared.store),
            &method,
            path,
            query,
            &parts.headers,
            &body,
        );
        to_response(reply)
    };
    match shared
        .injector
        .answer(&method, path, fault, kill.clone(), serve)
        .await
    {
        Some(response) => response,
        None => kill.unwrap_or_default().cut().await,
    }
}
