//! The admin listener: accepts connections itself so that it can do TLS (certificate files
//! reloaded when they change, optional client certificates), cut connections whose request
//! headers do not arrive in time, and tell the API each client's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::auth::ClientAddr;
use crate::{router_with, Readiness, V2};

/// Default time for a request's headers (and a TLS handshake) to arrive; also how long a
/// keep-alive connection may wait for its next request.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time for a request body to arrive in full.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How the admin listener serves.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    /// TLS, when set (see `gatehouse_auth::listener::ServerTls` for reloading and client
    /// certificates).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Whether `/metrics` needs the credentials of an admin user.
    pub metrics_auth: bool,
    /// The longest a login attempt from a guessing address waits (see [`crate::throttle`]).
    pub login_failure_max_delay: Duration,
}

impl Default for AdminOptions {
    fn default() -> Self {
        Self {
            tls: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            metrics_auth: false,
            login_failure_max_delay: crate::throttle::DEFAULT_MAX_DELAY,
        }
    }
}

/// Binds the admin listener now (so a port in use stops start-up) and serves it in the
/// background, over plain HTTP with default options.
pub async fn serve(
    listen: SocketAddr,
    ready: Readiness,
    api: Option<V2>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    serve_with(listen, ready, api, AdminOptions::default()).await
}

/// Binds the admin listener now and serves it in the background.
pub async fn serve_with(
    listen: SocketAddr,
    ready: Readiness,
    api: Option<V2>,
    options: AdminOptions,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("admin API: cannot listen on {listen}: {e}"))?;
    let router = router_with(ready, api, &options);
    let tls = options.tls.as_ref().map(|config| {
        let mut config = (**config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    tracing::info!(%listen, tls = tls.is_some(), "admin API listening");
    Ok(tokio::spawn(accept_loop(listener, router, tls, options)))
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: AdminOptions,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, typically: wait a little instead of spinning.
                tracing::warn!(error = %e, "admin API: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone().layer(Extension(ClientAddr(peer)));
        let tls = tls.clone();
        let header_timeout = options.header_timeout;
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            match tls {
                None => serve_connection(tcp, router, header_timeout).await,
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_connection(stream, router, header_timeout).await,
                        Ok(Err(e)) => {
                            tracing::debug!(client = %peer, error = %e, "admin API: TLS handshake failed")
                        }
                        Err(_) => {
                            tracing::debug!(client = %peer, "admin API: TLS handshake timed out")
                        }
                    }
                }
            }
        });
    }
}

async fn serve_connection<S>(stream: S, router: Router, header_timeout: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Counted from when the connection (or the previous response) is ready for a request
        // until its headers are in: also the keep-alive idle limit.
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "admin API: connection closed");
    }
}
