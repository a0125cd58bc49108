//! How a route's listener authenticates clients: its security protocol, its TLS server
//! configuration (certificates reloaded when their files change) and its SASL settings.
//!
//! The types cannot describe an inconsistent listener: TLS settings exist exactly when the
//! protocol uses TLS, and SASL settings exactly when it uses SASL.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::mtls::PrincipalMapper;
use crate::oauth::OAuthValidator;
use crate::sasl::Mechanism;

/// Kafka's `security.protocol` values, plus the delegated variants where the upstream
/// brokers decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
    DelegatedSaslPlaintext,
    DelegatedSaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 6] = [
        Self::Plaintext,
        Self::Ssl,
        Self::SaslPlaintext,
        Self::SaslSsl,
        Self::DelegatedSaslPlaintext,
        Self::DelegatedSaslSsl,
    ];

    /// The name configurations (and Kafka's `security.protocol`) use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
            Self::DelegatedSaslPlaintext => "DELEGATED_SASL_PLAINTEXT",
            Self::DelegatedSaslSsl => "DELEGATED_SASL_SSL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl | Self::DelegatedSaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        !matches!(self, Self::Plaintext | Self::Ssl)
    }

    pub fn delegated(self) -> bool {
        matches!(self, Self::DelegatedSaslPlaintext | Self::DelegatedSaslSsl)
    }
}

/// Whether the listener asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Asked for; a client without one is still served (and authenticated otherwise).
    Requested,
    Required,
}

/// SASL as the gateway itself performs it.
pub struct LocalSasl {
    pub mechanisms: Vec<Mechanism>,
    pub oauth: Option<Arc<OAuthValidator>>,
}

pub enum Sasl {
    /// The gateway authenticates (PLAIN with its tokens, OAUTHBEARER with the provider).
    Local(LocalSasl),
    /// The exchange goes to the upstream brokers, which decide.
    Delegated,
}

/// Everything a route's listener needs to authenticate a client.
pub struct RouteSecurity {
    pub protocol: SecurityProtocol,
    pub tls: Option<ServerTls>,
    pub sasl: Option<Sasl>,
    /// Upper bound of a SASL session before re-authentication (KIP-368).
    pub max_session_lifetime: Option<Duration>,
}

impl std::fmt::Debug for RouteSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.as_ref().map(|t| t.client_auth))
            .field(
                "sasl",
                &self.sasl.as_ref().map(|s| match s {
                    Sasl::Local(l) => format!("local {:?}", l.mechanisms),
                    Sasl::Delegated => "delegated".into(),
                }),
            )
            .field("max_session_lifetime", &self.max_session_lifetime)
            .finish()
    }
}

impl RouteSecurity {
    pub fn plaintext() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
            max_session_lifetime: None,
        }
    }
}

/// A TLS server configuration whose certificate follows its files.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub client_auth: ClientAuth,
    /// Client certificate subject → principal name (`ssl.principal.mapping.rules`).
    pub principal_mapper: PrincipalMapper,
}

/// Why a TLS setting cannot be used, and which field it is in.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TlsConfigError {
    pub field: &'static str,
    pub reason: String,
}

fn err(field: &'static str, reason: impl Into<String>) -> TlsConfigError {
    TlsConfigError {
        field,
        reason: reason.into(),
    }
}

fn load_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsConfigError> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err("certFile", format!("{}: {e}", cert_file.display())))?;
    if chain.is_empty() {
        return Err(err(
            "certFile",
            format!("{} holds no certificate", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| err("keyFile", format!("{}: {e}", key_file.display())))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| err("keyFile", e.to_string()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Serves the certificate in `certFile`/`keyFile`, re-reading them when their modification
/// times change (checked at most every few seconds, on a handshake). A pair that does not
/// load (say, the certificate written before the key) keeps the previous one in service.
#[derive(Debug)]
struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    state: Mutex<CertState>,
}

#[derive(Debug)]
struct CertState {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

const RELOAD_CHECK: Duration = Duration::from_secs(2);

impl ReloadingCert {
    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let stamps = (modified(&self.cert_file), modified(&self.key_file));
            if stamps != state.stamps {
                match load_key(&self.cert_file, &self.key_file) {
                    Ok(key) => {
                        tracing::info!(cert = %self.cert_file.display(), "TLS certificate reloaded");
                        state.key = Arc::new(key);
                        state.stamps = stamps;
                    }
                    Err(e) => {
                        tracing::warn!("TLS certificate not reloaded, keeping the old one: {e}")
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ServerTls {
    /// Reads every file now, so a bad path or PEM stops the gateway at start-up.
    pub fn build(
        cert_file: &Path,
        key_file: &Path,
        client_auth: ClientAuth,
        ca_file: Option<&Path>,
        principal_mapper: PrincipalMapper,
    ) -> Result<Self, TlsConfigError> {
        let key = load_key(cert_file, key_file)?;
        let resolver = Arc::new(ReloadingCert {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            state: Mutex::new(CertState {
                key: Arc::new(key),
                stamps: (modified(cert_file), modified(key_file)),
                checked: Instant::now(),
            }),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("tls", e.to_string()))?;
        let builder =
            match (client_auth, ca_file) {
                (ClientAuth::None, _) => builder.with_no_client_auth(),
                (_, None) => return Err(err(
                    "caFile",
                    "clientAuth requested or required needs the CA that signs client certificates",
                )),
                (mode, Some(ca)) => {
                    let mut roots = RootCertStore::empty();
                    let certs = CertificateDer::pem_file_iter(ca)
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| err("caFile", format!("{}: {e}", ca.display())))?;
                    for c in certs {
                        roots
                            .add(c)
                            .map_err(|e| err("caFile", format!("{}: {e}", ca.display())))?;
                    }
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                    let verifier = if mode == ClientAuth::Requested {
                        verifier.allow_unauthenticated()
                    } else {
                        verifier
                    };
                    builder.with_client_cert_verifier(
                        verifier.build().map_err(|e| err("caFile", e.to_string()))?,
                    )
                }
            };
        let config = builder.with_cert_resolver(resolver);
        Ok(Self {
            config: Arc::new(config),
            client_auth,
            principal_mapper,
        })
    }
}
