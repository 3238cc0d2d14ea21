//! A small axum app served on 127.0.0.1 on its own thread and runtime, for the fake identity
//! provider and the fake Kubernetes API; dropping it stops the server.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub(crate) struct Loopback {
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Binds a free loopback port, then serves the app `build` makes for that address (an
    /// issuer URL must name its own port).
    pub(crate) fn start(
        name: &str,
        tls: Option<TlsAcceptor>,
        build: impl FnOnce(SocketAddr) -> axum::Router,
    ) -> std::io::Result<Loopback> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = build(addr);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name(name)
            .build()?;
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(async move {
                    if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                        crate::server::serve(l, app, stop_rx, tls).await;
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Loopback {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
