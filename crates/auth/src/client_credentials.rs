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
        // Built in its own scope: the serializer is not Send and must not live across an await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &c.client_id)
                .append_pair("client_secret", c.client_secret.expose());
            if let Some(scope) = &c.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
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
    fn the_initial_response_is_rfc_7628() {
        let msg = oauthbearer_initial_response(&Secret::new("tok"));
        assert_eq!(msg, b"n,,\x01auth=Bearer tok\x01\x01");
    }
}
