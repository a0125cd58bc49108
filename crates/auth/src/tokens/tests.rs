//! Tests of gateway tokens: keys, issuing and verifying, the refusals (signature, algorithm,
//! time, username, revocation, malformed input) and the unverified token id.

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
    let forged_payload = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"sub":"admin","iat":1,"exp":u64::MAX/2,"jti":"x"}).to_string());
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
