//! Connections to upstream brokers.
//!
//! An [`UpstreamCluster`] is one listener of one streaming domain: the bootstrap endpoint, the
//! TLS settings for it, and the directory of broker addresses learned from the metadata that
//! passes through the gateway. A client connection on a virtual broker port is forwarded to
//! the address the directory holds for that node; when the gateway has not seen it yet (it
//! restarted while clients kept their metadata), it asks the bootstrap server.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_response::ApiVersion, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    MetadataRequest, MetadataResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use gatehouse_protocol::codec::{decode_response, encode_request};

use gatehouse_auth::client_credentials::TokenSource;
use gatehouse_auth::upstream_sasl::UpstreamCredentials;
use gatehouse_protocol::versions::intersect;

use crate::broker_map::Target;
use crate::domains::{DomainState, Versions};
use crate::health::Reachability;
use crate::metrics::metrics;
use crate::topology::HostPort;

/// Largest metadata answer accepted during discovery.
const DISCOVERY_MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub struct UpstreamCluster {
    pub domain: String,
    pub listener_id: String,
    pub bootstrap: HostPort,
    tls: Option<Arc<ClientConfig>>,
    connect_timeout: Duration,
    /// Bound on each exchange the gateway starts itself (not on clients' requests, which the
    /// clients time out): a broker that accepts and never answers must not hang anyone.
    request_timeout: Duration,
    /// What was learned through this listener (node directory, API versions), kept in the
    /// process-wide [`crate::domains::DomainRegistry`] so it outlives a topology swap.
    state: Arc<DomainState>,
    /// The gateway's own SASL login on this listener (`bootstrapServers[].sasl`).
    sasl: Option<GatewayLogin>,
    /// Whether the bootstrap server answered the gateway's last exchange (probe or own use).
    reachable: Reachability,
}

/// How the gateway logs in to an upstream listener.
#[derive(Debug, Clone)]
pub enum GatewayLogin {
    /// PLAIN or SCRAM with a username and password.
    Password(UpstreamCredentials),
    /// OAUTHBEARER with a token from a client-credentials grant.
    OAuthBearer(Arc<TokenSource>),
}

/// Whose identity an upstream connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The gateway's own (its SASL credentials for the domain, if any).
    Gateway,
    /// The client's: the client's SASL exchange is relayed on it (delegated SASL).
    Client,
}

impl UpstreamCluster {
    /// An upstream with nothing learned yet; [`Self::with_state`] hands it what an earlier
    /// topology learned.
    pub fn new(
        domain: String,
        listener_id: String,
        bootstrap: HostPort,
        tls: Option<Arc<ClientConfig>>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            state: Arc::new(DomainState::new(bootstrap.clone())),
            domain,
            listener_id,
            bootstrap,
            tls,
            connect_timeout,
            // Until configured (`with_request_timeout`), the connect timeout (default 10 s).
            request_timeout: connect_timeout,
            sasl: None,
            reachable: Reachability::default(),
        }
    }

    /// Ok when the bootstrap server answered the gateway's last exchange with it; otherwise
    /// what failed and since when (see [`crate::health`]).
    pub fn reachability(&self) -> Result<(), String> {
        self.reachable.get()
    }

    /// Connects to the bootstrap server as the gateway does (TLS, its SASL login) and asks
    /// ApiVersions, under the connect and request timeouts; records the outcome.
    pub async fn probe(&self) -> io::Result<()> {
        let result = async {
            let mut conn = self.connect_to(&self.bootstrap).await?;
            self.log_in(&mut conn).await?;
            self.ask_versions_on(&mut conn).await.map(drop)
        }
        .await;
        self.record(&result);
        result
    }

    /// Records how an exchange of the gateway's own with the bootstrap server went; logs a
    /// change of reachability once, not per attempt.
    pub(crate) fn record<T>(&self, result: &io::Result<T>) {
        let outcome = result.as_ref().map(drop).map_err(|e| e.to_string());
        let error = outcome.as_ref().err().cloned();
        if self.reachable.record(outcome) {
            match error {
                None => {
                    tracing::info!(domain = %self.domain, listener = %self.listener_id, bootstrap = %self.bootstrap, "upstream reachable")
                }
                Some(error) => {
                    tracing::warn!(domain = %self.domain, listener = %self.listener_id, bootstrap = %self.bootstrap, %error, "upstream unreachable")
                }
            }
        }
    }

    /// Bounds each exchange the gateway starts itself with an upstream.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The bound on each exchange the gateway starts itself.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Uses (and fills) state learned before: the registry's for this domain and listener.
    pub fn with_state(mut self, state: Arc<DomainState>) -> Self {
        self.state = state;
        self
    }

    /// What this listener has learned.
    pub fn state(&self) -> &Arc<DomainState> {
        &self.state
    }

    /// Logs the gateway in with these credentials on every connection of its own.
    pub fn with_sasl(mut self, login: GatewayLogin) -> Self {
        self.sasl = Some(login);
        self
    }

    /// What the gateway and the upstream both support, asked of the bootstrap server on the
    /// gateway's own connection the first time and remembered.
    ///
    /// One caller asks at a time and the others share its answer (or its failure), so a
    /// stuck upstream costs everyone one timeout, never a queue; no lock is held while asking.
    pub async fn api_versions(&self) -> io::Result<Vec<ApiVersion>> {
        loop {
            let (mut answer, tx) = {
                let mut state = self
                    .state
                    .api_versions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                match &*state {
                    Versions::Known(keys) => return Ok(keys.clone()),
                    // Its asker is still there (a sender that went away was a client that
                    // left mid-ask: ask anew).
                    Versions::Asking(rx) if rx.has_changed().is_ok() => (rx.clone(), None),
                    _ => {
                        let (tx, rx) = tokio::sync::watch::channel(None);
                        *state = Versions::Asking(rx.clone());
                        (rx, Some(tx))
                    }
                }
            };
            if let Some(tx) = tx {
                let asked = self.ask_api_versions().await;
                let mut state = self
                    .state
                    .api_versions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                *state = match &asked {
                    Ok(keys) => Versions::Known(keys.clone()),
                    Err(_) => Versions::Unknown,
                };
                let _ = tx.send(Some(
                    asked
                        .as_ref()
                        .map(Vec::clone)
                        .map_err(|e| (e.kind(), e.to_string())),
                ));
                return asked;
            }
            let Ok(shared) = answer.wait_for(Option::is_some).await else {
                continue;
            };
            return match shared.clone() {
                Some(Ok(keys)) => Ok(keys),
                Some(Err((kind, msg))) => Err(io::Error::new(kind, msg)),
                None => unreachable!("waited for an answer"),
            };
        }
    }

    async fn ask_api_versions(&self) -> io::Result<Vec<ApiVersion>> {
        let asked = async {
            let mut conn = self.connect_to(&self.bootstrap).await?;
            self.ask_versions_on(&mut conn).await
        }
        .await;
        self.record(&asked);
        let mut keys = asked?;
        intersect(&mut keys);
        Ok(keys)
    }

    /// One ApiVersions v0 exchange on a connection of the gateway's own, under the timeout.
    pub(crate) async fn ask_versions_on(
        &self,
        conn: &mut UpstreamStream,
    ) -> io::Result<Vec<ApiVersion>> {
        let request = ApiVersionsRequest::default();
        let exchange = exchange::<_, ApiVersionsResponse>(conn, ApiKey::ApiVersions, 0, &request);
        let response = self
            .answered_within(exchange, "ApiVersions")
            .await
            .inspect_err(|_| metrics().upstream_connect_failure(&self.domain))?;
        if response.error_code != 0 {
            return Err(invalid(format!(
                "the upstream {} of domain '{}' answered ApiVersions with error {}",
                self.bootstrap, self.domain, response.error_code
            )));
        }
        Ok(response.api_keys)
    }

    /// Runs one exchange of the gateway's own under the request timeout.
    pub(crate) async fn answered_within<T>(
        &self,
        step: impl std::future::Future<Output = io::Result<T>>,
        what: &str,
    ) -> io::Result<T> {
        tokio::time::timeout(self.request_timeout, step)
            .await
            .map_err(|_| {
                timed_out(format!(
                    "the upstream {} of domain '{}' did not answer {what} within {} ms \
                     (gateway.upstreamRequestTimeoutMs)",
                    self.bootstrap,
                    self.domain,
                    self.request_timeout.as_millis()
                ))
            })?
    }

    /// Records where an upstream node lives, as seen in a response passing through.
    pub fn learn(&self, node_id: i32, host: &str, port: i32) {
        let Ok(port) = u16::try_from(port) else {
            return;
        };
        let known = self
            .state
            .directory
            .get(&node_id)
            .is_some_and(|a| a.port == port && a.host == host);
        if !known {
            tracing::debug!(domain = %self.domain, node_id, %host, port, "learned upstream broker address");
            self.state.directory.insert(
                node_id,
                HostPort {
                    host: host.to_string(),
                    port,
                },
            );
        }
    }

    /// Opens a connection to the broker a client connection is for, logged in as `login` says.
    pub async fn connect(&self, target: Target, login: Login) -> io::Result<UpstreamStream> {
        let addr = match target {
            Target::Bootstrap => self.bootstrap.clone(),
            Target::Node(id) => self.resolve(id).await?,
        };
        let mut conn = self.connect_to(&addr).await?;
        if login == Login::Gateway {
            self.log_in(&mut conn).await?;
        }
        Ok(conn)
    }

    pub(crate) async fn log_in(&self, conn: &mut UpstreamStream) -> io::Result<()> {
        if let Some(credentials) = &self.sasl {
            let login = crate::upstream_auth::login(conn, credentials, &self.domain);
            let result = self
                .answered_within(login, "the gateway's SASL login")
                .await;
            if let Err(e) = result {
                metrics().upstream_connect_failure(&self.domain);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn resolve(&self, node_id: i32) -> io::Result<HostPort> {
        if let Some(addr) = self.state.directory.get(&node_id) {
            return Ok(addr.clone());
        }
        self.discover().await?;
        self.state.directory.get(&node_id).map(|a| a.clone()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("node {node_id} is not a broker of domain '{}' (its metadata does not list it)", self.domain),
            )
        })
    }

    /// Connects (and handshakes TLS); every failure is counted per domain.
    pub(crate) async fn connect_to(&self, addr: &HostPort) -> io::Result<UpstreamStream> {
        let result = self.try_connect_to(addr).await;
        if result.is_err() {
            metrics().upstream_connect_failure(&self.domain);
        }
        result
    }

    async fn try_connect_to(&self, addr: &HostPort) -> io::Result<UpstreamStream> {
        let connect = TcpStream::connect((addr.host.as_str(), addr.port));
        let tcp = self
            .within(connect, || format!("connecting to {addr} timed out"))
            .await?;
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            return Ok(UpstreamStream::Plain(tcp));
        };
        let name = ServerName::try_from(addr.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        let handshake = TlsConnector::from(tls.clone()).connect(name, tcp);
        let stream = self
            .within(handshake, || format!("TLS handshake with {addr} timed out"))
            .await?;
        Ok(UpstreamStream::Tls(Box::new(stream)))
    }

    /// Runs one connection step under the configured timeout.
    async fn within<T>(
        &self,
        step: impl std::future::Future<Output = io::Result<T>>,
        timed_out: impl FnOnce() -> String,
    ) -> io::Result<T> {
        tokio::time::timeout(self.connect_timeout, step)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, timed_out()))?
    }

    /// Asks the bootstrap server for the cluster's brokers and fills the directory.
    pub async fn discover(&self) -> io::Result<()> {
        let result = self.ask_for_brokers().await;
        self.record(&result);
        result
    }

    async fn ask_for_brokers(&self) -> io::Result<()> {
        let mut conn = self.connect_to(&self.bootstrap).await?;
        self.log_in(&mut conn).await?;
        let versions = self.ask_versions_on(&mut conn).await?;
        let ours = ApiKey::Metadata.valid_versions();
        let theirs = versions
            .iter()
            .find(|k| k.api_key == ApiKey::Metadata as i16)
            .ok_or_else(|| invalid("upstream does not offer Metadata"))?;
        let version = theirs.max_version.min(ours.max);
        if version < theirs.min_version.max(ours.min) {
            return Err(invalid("no Metadata version in common with the upstream"));
        }
        let request = MetadataRequest::default().with_topics(Some(vec![]));
        let ask = exchange::<_, MetadataResponse>(&mut conn, ApiKey::Metadata, version, &request);
        let metadata = self
            .answered_within(ask, "Metadata (broker discovery)")
            .await
            .inspect_err(|_| metrics().upstream_connect_failure(&self.domain))?;
        for b in &metadata.brokers {
            self.learn(b.node_id.0, &b.host, b.port);
        }
        Ok(())
    }
}

fn timed_out(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, msg)
}

pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// One request/response round trip on a connection of the gateway's own.
pub(crate) async fn exchange<Req, Resp>(
    conn: &mut UpstreamStream,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> io::Result<Resp>
where
    Req: kafka_protocol::protocol::Encodable,
    Resp: kafka_protocol::protocol::Decodable,
{
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("gatehouse")));
    let frame = encode_request(&header, req).map_err(|e| invalid(e.to_string()))?;
    conn.write_all(&frame).await?;
    let len = conn.read_i32().await?;
    if len <= 0 || len as usize > DISCOVERY_MAX_FRAME {
        return Err(invalid(format!("bad response length {len}")));
    }
    let mut buf = BytesMut::with_capacity(4 + len as usize);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.resize(4 + len as usize, 0);
    conn.read_exact(&mut buf[4..]).await?;
    let frame: Bytes = buf.freeze();
    let (_, resp) =
        decode_response::<Resp>(&frame, key, version).map_err(|e| invalid(e.to_string()))?;
    Ok(resp)
}

/// A connection to an upstream broker, plaintext or TLS.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl UpstreamStream {
    /// The TCP socket, when nothing (TLS) sits between it and the Kafka bytes.
    pub fn plain_tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(_) => None,
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
