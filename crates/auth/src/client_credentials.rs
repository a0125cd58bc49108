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
///
/// One fetch at a time (single flight) without a lock held across it: the fetch runs in a task
/// of its own and callers wait on a watch channel, each within its own timeout (the login's),
/// so a token endpoint that never answers delays logins by that timeout, never in a queue.
#[derive(Debug)]
pub struct TokenSource {
    credentials: ClientCredentials,
    http: reqwest::Client,
    state: std::sync::Mutex<TokenState>,
}

type Fetched = Option<Result<Secret, String>>;

#[derive(Debug)]
enum TokenState {
    /// No token, or one past its renewal time.
    Stale,
    /// A fetch is running; its result arrives on this channel.
    Fetching(tokio::sync::watch::Receiver<Fetched>),
    Fresh(Secret, Instant),
}

/// Tokens are renewed this long before they expire, so a connection never logs in with one
/// that lapses mid-handshake.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Bound on one token request to the identity provider.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

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
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| {
                TokenFetchError::Http(credentials.token_endpoint.clone(), e.to_string())
            })?;
        Ok(Arc::new(Self {
            credentials,
            http,
            state: std::sync::Mutex::new(TokenState::Stale),
        }))
    }

    /// A valid access token, fetched anew when the cached one is (nearly) expired.
    pub async fn token(self: &Arc<Self>) -> Result<Secret, TokenFetchError> {
        let mut result = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match &*state {
                TokenState::Fresh(token, until) if Instant::now() < *until => {
                    return Ok(token.clone())
                }
                TokenState::Fetching(rx) => rx.clone(),
                _ => {
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    *state = TokenState::Fetching(rx.clone());
                    tokio::spawn(self.clone().fetch_and_publish(tx));
                    rx
                }
            }
        };
        let endpoint = || self.credentials.token_endpoint.clone();
        let fetched = result
            .wait_for(Option::is_some)
            .await
            .map_err(|_| TokenFetchError::Http(endpoint(), "the token fetch was abandoned".into()))?
            .clone();
        match fetched {
            Some(Ok(token)) => Ok(token),
            Some(Err(e)) => Err(TokenFetchError::Http(endpoint(), e)),
            None => unreachable!("waited for Some"),
        }
    }

    /// Runs one fetch, leaves the state for the next caller (the token, or stale so the next
    /// login asks again) and tells every caller waiting.
    async fn fetch_and_publish(self: Arc<Self>, tx: tokio::sync::watch::Sender<Fetched>) {
        let fetched = self.fetch().await;
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            *state = match &fetched {
                Ok((token, until)) => TokenState::Fresh(token.clone(), *until),
                Err(_) => TokenState::Stale,
            };
        }
        let _ = tx.send(Some(
            fetched.map(|(token, _)| token).map_err(|e| e.to_string()),
        ));
    }

    async fn fetch(&self) -> Result<(Secret, Instant), TokenFetchError> {
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
        Ok((Secret::new(token), until))
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

#[cfg(test)]
mod fetch_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn source(port: u16) -> Arc<TokenSource> {
        TokenSource::new(ClientCredentials {
            token_endpoint: format!("http://127.0.0.1:{port}/token"),
            client_id: "gw".into(),
            client_secret: Secret::new("s"),
            scope: None,
        })
        .unwrap()
    }

    /// A token endpoint that accepts connections and never answers.
    async fn black_hole() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_on_a_stuck_fetch_are_each_bounded_by_their_own_timeout() {
        let source = source(black_hole().await);
        let started = Instant::now();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_millis(300), source.token()).await
                })
            })
            .collect();
        for c in callers {
            assert!(c.await.unwrap().is_err(), "no token from a black hole");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "callers queued: {:?}",
            started.elapsed()
        );
        // The cache is not held by anyone: a caller now is bounded the same way.
        let again = Instant::now();
        let late = tokio::time::timeout(Duration::from_millis(300), source.token()).await;
        assert!(late.is_err() && again.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch_and_the_token_is_cached() {
        use axum::{routing::post, Json, Router};
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = Router::new().route(
            "/token",
            post(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Json(serde_json::json!({"access_token": "tok", "expires_in": 3600}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let source = source(port);
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.token().await })
            })
            .collect();
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap().expose(), "tok");
        }
        assert_eq!(source.token().await.unwrap().expose(), "tok");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch for all callers");
    }
}
