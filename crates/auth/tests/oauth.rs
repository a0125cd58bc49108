//! OAUTHBEARER validation against an OIDC provider served on loopback by the test itself:
//! discovery, JWKS, key rotation, rate-limited refetch, provider failures, and every claim check.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_auth::oauth::{OAuthConfig, OAuthValidator};
use gatehouse_auth::{AuthError, PrincipalKind};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A throwaway 2048-bit RSA key made for these tests only (`openssl genrsa`), and its modulus.
const RSA_PEM: &str = include_str!("data/rsa-test-key.pem");
const RSA_N: &str = "s2FIdUG2cgVDRB77nynKW7kzJDMtdxza1C3h7dvMqH-eFvmu2oQjIzma5zgEXPeQ0_QcBHEvDhNJNVAE9K9Rv7D4njNnM5N-Rf-sTXm9y-XfMMjkm1BRQVWZl8vq3rCcQy3kp7y8NeRkyK0GUKbPb_Yqux0p8UwLhT-AKJ34yZbnRe0rJ1fPLvjvsfjAk8-0trZtX_Zwa43Swuze4mGzbS2ukcONHaHumWLtu-Un3c6zyQryFvEEEF6Tk9_klpGI4bnzvGyHcziE8CpRHezQ1JA_14o4ZAb3tLA6L11oHQ8baQEyKkT1x9kZE1fPbss6ZtTWpboSFOBp5EYKUP3kjQ";

#[derive(Default)]
struct Provider {
    issuer: Mutex<String>,
    /// What discovery claims the issuer is (normally the same).
    discovery_issuer: Mutex<Option<String>>,
    jwks: Mutex<Value>,
    down: AtomicBool,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    p.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if p.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = p.issuer.lock().unwrap().clone();
    let named = p
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or(issuer.clone());
    Json(json!({"issuer": named, "jwks_uri": format!("{issuer}/keys")})).into_response()
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    p.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if p.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(p.jwks.lock().unwrap().clone()).into_response()
}

/// Starts the provider on an ephemeral loopback port; its issuer is `http://127.0.0.1:PORT`.
async fn start_provider() -> (Arc<Provider>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}");
    let p = Arc::new(Provider::default());
    *p.issuer.lock().unwrap() = issuer.clone();
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(jwks))
        .with_state(p.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (p, issuer)
}

struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &str) -> Key {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = pair.public_key_raw(); // 0x04 || x || y
    assert_eq!(raw.len(), 65);
    Key {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..]),
        }),
    }
}

fn rsa_key(kid: &str) -> Key {
    Key {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
        jwk: json!({"kty": "RSA", "use": "sig", "kid": kid, "n": RSA_N, "e": "AQAB"}),
    }
}

fn publish(p: &Provider, keys: &[&Key]) {
    *p.jwks.lock().unwrap() =
        json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mint(key: &Key, claims: Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

/// Claims that pass every check for `issuer`.
fn good_claims(issuer: &str) -> Value {
    json!({"iss": issuer, "aud": "kafka", "sub": "alice", "iat": now(), "exp": now() + 300})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn validator(issuer: &str, tweak: impl FnOnce(&mut OAuthConfig)) -> OAuthValidator {
    let mut config = OAuthConfig::new(issuer, vec!["kafka".into(), "other-aud".into()]);
    tweak(&mut config);
    OAuthValidator::new(config).unwrap()
}

#[tokio::test]
async fn valid_tokens_es256_and_rs256_via_discovery() {
    let (p, issuer) = start_provider().await;
    let (ec, rsa) = (ec_key("ec-1"), rsa_key("rsa-1"));
    publish(&p, &[&ec, &rsa]);
    let v = validator(&issuer, |_| {});

    let exp = now() + 300;
    let claims = with(good_claims(&issuer), "exp", json!(exp));
    let principal = v.validate(&mint(&ec, claims.clone())).await.unwrap();
    assert_eq!(principal.name, "alice");
    assert_eq!(principal.kind, PrincipalKind::OAuth);
    assert_eq!(principal.vcluster_hint, None);
    assert_eq!(
        principal.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );
    assert_eq!(v.validate(&mint(&rsa, claims)).await.unwrap().name, "alice");

    // aud as a list, matching any configured audience.
    let claims = with(good_claims(&issuer), "aud", json!(["x", "other-aud"]));
    assert!(v.validate(&mint(&ec, claims)).await.is_ok());

    // Discovery once, keys once: the rest came from the cache.
    assert_eq!(p.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(p.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn configured_jwks_url_skips_discovery() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    let v = validator(&issuer, |c| c.jwks_url = Some(format!("{issuer}/keys")));
    assert!(v.validate(&mint(&ec, good_claims(&issuer))).await.is_ok());
    assert_eq!(p.discovery_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn claim_checks() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    let v = validator(&issuer, |_| {});
    let good = good_claims(&issuer);
    let cases = [
        (
            with(good.clone(), "iss", json!("https://evil.example.com")),
            AuthError::WrongIssuer,
        ),
        (
            with(good.clone(), "iss", json!(format!("{issuer}/"))),
            AuthError::WrongIssuer,
        ),
        (
            with(good.clone(), "aud", json!("not-kafka")),
            AuthError::WrongAudience,
        ),
        (
            with(good.clone(), "aud", json!(["a", "b"])),
            AuthError::WrongAudience,
        ),
        (
            with(good.clone(), "aud", Value::Null),
            AuthError::WrongAudience,
        ),
        // Beyond the 30 s clock skew allowance.
        (
            with(good.clone(), "exp", json!(now() - 60)),
            AuthError::TokenExpired,
        ),
        (
            with(good.clone(), "nbf", json!(now() + 120)),
            AuthError::TokenNotYetValid,
        ),
        (
            with(good.clone(), "exp", Value::Null),
            AuthError::MalformedToken,
        ),
        (
            with(good.clone(), "exp", json!("tomorrow")),
            AuthError::MalformedToken,
        ),
        (
            with(good.clone(), "sub", Value::Null),
            AuthError::MissingSubject("sub".into()),
        ),
        (
            with(good.clone(), "sub", json!("")),
            AuthError::MissingSubject("sub".into()),
        ),
        (
            with(good.clone(), "sub", json!(42)),
            AuthError::MissingSubject("sub".into()),
        ),
    ];
    for (claims, want) in cases {
        assert_eq!(
            v.validate(&mint(&ec, claims.clone())).await,
            Err(want),
            "{claims}"
        );
    }
    // Within the skew allowance.
    assert!(v
        .validate(&mint(&ec, with(good.clone(), "exp", json!(now() - 5))))
        .await
        .is_ok());
    assert!(v
        .validate(&mint(&ec, with(good.clone(), "nbf", json!(now() + 5))))
        .await
        .is_ok());
}

#[tokio::test]
async fn custom_subject_claim() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    let v = validator(&issuer, |c| c.subject_claim = "client_id".into());
    let claims = with(good_claims(&issuer), "client_id", json!("svc-orders"));
    assert_eq!(
        v.validate(&mint(&ec, claims)).await.unwrap().name,
        "svc-orders"
    );
    let err = v
        .validate(&mint(&ec, good_claims(&issuer)))
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::MissingSubject("client_id".into()));
    assert_eq!(
        err.to_string(),
        "authentication failed: token has no 'client_id' claim"
    );
}

#[tokio::test]
async fn signed_with_a_different_key() {
    let (p, issuer) = start_provider().await;
    let published = ec_key("k");
    publish(&p, &[&published]);
    let v = validator(&issuer, |_| {});
    // Same kid, another private key.
    let impostor = ec_key("k");
    assert_eq!(
        v.validate(&mint(&impostor, good_claims(&issuer))).await,
        Err(AuthError::BadSignature)
    );
    // A valid token with its payload swapped.
    let token = mint(&published, good_claims(&issuer));
    let forged =
        URL_SAFE_NO_PAD.encode(with(good_claims(&issuer), "sub", json!("admin")).to_string());
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = &forged;
    assert_eq!(
        v.validate(&parts.join(".")).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn algorithm_checks() {
    let (p, issuer) = start_provider().await;
    let (ec, rsa) = (ec_key("ec"), rsa_key("rsa"));
    publish(&p, &[&ec, &rsa]);
    let v = validator(&issuer, |c| c.allowed_algorithms = vec![Algorithm::RS256]);
    assert_eq!(
        v.validate(&mint(&ec, good_claims(&issuer))).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    // HS256 signed with the RSA modulus as secret (the classic confusion attack).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa".into());
    let hs = jsonwebtoken::encode(
        &header,
        &good_claims(&issuer),
        &EncodingKey::from_secret(RSA_N.as_bytes()),
    )
    .unwrap();
    assert_eq!(v.validate(&hs).await, Err(AuthError::AlgorithmNotAllowed));
    // An RS256 header pointing at the EC key: no RSA key has that kid.
    let v = validator(&issuer, |_| {});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ec".into());
    let t = jsonwebtoken::encode(&header, &good_claims(&issuer), &rsa.encoding).unwrap();
    assert_eq!(v.validate(&t).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn malformed_tokens() {
    let (p, issuer) = start_provider().await;
    publish(&p, &[&ec_key("k")]);
    let v = validator(&issuer, |_| {});
    for bad in ["", "x", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30"] {
        assert_eq!(
            v.validate(bad).await,
            Err(AuthError::MalformedToken),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn key_rotation_refetches_the_jwks() {
    let (p, issuer) = start_provider().await;
    let (old, new) = (ec_key("2024"), rsa_key("2025"));
    publish(&p, &[&old]);
    let v = validator(&issuer, |c| c.jwks_refetch_min_interval_ms = 0);
    assert!(v.validate(&mint(&old, good_claims(&issuer))).await.is_ok());
    assert_eq!(p.jwks_hits.load(Ordering::SeqCst), 1);

    // The provider rotates: only the new key is published.
    publish(&p, &[&new]);
    let principal = v.validate(&mint(&new, good_claims(&issuer))).await.unwrap();
    assert_eq!(principal.name, "alice");
    assert_eq!(p.jwks_hits.load(Ordering::SeqCst), 2);
    // The retired key is gone after the refetch.
    assert_eq!(
        v.validate(&mint(&old, good_claims(&issuer))).await,
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited() {
    let (p, issuer) = start_provider().await;
    let known = ec_key("known");
    publish(&p, &[&known]);
    let v = validator(&issuer, |_| {}); // default: at most one fetch per 10 s
    assert!(v
        .validate(&mint(&known, good_claims(&issuer)))
        .await
        .is_ok());
    for i in 0..20 {
        let stranger = ec_key(&format!("made-up-{i}"));
        assert_eq!(
            v.validate(&mint(&stranger, good_claims(&issuer))).await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(
        p.jwks_hits.load(Ordering::SeqCst),
        1,
        "made-up key ids must not hammer the provider"
    );
}

#[tokio::test]
async fn provider_down() {
    // Nothing listens on this port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let v = validator(&issuer, |c| c.http_timeout_ms = 2000);
    let token = mint(&ec_key("k"), good_claims(&issuer));
    assert_eq!(
        v.validate(&token).await,
        Err(AuthError::ProviderUnavailable)
    );
    // Within the rate limit: fails fast without another attempt.
    assert_eq!(
        v.validate(&token).await,
        Err(AuthError::ProviderUnavailable)
    );
}

#[tokio::test]
async fn provider_errors_then_recovers() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    p.down.store(true, Ordering::SeqCst);
    let v = validator(&issuer, |c| c.jwks_refetch_min_interval_ms = 0);
    let token = mint(&ec, good_claims(&issuer));
    assert_eq!(
        v.validate(&token).await,
        Err(AuthError::ProviderUnavailable)
    );
    p.down.store(false, Ordering::SeqCst);
    assert!(v.validate(&token).await.is_ok());
}

#[tokio::test]
async fn stale_keys_are_used_while_the_provider_is_down() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    let v = validator(&issuer, |c| {
        c.jwks_refresh_interval_seconds = 0; // always due for refresh
        c.jwks_refetch_min_interval_ms = 0;
        c.jwks_url = Some(format!("{issuer}/keys"));
    });
    let token = mint(&ec, good_claims(&issuer));
    assert!(v.validate(&token).await.is_ok());
    p.down.store(true, Ordering::SeqCst);
    assert!(v.validate(&token).await.is_ok());
    assert!(
        p.jwks_hits.load(Ordering::SeqCst) >= 2,
        "a refresh was attempted"
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    *p.discovery_issuer.lock().unwrap() = Some("https://someone-else.example.com".into());
    let v = validator(&issuer, |_| {});
    assert_eq!(
        v.validate(&mint(&ec, good_claims(&issuer))).await,
        Err(AuthError::ProviderUnavailable)
    );
    assert_eq!(p.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn concurrent_validations_share_one_fetch() {
    let (p, issuer) = start_provider().await;
    let ec = ec_key("k");
    publish(&p, &[&ec]);
    let v = Arc::new(validator(&issuer, |_| {}));
    let token = mint(&ec, good_claims(&issuer));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (v, t) = (v.clone(), token.clone());
            tokio::spawn(async move { v.validate(&t).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(p.jwks_hits.load(Ordering::SeqCst), 1);
}

/// A minimal HTTPS provider: one response per connection, just enough HTTP/1.1 for reqwest.
async fn start_tls_provider(jwks: Value) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(vec![]).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://{}", listener.local_addr().unwrap());
    let iss = issuer.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, iss, jwks) = (acceptor.clone(), iss.clone(), jwks.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = if req.starts_with(b"GET /.well-known/openid-configuration ") {
                    json!({"issuer": iss, "jwks_uri": format!("{iss}/keys")})
                } else {
                    jwks
                }
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (issuer, ca.pem())
}

#[tokio::test]
async fn https_provider_with_private_ca() {
    let ec = ec_key("k");
    let (issuer, ca_pem) = start_tls_provider(json!({"keys": [ec.jwk.clone()]})).await;
    let token = mint(&ec, good_claims(&issuer));

    // Trusting the public web roots only: the private CA is refused.
    let v = validator(&issuer, |_| {});
    assert_eq!(
        v.validate(&token).await,
        Err(AuthError::ProviderUnavailable)
    );

    // With the CA file: discovery and keys over TLS.
    let ca_path =
        std::env::temp_dir().join(format!("gatehouse-auth-test-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_path, ca_pem).unwrap();
    let v = validator(&issuer, |c| c.ca_file = Some(ca_path.display().to_string()));
    let result = v.validate(&token).await;
    std::fs::remove_file(&ca_path).unwrap();
    assert_eq!(result.unwrap().name, "alice");
}
