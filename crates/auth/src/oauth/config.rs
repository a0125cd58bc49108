//! What the operator configures for OAUTHBEARER (the `oauth` section, `camelCase` in the
//! configuration file) and the configurations the validator refuses.

use jsonwebtoken::Algorithm;
use serde::Deserialize;

/// How Gatehouse validates OAUTHBEARER tokens (`camelCase` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthConfig {
    /// Expected `iss`, compared exactly; also where discovery starts.
    pub issuer: String,
    /// Where the keys are; default: discovered from the issuer.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Accepted `aud` values; a token must carry at least one of them.
    pub audiences: Vec<String>,
    /// The claim that names the principal.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Accepted signature algorithms; asymmetric only.
    #[serde(default = "default_algorithms")]
    pub allowed_algorithms: Vec<Algorithm>,
    /// Tolerated clock difference for `exp` and `nbf` (Kafka's default: 30 s).
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u64,
    /// Minimum time between two JWKS fetches caused by unknown key ids or a failing provider.
    #[serde(default = "default_refetch_min_interval")]
    pub jwks_refetch_min_interval_ms: u64,
    /// Keys older than this are refreshed before use (Kafka's default: one hour).
    #[serde(default = "default_refresh_interval")]
    pub jwks_refresh_interval_seconds: u64,
    /// PEM file of the CA certificates that sign the provider's HTTPS certificate, trusted
    /// *instead of* the public web roots (an in-house Keycloak, say). Default: the web roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Timeout of one HTTP request to the provider.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_ms: u64,
}

fn default_subject_claim() -> String {
    "sub".into()
}
fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256]
}
fn default_clock_skew() -> u64 {
    30
}
fn default_refetch_min_interval() -> u64 {
    10_000
}
fn default_refresh_interval() -> u64 {
    3600
}
fn default_http_timeout() -> u64 {
    10_000
}

impl OAuthConfig {
    /// A configuration with every default, for `issuer` and `audiences`.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        OAuthConfig {
            issuer: issuer.into(),
            jwks_url: None,
            audiences,
            subject_claim: default_subject_claim(),
            allowed_algorithms: default_algorithms(),
            clock_skew_seconds: default_clock_skew(),
            jwks_refetch_min_interval_ms: default_refetch_min_interval(),
            jwks_refresh_interval_seconds: default_refresh_interval(),
            ca_file: None,
            http_timeout_ms: default_http_timeout(),
        }
    }
}

/// A configuration the validator refuses (the gateway must not start with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthConfigError {
    #[error("oauth.issuer must be an http(s) URL")]
    InvalidIssuer,
    #[error("oauth.jwksUrl must be an http(s) URL")]
    InvalidJwksUrl,
    #[error("oauth.audiences must name at least one audience")]
    NoAudience,
    #[error("oauth.subjectClaim must not be empty")]
    EmptySubjectClaim,
    #[error("oauth.allowedAlgorithms must not be empty")]
    NoAlgorithm,
    #[error("oauth.allowedAlgorithms: {0:?} is symmetric; only public-key algorithms can be checked against a JWKS")]
    SymmetricAlgorithm(Algorithm),
    #[error("oauth.caFile {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("oauth: HTTP client: {0}")]
    HttpClient(String),
}
