//! TLS for the CLI's connection to the admin API: which CAs to trust, the client
//! certificate, and errors that say which option to change.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::Connection;

fn certs(path: &Path, option: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{option}: {}: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{option}: {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// The rustls configuration for an https:// admin API (ring, like the rest of the workspace).
pub fn client_config(conn: &Connection) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    match &conn.ca {
        Some(ca) => {
            for c in certs(ca, "--ca")? {
                roots
                    .add(c)
                    .with_context(|| format!("--ca: {}", ca.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let mut config = match (&conn.cert, &conn.key) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "--cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow!("--key: {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| anyhow!("--cert/--key: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The error of a failed request, with what to do about TLS failures.
pub fn explain(e: &reqwest::Error, conn: &Connection) -> String {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let hint = if chain.contains("UnknownIssuer") || chain.contains("invalid peer certificate") {
        Some(match &conn.ca {
            None => "the admin API's certificate is not signed by a CA this command trusts: give the CA's certificate with --ca FILE (or GATEHOUSE_CA)".to_owned(),
            Some(ca) => format!("the admin API's certificate is not signed by the CA in --ca {} (or its name does not match the --server host)", ca.display()),
        })
    } else if chain.contains("CertificateRequired") || chain.contains("certificate required") {
        Some("the admin API requires a client certificate: give --cert FILE and --key FILE (or GATEHOUSE_CLIENT_CERT and GATEHOUSE_CLIENT_KEY)".to_owned())
    } else if chain.contains("UnknownCA") || chain.contains("BadCertificate") {
        Some("the admin API refused the client certificate in --cert: it must be signed by the CA in the gateway's admin.tls.caFile".to_owned())
    } else if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        Some("the admin API does not speak TLS here: use an http:// --server, or set admin.tls in the gateway's configuration".to_owned())
    } else {
        None
    };
    match hint {
        Some(h) => format!("{h} ({chain})"),
        None => chain,
    }
}
