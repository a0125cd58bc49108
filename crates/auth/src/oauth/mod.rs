//! SASL/OAUTHBEARER: validating OIDC access tokens (JWTs) against the provider's published
//! keys.
//!
//! The keys come from `jwksUrl`, or, when it is not set, from the `jwks_uri` of
//! `<issuer>/.well-known/openid-configuration` (whose `issuer` must equal the configured one,
//! OIDC Discovery §4.3). They are cached: refreshed when older than
//! `jwksRefreshIntervalSeconds` (stale keys keep working while the provider is down, with a
//! warning), and refetched at once when a token names an unknown `kid` (key rotation), at most
//! once per `jwksRefetchMinIntervalMs` so that clients sending made-up key ids cannot turn the
//! gateway into a load generator against the provider.
//!
//! HTTP: `reqwest` rather than `openidconnect`. Gatehouse needs two GETs and a JSON parse;
//! `openidconnect` brings a full OAuth2 client (flows, token types, its own JWT/JWK stack) that
//! would sit beside `jsonwebtoken` doing the same thing twice. The client is built on the
//! workspace's rustls with the ring provider and the webpki roots, handed over explicitly so no
//! process-wide crypto provider has to be installed.
//!
//! Locks: the key cache sits behind a `std` mutex held only to copy an `Arc` in or out; one
//! `tokio` mutex lets a single fetch run at a time (validations waiting for it are exactly the
//! ones that cannot proceed without its result).

mod config;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::{AuthError, Principal, PrincipalKind};

pub use config::{OAuthConfig, OAuthConfigError};

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Validates OAUTHBEARER tokens for one provider. Share it (`Arc`) across connections: the
/// key cache and the refetch rate limit are per validator.
pub struct OAuthValidator {
    config: OAuthConfig,
    http: reqwest::Client,
    cache: Mutex<Cache>,
    fetch_gate: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    jwks_uri: Option<String>,
    keys: Option<Arc<Vec<CachedKey>>>,
    /// When `keys` was last replaced.
    fetched_at: Option<Instant>,
    /// When a fetch was last started, successful or not: the rate limit's clock.
    attempted_at: Option<Instant>,
    /// Bumped by every fetch attempt, so a waiter can tell that someone fetched meanwhile.
    generation: u64,
}

struct CachedKey {
    kid: Option<String>,
    alg: Option<String>,
    family: Family,
    key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed,
    Hmac,
}

fn family(alg: Algorithm) -> Family {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => Family::Hmac,
        ES256 | ES384 => Family::Ec,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Family::Rsa,
        EdDSA => Family::Ed,
    }
}

impl std::fmt::Debug for OAuthValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthValidator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn is_http_url(s: &str) -> bool {
    reqwest::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

impl OAuthValidator {
    pub fn new(config: OAuthConfig) -> Result<Self, OAuthConfigError> {
        if !is_http_url(&config.issuer) {
            return Err(OAuthConfigError::InvalidIssuer);
        }
        if config.jwks_url.as_deref().is_some_and(|u| !is_http_url(u)) {
            return Err(OAuthConfigError::InvalidJwksUrl);
        }
        if config.audiences.is_empty() || config.audiences.iter().any(String::is_empty) {
            return Err(OAuthConfigError::NoAudience);
        }
        if config.subject_claim.is_empty() {
            return Err(OAuthConfigError::EmptySubjectClaim);
        }
        if config.allowed_algorithms.is_empty() {
            return Err(OAuthConfigError::NoAlgorithm);
        }
        if let Some(&alg) = config
            .allowed_algorithms
            .iter()
            .find(|&&a| family(a) == Family::Hmac)
        {
            return Err(OAuthConfigError::SymmetricAlgorithm(alg));
        }
        let roots = match &config.ca_file {
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            Some(path) => load_ca_file(path)?,
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| OAuthConfigError::HttpClient(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let timeout = Duration::from_millis(config.http_timeout_ms);
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect to another host is a common misconfiguration; a few hops are normal.
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| OAuthConfigError::HttpClient(e.to_string()))?;
        let cache = Cache {
            jwks_uri: config.jwks_url.clone(),
            ..Cache::default()
        };
        Ok(OAuthValidator {
            config,
            http,
            cache: Mutex::new(cache),
            fetch_gate: tokio::sync::Mutex::new(()),
        })
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// Validates an OAUTHBEARER token: signature by a key of the provider, `exp`, `nbf`,
    /// issuer, audience, then reads the subject claim.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        self.validate_at(token, SystemTime::now()).await
    }

    async fn validate_at(&self, token: &str, now: SystemTime) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::MalformedToken)?;
        if !self.config.allowed_algorithms.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let claims = self.verify_signature(token, &header).await?;
        self.check_claims(&claims, now)
    }

    async fn verify_signature(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> Result<serde_json::Value, AuthError> {
        let mut keys = self.current_keys().await?;
        let mut candidates = matching_keys(&keys, header);
        if candidates.is_empty() && header.kid.is_some() {
            // Perhaps the provider rotated its keys: look again, unless we just did.
            keys = self.refetch_for_unknown_kid(&keys).await?;
            candidates = matching_keys(&keys, header);
        }
        if candidates.is_empty() {
            return Err(AuthError::UnknownKey);
        }
        let mut validation = Validation::new(header.alg);
        // Times, issuer and audience are checked by `check_claims`, with distinct errors.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let mut last = AuthError::BadSignature;
        for key in candidates {
            match jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) => {
                            AuthError::BadSignature
                        }
                        K::InvalidAlgorithm => AuthError::AlgorithmNotAllowed,
                        _ => return Err(AuthError::MalformedToken),
                    };
                }
            }
        }
        Err(last)
    }

    fn check_claims(
        &self,
        claims: &serde_json::Value,
        now: SystemTime,
    ) -> Result<Principal, AuthError> {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let skew = self.config.clock_skew_seconds;
        let number = |name: &str| -> Result<Option<u64>, AuthError> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or(AuthError::MalformedToken),
            }
        };
        // A bearer token without an expiry would authenticate forever: refused, as Kafka does.
        let exp = number("exp")?.ok_or(AuthError::MalformedToken)?;
        if now >= exp.saturating_add(skew) {
            return Err(AuthError::TokenExpired);
        }
        if number("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(AuthError::TokenNotYetValid);
        }
        if claims.get("iss").and_then(|v| v.as_str()) != Some(self.config.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => self.config.audiences.contains(a),
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str())
                .any(|a| self.config.audiences.iter().any(|c| c == a)),
            _ => false,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        let name = claims
            .get(&self.config.subject_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::MissingSubject(self.config.subject_claim.clone()))?;
        Ok(Principal {
            name: name.to_owned(),
            kind: PrincipalKind::OAuth,
            vcluster_hint: None,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(exp)),
            token_id: None,
        })
    }

    /// The cached keys, fetched first if there are none or they are due for refresh.
    async fn current_keys(&self) -> Result<Arc<Vec<CachedKey>>, AuthError> {
        let refresh = Duration::from_secs(self.config.jwks_refresh_interval_seconds);
        let (keys, due, generation) = {
            let c = self.cache.lock().expect("cache lock");
            let due = c.fetched_at.is_none_or(|t| t.elapsed() >= refresh);
            (c.keys.clone(), due, c.generation)
        };
        match (keys, due) {
            (Some(keys), false) => Ok(keys),
            (Some(stale), true) => match self.fetch(generation, false).await {
                Ok(keys) => Ok(keys),
                Err(_) => {
                    tracing::warn!(issuer = %self.config.issuer, "JWKS refresh failed; using the keys fetched before");
                    Ok(stale)
                }
            },
            (None, _) => self.fetch(generation, false).await,
        }
    }

    async fn refetch_for_unknown_kid(
        &self,
        seen: &Arc<Vec<CachedKey>>,
    ) -> Result<Arc<Vec<CachedKey>>, AuthError> {
        let generation = {
            let c = self.cache.lock().expect("cache lock");
            match &c.keys {
                // Someone already replaced the keys we looked at: use theirs.
                Some(keys) if !Arc::ptr_eq(keys, seen) => return Ok(keys.clone()),
                _ => c.generation,
            }
        };
        match self.fetch(generation, true).await {
            Ok(keys) => Ok(keys),
            Err(AuthError::UnknownKey) => Ok(seen.clone()),
            Err(e) => Err(e),
        }
    }

    /// Fetches the JWKS, unless another task fetched since `generation` (then: its result) or
    /// the rate limit forbids (then: `UnknownKey` for an unknown-kid refetch, the current keys
    /// for a refresh, `ProviderUnavailable` when there are none yet).
    async fn fetch(
        &self,
        generation: u64,
        for_unknown_kid: bool,
    ) -> Result<Arc<Vec<CachedKey>>, AuthError> {
        let _gate = self.fetch_gate.lock().await;
        let min_gap = Duration::from_millis(self.config.jwks_refetch_min_interval_ms);
        let jwks_uri = {
            let mut c = self.cache.lock().expect("cache lock");
            if c.generation != generation {
                // A fetch finished while we waited for the gate.
                return c.keys.clone().ok_or(AuthError::ProviderUnavailable);
            }
            if c.attempted_at.is_some_and(|t| t.elapsed() < min_gap) {
                return match (&c.keys, for_unknown_kid) {
                    (Some(_), true) => Err(AuthError::UnknownKey),
                    (Some(keys), false) => Ok(keys.clone()),
                    (None, _) => Err(AuthError::ProviderUnavailable),
                };
            }
            c.attempted_at = Some(Instant::now());
            c.generation += 1;
            c.jwks_uri.clone()
        };
        let result = self.fetch_keys(jwks_uri).await;
        let mut c = self.cache.lock().expect("cache lock");
        match result {
            Ok((uri, keys)) => {
                let keys = Arc::new(keys);
                c.jwks_uri = Some(uri);
                c.keys = Some(keys.clone());
                c.fetched_at = Some(Instant::now());
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.config.issuer, %reason, "cannot fetch the identity provider's keys");
                Err(AuthError::ProviderUnavailable)
            }
        }
    }

    /// Discovery (when no JWKS URL is known yet) and the JWKS itself.
    async fn fetch_keys(
        &self,
        jwks_uri: Option<String>,
    ) -> Result<(String, Vec<CachedKey>), String> {
        let uri = match jwks_uri {
            Some(uri) => uri,
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                #[derive(Deserialize)]
                struct Discovery {
                    issuer: String,
                    jwks_uri: String,
                }
                let doc: Discovery = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|e| format!("discovery document {url}: {e}"))?;
                if doc.issuer != self.config.issuer {
                    return Err(format!(
                        "discovery document {url} names issuer {:?}, not the configured one",
                        doc.issuer
                    ));
                }
                if !is_http_url(&doc.jwks_uri) {
                    return Err(format!(
                        "discovery document {url}: jwks_uri is not an http(s) URL"
                    ));
                }
                doc.jwks_uri
            }
        };
        let body = self.get(&uri).await?;
        let keys = parse_jwks(&body).map_err(|e| format!("JWKS {uri}: {e}"))?;
        tracing::debug!(%uri, keys = keys.len(), "fetched JWKS");
        Ok((uri, keys))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn load_ca_file(path: &str) -> Result<rustls::RootCertStore, OAuthConfigError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let err = |reason: String| OAuthConfigError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| err(format!("invalid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("invalid CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(roots)
}

/// Keys for the token: by `kid` when it names one, else every key of the algorithm's family.
/// A key that declares its own `alg` is only used for that algorithm.
fn matching_keys<'a>(keys: &'a [CachedKey], header: &jsonwebtoken::Header) -> Vec<&'a CachedKey> {
    let fam = family(header.alg);
    let alg = format!("{:?}", header.alg);
    keys.iter()
        .filter(|k| k.family == fam)
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
        .filter(|k| match &header.kid {
            Some(kid) => k.kid.as_deref() == Some(kid.as_str()),
            None => true,
        })
        .collect()
}

/// The signature keys of a JWKS. Keys this validator cannot use (encryption keys, symmetric
/// `oct` keys, unknown key types or curves) are skipped, not fatal: providers publish those too.
fn parse_jwks(body: &[u8]) -> Result<Vec<CachedKey>, String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for raw in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(_) => Family::Ec,
            AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
            AlgorithmParameters::OctetKey(_) => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(CachedKey {
            kid: jwk.common.key_id.clone(),
            alg: jwk.common.key_algorithm.map(|a| a.to_string()),
            family,
            key,
        });
    }
    Ok(keys)
}
