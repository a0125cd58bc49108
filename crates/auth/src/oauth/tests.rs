//! Tests of the OAUTHBEARER configuration (defaults, refusals, CA file) and of JWKS parsing.
//! Validation against a provider is tested in `tests/oauth.rs`.

use super::*;

#[test]
fn config_defaults_and_names() {
    let c: OAuthConfig = serde_json::from_value(serde_json::json!({
        "issuer": "https://idp.example.com/realms/kafka",
        "audiences": ["kafka"],
    }))
    .unwrap();
    assert_eq!(
        c,
        OAuthConfig::new("https://idp.example.com/realms/kafka", vec!["kafka".into()])
    );
    assert_eq!(c.subject_claim, "sub");
    assert_eq!(c.allowed_algorithms, [Algorithm::RS256, Algorithm::ES256]);
    let c: OAuthConfig = serde_json::from_value(serde_json::json!({
        "issuer": "https://idp", "jwksUrl": "https://idp/keys", "audiences": ["a", "b"],
        "subjectClaim": "client_id", "allowedAlgorithms": ["ES384", "PS256"],
    }))
    .unwrap();
    assert_eq!(c.jwks_url.as_deref(), Some("https://idp/keys"));
    assert_eq!(c.allowed_algorithms, [Algorithm::ES384, Algorithm::PS256]);
    assert!(serde_json::from_value::<OAuthConfig>(serde_json::json!({
        "issuer": "https://idp", "audiences": ["a"], "audience": "typo",
    }))
    .is_err());
}

#[test]
fn config_refused() {
    let base = || OAuthConfig::new("https://idp.example.com", vec!["kafka".into()]);
    assert!(OAuthValidator::new(base()).is_ok());
    let cases: Vec<(OAuthConfig, OAuthConfigError)> = vec![
        (
            OAuthConfig {
                issuer: "idp.example.com".into(),
                ..base()
            },
            OAuthConfigError::InvalidIssuer,
        ),
        (
            OAuthConfig {
                jwks_url: Some("file:///etc/keys".into()),
                ..base()
            },
            OAuthConfigError::InvalidJwksUrl,
        ),
        (
            OAuthConfig {
                audiences: vec![],
                ..base()
            },
            OAuthConfigError::NoAudience,
        ),
        (
            OAuthConfig {
                audiences: vec!["".into()],
                ..base()
            },
            OAuthConfigError::NoAudience,
        ),
        (
            OAuthConfig {
                subject_claim: "".into(),
                ..base()
            },
            OAuthConfigError::EmptySubjectClaim,
        ),
        (
            OAuthConfig {
                allowed_algorithms: vec![],
                ..base()
            },
            OAuthConfigError::NoAlgorithm,
        ),
        (
            OAuthConfig {
                allowed_algorithms: vec![Algorithm::RS256, Algorithm::HS256],
                ..base()
            },
            OAuthConfigError::SymmetricAlgorithm(Algorithm::HS256),
        ),
    ];
    for (config, want) in cases {
        assert_eq!(OAuthValidator::new(config).unwrap_err(), want);
    }
}

#[test]
fn ca_file_refused() {
    let base = || OAuthConfig::new("https://idp.example.com", vec!["kafka".into()]);
    let missing = OAuthConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..base()
    };
    assert!(matches!(
        OAuthValidator::new(missing).unwrap_err(),
        OAuthConfigError::CaFile { path, .. } if path == "/nonexistent/ca.pem"
    ));
    let dir = std::env::temp_dir().join(format!("gatehouse-auth-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let config = OAuthConfig {
        ca_file: Some(empty.display().to_string()),
        ..base()
    };
    let err = OAuthValidator::new(config).unwrap_err().to_string();
    assert!(err.contains("no certificate"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn jwks_skips_unusable_keys() {
    let body = serde_json::json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "XYZ", "kid": "future"},
        {"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
    ]});
    let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("ec"));
    assert_eq!(keys[0].alg.as_deref(), Some("ES256"));
    assert!(parse_jwks(b"{}").is_err());
    assert!(parse_jwks(b"not json").is_err());
}
