//! Gatehouse's authentication core: the pieces the connection pipeline puts together to turn
//! a client connection into a [`Principal`], with no Kafka framing and no sockets of its own
//! (the OIDC validator is the one part that does I/O: it fetches discovery and JWKS documents).
//!
//! | module | what |
//! | --- | --- |
//! | [`principal`] | [`Principal`]: name, how it was established, vcluster hint, expiry (KIP-368) |
//! | [`tokens`] | gateway-issued service-account tokens (HS256 JWTs) used as SASL/PLAIN passwords |
//! | [`oauth`] | SASL/OAUTHBEARER: validating OIDC access tokens against a provider's JWKS |
//! | [`mtls`] | Kafka's `ssl.principal.mapping.rules` and the RFC 2253 subject of a certificate |
//! | [`sasl`] | parsing client SASL messages: PLAIN, OAUTHBEARER (RFC 7628), SCRAM client-first |
//! | [`upstream_sasl`] | the gateway's own SASL client towards upstream brokers (PLAIN, SCRAM) |
//!
//! Every failure a client can cause is an [`AuthError`]: its `Display` is safe to send back in
//! a `SaslAuthenticate` response (it never contains a password, a token or a key) and
//! [`AuthError::kafka_error_code`] gives the Kafka error code to send with it.
//!
//! ## How a connection uses it
//!
//! - TLS with a client certificate: [`mtls::principal_from_certificate`] on the verified leaf
//!   certificate, with the listener's [`mtls::PrincipalMapper`].
//! - `SaslHandshake`: [`sasl::Mechanism::from_name`] (an unknown name gives error 33).
//! - `SaslAuthenticate` with PLAIN: [`sasl::parse_plain`], then, for a gateway service account,
//!   [`tokens::TokenKey::verify`] with the password as the token and the store's
//!   [`tokens::Revocations`]; [`tokens::TokenClaims::principal`] gives the principal. For a
//!   delegated user the parsed credentials go to the upstream cluster instead.
//! - `SaslAuthenticate` with OAUTHBEARER: [`sasl::parse_oauthbearer`]; for the initial response
//!   [`oauth::OAuthValidator::validate`] the token and
//!   [`sasl::OAuthBearerInitial::check_authzid`] the result; on failure answer with
//!   [`sasl::oauthbearer_error_challenge`] and fail once the client sends the `%x01` ack.
//! - SCRAM (delegated): [`sasl::parse_scram_client_first`] names the user; the exchange itself is
//!   relayed to the upstream cluster.
//! - KIP-368: [`Principal::session_lifetime_ms`] is the `session_lifetime_ms` to answer with.
//! - Towards upstream brokers: [`upstream_sasl::UpstreamSasl`].

pub mod client_credentials;
pub mod listener;
pub mod mtls;
pub mod oauth;
pub mod principal;
pub mod sasl;
pub mod tokens;
pub mod upstream_sasl;

pub use principal::{Principal, PrincipalKind};
pub use sasl::SaslError;

/// Kafka error code `UNSUPPORTED_SASL_MECHANISM`.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// Kafka error code `ILLEGAL_SASL_STATE`.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// Kafka error code `SASL_AUTHENTICATION_FAILED`.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Why a client could not be authenticated. Each message is safe to send to the client and to
/// log: none carries a secret, and client-supplied text is only ever echoed after
/// [`sanitize_for_client`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("authentication failed: malformed token")]
    MalformedToken,
    #[error("authentication failed: invalid token signature")]
    BadSignature,
    #[error("authentication failed: token expired")]
    TokenExpired,
    #[error("authentication failed: token not yet valid")]
    TokenNotYetValid,
    #[error("authentication failed: SASL username does not match the token")]
    UsernameMismatch,
    #[error("authentication failed: token revoked")]
    TokenRevoked,
    #[error("authentication failed: token signing algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("authentication failed: token signed by an unknown key")]
    UnknownKey,
    #[error("authentication failed: token issuer not accepted")]
    WrongIssuer,
    #[error("authentication failed: token audience not accepted")]
    WrongAudience,
    #[error("authentication failed: token has no '{0}' claim")]
    MissingSubject(String),
    #[error("authentication failed: identity provider unavailable")]
    ProviderUnavailable,
    #[error("authentication failed: authorization id differs from the authenticated identity")]
    AuthzidMismatch,
    #[error("authentication failed: no principal mapping rule matches the client certificate")]
    NoMappingRule,
    #[error("authentication failed: client certificate could not be read")]
    InvalidCertificate,
    #[error("authentication failed: invalid credentials")]
    InvalidCredentials,
    #[error("authentication failed: {0}")]
    Sasl(#[from] SaslError),
    #[error("illegal SASL state: {0}")]
    IllegalSaslState(&'static str),
    #[error("unsupported SASL mechanism '{0}'")]
    UnsupportedMechanism(String),
}

impl AuthError {
    /// The Kafka error code a `SaslHandshake`/`SaslAuthenticate` response carries for this error.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            AuthError::IllegalSaslState(_) => ILLEGAL_SASL_STATE,
            AuthError::UnsupportedMechanism(_) => UNSUPPORTED_SASL_MECHANISM,
            _ => SASL_AUTHENTICATION_FAILED,
        }
    }

    /// An unsupported mechanism error naming what the client asked for, made safe to echo.
    pub fn unsupported_mechanism(requested: &str) -> Self {
        AuthError::UnsupportedMechanism(sanitize_for_client(requested))
    }
}

/// Client-supplied text made safe to echo in an error or a log line: printable ASCII only
/// (others become `?`), at most 64 characters.
pub fn sanitize_for_client(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(AuthError::TokenExpired.kafka_error_code(), 58);
        assert_eq!(AuthError::ProviderUnavailable.kafka_error_code(), 58);
        assert_eq!(
            AuthError::Sasl(SaslError::EmptyPassword).kafka_error_code(),
            58
        );
        assert_eq!(AuthError::IllegalSaslState("x").kafka_error_code(), 34);
        assert_eq!(
            AuthError::unsupported_mechanism("GSSAPI").kafka_error_code(),
            33
        );
    }

    #[test]
    fn unsupported_mechanism_is_sanitized() {
        let e = AuthError::unsupported_mechanism("EVIL\r\nX-Injected: 1");
        assert_eq!(
            e.to_string(),
            "unsupported SASL mechanism 'EVIL??X-Injected: 1'"
        );
        let long = "A".repeat(200);
        let e = AuthError::unsupported_mechanism(&long);
        assert!(e.to_string().len() < 100);
    }
}
