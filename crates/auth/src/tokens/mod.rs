//! Gateway-issued service-account tokens. A local service account authenticates with
//! SASL/PLAIN: the username is the account name, the password is a JWT signed with HS256 by the
//! gateway's secret, carrying `sub` (the username), `vCluster`, `iat`, `exp` and a unique `jti`
//! (UUID v4) that revocation refers to.
//!
//! Every gateway node verifies with the same secret, so the secret alone decides who can mint
//! tokens: [`TokenKey`] refuses anything shorter than 256 bits.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AuthError, Principal, PrincipalKind};

/// The smallest secret accepted: HS256's own output size (RFC 7518 §3.2).
pub const MIN_KEY_BYTES: usize = 32;

/// How far in the future `iat`/`nbf` may be: covers clock differences between the gateway node
/// that issued a token and the one verifying it. `exp` gets no leeway: the issuer chose it, and
/// a token must not outlive what `gatehouse token create` printed.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Name of the environment variable holding the base64 secret.
pub const SECRET_ENV_VAR: &str = "GATEHOUSE_TOKEN_SECRET";

/// Why a token secret was refused (a configuration error: the gateway must not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "token secret is {bytes} bytes; at least {MIN_KEY_BYTES} bytes (256 bits) are required"
    )]
    TooShort { bytes: usize },
    #[error("token secret is not valid base64")]
    InvalidBase64,
    #[error(
        "token secret has leading or trailing whitespace; remove it (it would be part of the key)"
    )]
    SurroundingWhitespace,
}

/// The HS256 secret tokens are signed and verified with. `Debug` does not show it.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

impl TokenKey {
    /// A key from raw bytes; at least [`MIN_KEY_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { bytes: bytes.len() });
        }
        Ok(TokenKey {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        })
    }

    /// The value of `GATEHOUSE_TOKEN_SECRET`: standard or URL-safe base64, padding optional
    /// (what `openssl rand -base64 32` prints), surrounding whitespace ignored because shells
    /// and secret stores add newlines. Must decode to at least 32 bytes.
    pub fn from_base64(value: &str) -> Result<Self, KeyError> {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let v = value.trim().trim_end_matches('=');
        let bytes = STANDARD_NO_PAD
            .decode(v)
            .or_else(|_| URL_SAFE_NO_PAD.decode(v))
            .map_err(|_| KeyError::InvalidBase64)?;
        Self::from_bytes(&bytes)
    }

    /// A secret written in the configuration file. It is **raw text**: its UTF-8 bytes are the
    /// key, so a passphrase copied from a secret manager works verbatim, and it needs at least 32
    /// bytes. Leading or trailing whitespace is refused rather than silently kept or dropped: a
    /// stray newline from a YAML block scalar would otherwise give one node a different key.
    /// (A base64 secret belongs in `GATEHOUSE_TOKEN_SECRET`; see [`TokenKey::from_base64`].)
    pub fn from_config(value: &str) -> Result<Self, KeyError> {
        if value.trim() != value {
            return Err(KeyError::SurroundingWhitespace);
        }
        Self::from_bytes(value.as_bytes())
    }

    /// Mints a token for `username`, valid for `lifetime` from now.
    pub fn issue(
        &self,
        username: &str,
        vcluster: Option<&str>,
        lifetime: Duration,
    ) -> Result<Issued, IssueError> {
        self.issue_at(username, vcluster, lifetime, SystemTime::now())
    }

    /// [`TokenKey::issue`] with an explicit clock.
    pub fn issue_at(
        &self,
        username: &str,
        vcluster: Option<&str>,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<Issued, IssueError> {
        if username.is_empty() {
            return Err(IssueError::EmptyUsername);
        }
        if vcluster == Some("") {
            return Err(IssueError::EmptyVcluster);
        }
        // Whole seconds: JWT times are NumericDate seconds.
        if lifetime.as_secs() == 0 {
            return Err(IssueError::LifetimeTooShort);
        }
        let iat = unix_secs(now);
        let exp = iat
            .checked_add(lifetime.as_secs())
            .filter(|&e| e <= MAX_EXP)
            .ok_or(IssueError::LifetimeTooLong)?;
        let claims = TokenClaims {
            sub: username.to_owned(),
            vcluster: vcluster.map(str::to_owned),
            iat,
            exp,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| IssueError::Encode)?;
        Ok(Issued {
            token,
            id: claims.jti,
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
        })
    }

    /// Checks a token presented as the SASL/PLAIN password of `sasl_username`. The signature is
    /// checked before anything in the token is believed; then expiry, `iat`/`nbf`, the username
    /// (it must equal `sub`, so a token cannot be used under another name) and revocation.
    pub fn verify(
        &self,
        token: &str,
        sasl_username: &str,
        now: SystemTime,
        revocations: &dyn Revocations,
    ) -> Result<TokenClaims, AuthError> {
        let claims = self.signed_claims(token)?;
        let now = unix_secs(now);
        if now >= claims.exp {
            return Err(AuthError::TokenExpired);
        }
        let latest_start = now.saturating_add(CLOCK_SKEW.as_secs());
        if claims.iat > latest_start || claims.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(AuthError::TokenNotYetValid);
        }
        if claims.sub != sasl_username {
            return Err(AuthError::UsernameMismatch);
        }
        if revocations.is_revoked(&claims.jti) {
            return Err(AuthError::TokenRevoked);
        }
        Ok(claims)
    }
}

impl TokenKey {
    /// The claims of a token whose signature this key verifies, **without** checking its
    /// times, username or revocation: for bookkeeping about a token (when a revoked token
    /// expires), never for authentication; use [`TokenKey::verify`] for that.
    pub fn signed_claims(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked by `verify` against its `now`, not the library's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        match jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(map_jwt_error(e.kind())),
        }
    }
}

/// Year 9999: beyond it `SystemTime` arithmetic may overflow on some platforms.
const MAX_EXP: u64 = 253_402_300_799;

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn map_jwt_error(kind: &jsonwebtoken::errors::ErrorKind) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => AuthError::BadSignature,
        // A token whose header names another algorithm (`none`, RS256, ...) is refused outright.
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::AlgorithmNotAllowed,
        _ => AuthError::MalformedToken,
    }
}

/// Why [`TokenKey::issue`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("username must not be empty")]
    EmptyUsername,
    #[error("virtual cluster name must not be empty")]
    EmptyVcluster,
    #[error("token lifetime must be at least one second")]
    LifetimeTooShort,
    #[error("token lifetime is too long")]
    LifetimeTooLong,
    #[error("token could not be encoded")]
    Encode,
}

/// A freshly minted token. `Debug` hides the token itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The JWT the service account uses as its SASL/PLAIN password.
    pub token: String,
    /// The token's `jti`: what `gatehouse token revoke` and the store refer to.
    pub id: String,
    pub expires_at: SystemTime,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"***")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The claims of a gateway token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    #[serde(rename = "vCluster", default, skip_serializing_if = "Option::is_none")]
    pub vcluster: Option<String>,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
}

impl TokenClaims {
    pub fn principal(&self) -> Principal {
        Principal {
            name: self.sub.clone(),
            kind: PrincipalKind::LocalToken,
            vcluster_hint: self.vcluster.clone(),
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(self.exp)),
            token_id: Some(self.jti.clone()),
        }
    }
}

/// Revoked token ids. The store implements it; verification asks it last, after the signature
/// and the claims were checked, so a forged token never costs a lookup.
pub trait Revocations {
    fn is_revoked(&self, token_id: &str) -> bool;
}

impl Revocations for HashSet<String> {
    fn is_revoked(&self, token_id: &str) -> bool {
        self.contains(token_id)
    }
}

/// No token is revoked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocations;

impl Revocations for NoRevocations {
    fn is_revoked(&self, _: &str) -> bool {
        false
    }
}

/// The `jti` of a token, read **without verifying it**: for `gatehouse token revoke`, where
/// the operator may paste a token signed with a key that has since been rotated.
pub fn token_id_unverified(token: &str) -> Result<String, AuthError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.trim().split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthError::MalformedToken)?;
    #[derive(Deserialize)]
    struct Jti {
        jti: String,
    }
    let Jti { jti } = serde_json::from_slice(&json).map_err(|_| AuthError::MalformedToken)?;
    if jti.is_empty() {
        return Err(AuthError::MalformedToken);
    }
    Ok(jti)
}

/// What `gatehouse token revoke TOKEN_OR_ID` revokes: a UUID is taken as the id itself
/// (normalized to lower-case hyphenated form), anything else must be a token.
pub fn revocation_target(token_or_id: &str) -> Result<String, AuthError> {
    match uuid::Uuid::parse_str(token_or_id.trim()) {
        Ok(id) => Ok(id.hyphenated().to_string()),
        Err(_) => token_id_unverified(token_or_id),
    }
}
