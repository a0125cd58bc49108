//! Client-side TLS settings for connections to upstream brokers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The `ssl` block of a bootstrap server.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTlsSettings {
    /// PEM bundle of trusted CAs; the public web roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key (PEM), for brokers that require mTLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Which field of the `ssl` block a problem is in, and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TlsSettingsError {
    pub field: &'static str,
    pub reason: String,
}

fn err(field: &'static str, reason: impl Into<String>) -> TlsSettingsError {
    TlsSettingsError {
        field,
        reason: reason.into(),
    }
}

fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSettingsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(field, format!("cannot read {}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(field, format!("{} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(
            field,
            format!("{} holds no certificate", path.display()),
        ));
    }
    Ok(certs)
}

impl UpstreamTlsSettings {
    /// Builds the rustls configuration, reading every file now so a bad path or PEM stops the
    /// gateway at start-up rather than at the first client connection.
    pub fn build(&self) -> Result<Arc<ClientConfig>, TlsSettingsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_certs("caFile", path)? {
                    roots
                        .add(cert)
                        .map_err(|e| err("caFile", format!("{}: {e}", path.display())))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("ssl", e.to_string()))?
            .with_root_certificates(roots);
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("certFile", cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| err("keyFile", format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| err("keyFile", e.to_string()))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => {
                return Err(err("keyFile", "certFile is set but keyFile is missing"))
            }
            (None, Some(_)) => {
                return Err(err("certFile", "keyFile is set but certFile is missing"))
            }
        };
        Ok(Arc::new(config))
    }
}
