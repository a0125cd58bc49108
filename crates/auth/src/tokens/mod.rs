//! Gateway-issued service-account tokens. A local service account authenticates with
//! SASL/PLAIN: the username is the account name, the password is a JWT signed with HS256 by the
//! gateway's secret, carrying `sub` (the username), `vCluster`, `iat`, `exp` and a unique `jti`
//! (UUID v4) that revocation refers to.
//!
//! Every gateway node verifies with the same secret, so the secret alone decides who can mint
//! tokens: [`TokenKey`] refuses anything shorter than 256 bits.

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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn key() -> TokenKey {
        TokenKey::from_bytes(SECRET).unwrap()
    }

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn hour() -> Duration {
        Duration::from_secs(3600)
    }

    /// A token with arbitrary claims, signed with `secret`.
    fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn key_lengths() {
        assert_eq!(
            TokenKey::from_bytes(&SECRET[..31]).unwrap_err(),
            KeyError::TooShort { bytes: 31 }
        );
        assert!(TokenKey::from_bytes(&[0u8; 64]).is_ok());
        let err = TokenKey::from_bytes(b"short").unwrap_err().to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn key_from_base64() {
        let b64 = STANDARD.encode([7u8; 32]);
        assert!(TokenKey::from_base64(&b64).is_ok());
        assert!(TokenKey::from_base64(&format!("  {b64}\n")).is_ok());
        assert!(TokenKey::from_base64(b64.trim_end_matches('=')).is_ok());
        assert!(TokenKey::from_base64(&URL_SAFE_NO_PAD.encode([0xfbu8; 32])).is_ok());
        assert_eq!(
            TokenKey::from_base64(&STANDARD.encode([7u8; 16])).unwrap_err(),
            KeyError::TooShort { bytes: 16 }
        );
        assert_eq!(
            TokenKey::from_base64("not base64!!").unwrap_err(),
            KeyError::InvalidBase64
        );
        assert_eq!(
            TokenKey::from_base64("").unwrap_err(),
            KeyError::TooShort { bytes: 0 }
        );
        // The same bytes give the same key whichever way they were written.
        let a = TokenKey::from_base64(&STANDARD.encode(SECRET)).unwrap();
        let issued = a.issue_at("svc", None, hour(), t0()).unwrap();
        key()
            .verify(&issued.token, "svc", t0(), &NoRevocations)
            .unwrap();
    }

    #[test]
    fn key_from_config_is_raw_text() {
        let text = std::str::from_utf8(SECRET).unwrap();
        let a = TokenKey::from_config(text).unwrap();
        let issued = a.issue_at("svc", None, hour(), t0()).unwrap();
        key()
            .verify(&issued.token, "svc", t0(), &NoRevocations)
            .unwrap();
        assert_eq!(
            TokenKey::from_config("too short").unwrap_err(),
            KeyError::TooShort { bytes: 9 }
        );
        assert_eq!(
            TokenKey::from_config(&format!("{text}\n")).unwrap_err(),
            KeyError::SurroundingWhitespace
        );
        assert_eq!(
            TokenKey::from_config(&format!(" {text}")).unwrap_err(),
            KeyError::SurroundingWhitespace
        );
    }

    #[test]
    fn key_debug_hides_secret() {
        assert_eq!(format!("{:?}", key()), "TokenKey(***)");
    }

    #[test]
    fn issue_and_verify() {
        let issued = key()
            .issue_at("svc-a", Some("tenant1"), hour(), t0())
            .unwrap();
        assert_eq!(issued.expires_at, t0() + hour());
        assert!(uuid::Uuid::parse_str(&issued.id).is_ok());
        assert!(!format!("{issued:?}").contains(&issued.token));

        let claims = key()
            .verify(&issued.token, "svc-a", t0(), &NoRevocations)
            .unwrap();
        assert_eq!(claims.sub, "svc-a");
        assert_eq!(claims.vcluster.as_deref(), Some("tenant1"));
        assert_eq!(claims.jti, issued.id);
        assert_eq!(claims.iat + 3600, claims.exp);
        let p = claims.principal();
        assert_eq!(p.name, "svc-a");
        assert_eq!(p.kind, PrincipalKind::LocalToken);
        assert_eq!(p.vcluster_hint.as_deref(), Some("tenant1"));
        assert_eq!(p.expires_at, Some(t0() + hour()));

        // The wire claim names are the documented ones.
        let payload = issued.token.split('.').nth(1).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        for k in ["sub", "vCluster", "exp", "iat", "jti"] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }

        // Without a vcluster.
        let issued = key().issue_at("svc-b", None, hour(), t0()).unwrap();
        let claims = key()
            .verify(&issued.token, "svc-b", t0(), &NoRevocations)
            .unwrap();
        assert_eq!(claims.vcluster, None);
    }

    #[test]
    fn ids_are_unique() {
        let a = key().issue_at("s", None, hour(), t0()).unwrap();
        let b = key().issue_at("s", None, hour(), t0()).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn issue_rejects_bad_input() {
        let k = key();
        assert_eq!(
            k.issue_at("", None, hour(), t0()),
            Err(IssueError::EmptyUsername)
        );
        assert_eq!(
            k.issue_at("a", Some(""), hour(), t0()),
            Err(IssueError::EmptyVcluster)
        );
        assert_eq!(
            k.issue_at("a", None, Duration::from_millis(999), t0()),
            Err(IssueError::LifetimeTooShort)
        );
        assert_eq!(
            k.issue_at("a", None, Duration::from_secs(u64::MAX), t0()),
            Err(IssueError::LifetimeTooLong)
        );
    }

    #[test]
    fn wrong_signature() {
        let other = TokenKey::from_bytes(&[9u8; 32]).unwrap();
        let issued = other.issue_at("svc", None, hour(), t0()).unwrap();
        assert_eq!(
            key().verify(&issued.token, "svc", t0(), &NoRevocations),
            Err(AuthError::BadSignature)
        );
        // A tampered payload (claims swapped, old signature kept).
        let good = key().issue_at("svc", None, hour(), t0()).unwrap().token;
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"sub":"admin","iat":1,"exp":u64::MAX/2,"jti":"x"}).to_string(),
        );
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(
            key().verify(&parts.join("."), "admin", t0(), &NoRevocations),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_refused() {
        // alg=none, unsigned
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"svc","iat":1,"exp":9999999999,"jti":"x"}"#);
        let none = format!("{header}.{payload}.");
        assert!(matches!(
            key().verify(&none, "svc", t0(), &NoRevocations),
            Err(AuthError::AlgorithmNotAllowed | AuthError::MalformedToken)
        ));
        // HS512 with the right secret is still not HS256.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"sub":"svc","iat":1,"exp":9999999999u64,"jti":"x"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            key().verify(&hs512, "svc", t0(), &NoRevocations),
            Err(AuthError::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn signed_claims_skip_times_but_not_the_signature() {
        let issued = key().issue_at("svc", Some("v"), hour(), t0()).unwrap();
        let claims = key().signed_claims(&issued.token).unwrap();
        assert_eq!(
            (claims.jti.as_str(), claims.exp),
            (issued.id.as_str(), unix_secs(t0()) + 3600)
        );
        let other = TokenKey::from_bytes(&[3u8; 32]).unwrap();
        assert_eq!(
            other.signed_claims(&issued.token),
            Err(AuthError::BadSignature)
        );
        assert_eq!(key().signed_claims("a.b.c"), Err(AuthError::MalformedToken));
    }

    #[test]
    fn expired() {
        let issued = key().issue_at("svc", None, hour(), t0()).unwrap();
        let k = key();
        let at = |secs| t0() + Duration::from_secs(secs);
        assert!(k
            .verify(&issued.token, "svc", at(3599), &NoRevocations)
            .is_ok());
        assert_eq!(
            k.verify(&issued.token, "svc", at(3600), &NoRevocations),
            Err(AuthError::TokenExpired)
        );
        assert_eq!(
            k.verify(&issued.token, "svc", at(100_000), &NoRevocations),
            Err(AuthError::TokenExpired)
        );
    }

    #[test]
    fn not_yet_valid() {
        let k = key();
        let issued = k.issue_at("svc", None, hour(), t0()).unwrap();
        // iat slightly ahead of the verifier's clock: within the skew allowance.
        let before = |secs| t0() - Duration::from_secs(secs);
        assert!(k
            .verify(&issued.token, "svc", before(30), &NoRevocations)
            .is_ok());
        assert_eq!(
            k.verify(&issued.token, "svc", before(31), &NoRevocations),
            Err(AuthError::TokenNotYetValid)
        );
        // nbf in the future
        let now = unix_secs(t0());
        let tok = sign(
            serde_json::json!({"sub":"svc","iat":now,"nbf":now+600,"exp":now+3600,"jti":"x"}),
            SECRET,
        );
        assert_eq!(
            k.verify(&tok, "svc", t0(), &NoRevocations),
            Err(AuthError::TokenNotYetValid)
        );
        assert!(k
            .verify(&tok, "svc", t0() + Duration::from_secs(600), &NoRevocations)
            .is_ok());
    }

    #[test]
    fn username_mismatch() {
        let issued = key().issue_at("svc-a", None, hour(), t0()).unwrap();
        assert_eq!(
            key().verify(&issued.token, "svc-b", t0(), &NoRevocations),
            Err(AuthError::UsernameMismatch)
        );
        assert_eq!(
            key().verify(&issued.token, "SVC-A", t0(), &NoRevocations),
            Err(AuthError::UsernameMismatch)
        );
    }

    #[test]
    fn revoked() {
        let issued = key().issue_at("svc", None, hour(), t0()).unwrap();
        let mut revoked = HashSet::new();
        revoked.insert("some-other-id".to_string());
        assert!(key().verify(&issued.token, "svc", t0(), &revoked).is_ok());
        revoked.insert(issued.id.clone());
        assert_eq!(
            key().verify(&issued.token, "svc", t0(), &revoked),
            Err(AuthError::TokenRevoked)
        );
    }

    #[test]
    fn malformed() {
        let k = key();
        for bad in ["", "abc", "a.b", "a.b.c", "a.b.c.d", "!!!.???.***"] {
            assert_eq!(
                k.verify(bad, "svc", t0(), &NoRevocations),
                Err(AuthError::MalformedToken),
                "{bad}"
            );
        }
        // Correctly signed, but missing claims.
        let tok = sign(serde_json::json!({"sub":"svc"}), SECRET);
        assert_eq!(
            k.verify(&tok, "svc", t0(), &NoRevocations),
            Err(AuthError::MalformedToken)
        );
        // Claims of the wrong type.
        let tok = sign(
            serde_json::json!({"sub":"svc","iat":"yesterday","exp":1,"jti":"x"}),
            SECRET,
        );
        assert_eq!(
            k.verify(&tok, "svc", t0(), &NoRevocations),
            Err(AuthError::MalformedToken)
        );
    }

    #[test]
    fn errors_never_echo_the_token() {
        let issued = key().issue_at("svc", None, hour(), t0()).unwrap();
        let later = t0() + Duration::from_secs(7200);
        let err = key()
            .verify(&issued.token, "svc", later, &NoRevocations)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            !msg.contains(&issued.token) && !msg.contains(&issued.id),
            "{msg}"
        );
    }

    #[test]
    fn unverified_id() {
        let issued = TokenKey::from_bytes(&[1u8; 32])
            .unwrap()
            .issue_at("svc", None, hour(), t0())
            .unwrap();
        assert_eq!(token_id_unverified(&issued.token).unwrap(), issued.id);
        assert_eq!(revocation_target(&issued.token).unwrap(), issued.id);
        assert_eq!(
            revocation_target(&format!(" {}\n", issued.token)).unwrap(),
            issued.id
        );
        let id = issued.id.to_uppercase();
        assert_eq!(revocation_target(&id).unwrap(), issued.id);
        assert_eq!(revocation_target("nope"), Err(AuthError::MalformedToken));
        assert_eq!(token_id_unverified("a.b.c"), Err(AuthError::MalformedToken));
        let no_jti = sign(serde_json::json!({"sub":"svc"}), SECRET);
        assert_eq!(token_id_unverified(&no_jti), Err(AuthError::MalformedToken));
        let empty = sign(serde_json::json!({"jti":""}), SECRET);
        assert_eq!(token_id_unverified(&empty), Err(AuthError::MalformedToken));
    }
}
