//! The gateway's own OAUTHBEARER token for upstream brokers: an OAuth 2.0 client-credentials
//! grant at the identity provider's token endpoint, cached until shortly before it expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sasl::Secret;

/// Where and as whom the gateway asks for its upstream token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFetchError {
    #[error("token endpoint {0}: {1}")]
    Http(String, String),
    #[error("token endpoint {0} answered without an access_token")]
    NoToken(String),
}

/// Fetches and caches the token; shared by every upstream connection of a bootstrap server.
#[derive(Debug)]
pub struct TokenSource {
    credentials: ClientCredentials,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

/// Tokens are renewed this long before they expire, so a connection never logs in with one
/// that lapses mid-handshake.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TokenSource {
    pub fn new(credentials: ClientCredentials) -> Result<Arc<Self>, TokenFetchError> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TokenFetchError::Http(credentials.token_endpoint.clone(), e.to_string()))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| {
                TokenFetchError::Http(credentials.token_endpoint.clone(), e.to_string())
            })?;
        Ok(Arc::new(Self {
            credentials,
            http,
            cached: tokio::sync::Mutex::new(None),
        }))
    }

    /// A valid access token, fetched anew when the cached one is (nearly) expired.
    pub async fn token(&self) -> Result<Secret, TokenFetchError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = &*cached {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let c = &self.credentials;
        let mut body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            form_escape(&c.client_id),
            form_escape(c.client_secret.expose())
        );
        if let Some(scope) = &c.scope {
            body.push_str(&format!("&scope={}", form_escape(scope)));
        }
        let err = |e: String| TokenFetchError::Http(c.token_endpoint.clone(), e);
        let response = self
            .http
            .post(&c.token_endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        if !response.status().is_success() {
            return Err(err(format!("HTTP {}", response.status())));
        }
        let json: serde_json::Value = response.json().await.map_err(|e| err(e.to_string()))?;
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| TokenFetchError::NoToken(c.token_endpoint.clone()))?;
        let lifetime = json
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .unwrap_or(300);
        let until = Instant::now() + Duration::from_secs(lifetime).saturating_sub(RENEW_BEFORE);
        let token = Secret::new(token);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

/// The OAUTHBEARER client initial response (RFC 7628) carrying `token`.
pub fn oauthbearer_initial_response(token: &Secret) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {}\x01\x01", token.expose()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_escaped_and_the_message_is_rfc_7628() {
        assert_eq!(form_escape("a b&c=d"), "a%20b%26c%3Dd");
        let msg = oauthbearer_initial_response(&Secret::new("tok"));
        assert_eq!(msg, b"n,,\x01auth=Bearer tok\x01\x01");
    }
}
