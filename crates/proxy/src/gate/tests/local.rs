//! Local SASL (the gateway answers the exchange) and routes without SASL.

use std::time::Duration;

use gatehouse_auth::oauth::{OAuthConfig, OAuthValidator};
use gatehouse_auth::sasl::Mechanism;
use gatehouse_auth::tokens::TokenKey;
use gatehouse_auth::{
    Principal, PrincipalKind, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED,
    UNSUPPORTED_SASL_MECHANISM,
};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::ResponseHeader;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn plain_with_a_gateway_token_hands_the_principal_to_the_session() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    assert_eq!(c.flags(), UNAUTHENTICATED);
    assert!(!c.gate.passes_unread(ApiKey::ApiVersions));

    let shook = handshake_answer(answer(c.handshake("PLAIN").await));
    assert_eq!(shook.error_code, 0);
    let offered: Vec<String> = shook.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN"]);
    assert_eq!(
        c.flags(),
        UNAUTHENTICATED,
        "a handshake is not authentication"
    );
    assert!(c.offered.is_empty());

    let alice = token("alice", Some("vc-a"), HOUR);
    let frame = answer(c.authenticate(&plain("alice", &alice)).await);
    let (header, answered): (
        ResponseHeader,
        kafka_protocol::messages::SaslAuthenticateResponse,
    ) = decode_response(&frame, ApiKey::SaslAuthenticate, AUTHENTICATE_VERSION).unwrap();
    assert_eq!(header.correlation_id, c.correlation_id);
    assert_eq!(answered.error_code, 0);
    assert!(answered.session_lifetime_ms > 0 && answered.session_lifetime_ms <= 3_600_000);

    // The session was asked about the principal the token names, vcluster claim and all.
    assert_eq!(c.offered.len(), 1);
    let p = &c.offered[0];
    assert_eq!(
        (p.name.as_str(), p.kind, p.vcluster_hint.as_deref()),
        ("alice", PrincipalKind::LocalToken, Some("vc-a"))
    );
    assert_eq!(c.gate.principal().map(|p| p.name.as_str()), Some("alice"));
    assert_eq!(c.flags(), AUTHENTICATED);
    assert!(!c.gate.passes_unread(ApiKey::SaslHandshake));
    assert!(!c.gate.passes_unread(ApiKey::SaslAuthenticate));
    passed(c.metadata().await);
}

#[tokio::test]
async fn a_mechanism_the_route_does_not_offer_is_refused_with_the_list() {
    let gw = gateway(None);
    for requested in ["SCRAM-SHA-256", "GSSAPI"] {
        let mut c = Client::new(&gw, plain_route());
        let (frame, why) = answer_then_close(c.handshake(requested).await);
        let shook = handshake_answer(frame);
        assert_eq!(shook.error_code, UNSUPPORTED_SASL_MECHANISM, "{requested}");
        let offered: Vec<String> = shook.mechanisms.iter().map(|m| m.to_string()).collect();
        assert_eq!(offered, ["PLAIN"]);
        assert!(why.contains(requested), "{why}");
    }
}

#[tokio::test]
async fn authenticate_before_handshake_is_an_illegal_state() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    let alice = token("alice", None, HOUR);
    let (frame, _) = answer_then_close(c.authenticate(&plain("alice", &alice)).await);
    assert_eq!(authenticate_answer(frame).error_code, ILLEGAL_SASL_STATE);
    assert!(c.offered.is_empty());
}

#[tokio::test]
async fn a_second_handshake_before_authenticate_is_an_illegal_state() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    answer(c.handshake("PLAIN").await);
    let (frame, _) = answer_then_close(c.handshake("PLAIN").await);
    assert_eq!(handshake_answer(frame).error_code, ILLEGAL_SASL_STATE);
}

#[tokio::test]
async fn bad_tokens_fail_and_the_session_is_never_asked() {
    let gw = gateway(None);
    let other_key = TokenKey::from_bytes(b"another secret, also of 32 bytes or more").unwrap();
    let forged = other_key.issue("alice", None, HOUR).unwrap().token;
    let past = std::time::SystemTime::now() - 2 * HOUR;
    let expired = token_key()
        .issue_at("alice", None, HOUR, past)
        .unwrap()
        .token;
    let bobs = token("bob", None, HOUR);
    for (case, password) in [
        ("not a token", "hunter2".to_string()),
        ("signed by another key", forged),
        ("expired", expired),
        ("issued to another user", bobs),
    ] {
        let mut c = Client::new(&gw, plain_route());
        answer(c.handshake("PLAIN").await);
        let (frame, why) = answer_then_close(c.authenticate(&plain("alice", &password)).await);
        let answered = authenticate_answer(frame);
        assert_eq!(answered.error_code, SASL_AUTHENTICATION_FAILED, "{case}");
        assert!(
            !message(&answered).is_empty(),
            "{case}: the client is told why"
        );
        assert!(why.starts_with("authentication failed"), "{case}: {why}");
        assert!(c.offered.is_empty(), "{case}");
        assert_eq!(c.flags(), UNAUTHENTICATED, "{case}");
    }
}

#[tokio::test]
async fn a_principal_the_session_refuses_fails_with_its_reason() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    c.refusal = Some("principal 'alice' belongs to virtual cluster 'a', not 'b'".into());
    answer(c.handshake("PLAIN").await);
    let alice = token("alice", Some("a"), HOUR);
    let (frame, why) = answer_then_close(c.authenticate(&plain("alice", &alice)).await);
    let answered = authenticate_answer(frame);
    assert_eq!(answered.error_code, SASL_AUTHENTICATION_FAILED);
    assert_eq!(
        message(&answered),
        "principal 'alice' belongs to virtual cluster 'a', not 'b'"
    );
    assert!(why.contains("belongs to virtual cluster 'a'"), "{why}");
    assert_eq!(c.offered_names(), ["alice"]);
    assert_eq!(c.flags(), UNAUTHENTICATED);
    assert!(c.gate.principal().is_none());
}

#[tokio::test]
async fn requests_before_authentication_close_the_connection() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    assert!(closed(c.metadata().await).contains("before SASL authentication"));

    let mut c = Client::new(&gw, plain_route());
    answer(c.handshake("PLAIN").await);
    assert!(closed(c.metadata().await).contains("before SASL authentication"));
}

#[tokio::test]
async fn api_versions_passes_in_every_state() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    passed(c.api_versions().await);
    answer(c.handshake("PLAIN").await);
    passed(c.api_versions().await);
    assert_eq!(c.flags(), UNAUTHENTICATED);
    let alice = token("alice", None, HOUR);
    answer(c.authenticate(&plain("alice", &alice)).await);
    passed(c.api_versions().await);
    assert_eq!(c.flags(), AUTHENTICATED);
}

#[tokio::test]
async fn a_route_without_sasl_passes_everything_but_sasl() {
    let gw = gateway(None);
    let cert = Principal::new("CN=svc", PrincipalKind::MtlsSubject);
    let mut c = Client::from(&gw, RouteSecurity::plaintext(), Some(cert));
    assert!(c.gate.is_open());
    assert_eq!(c.flags(), AUTHENTICATED);
    assert_eq!(c.gate.principal().map(|p| p.name.as_str()), Some("CN=svc"));
    passed(c.api_versions().await);
    passed(c.metadata().await);
    assert!(closed(c.handshake("PLAIN").await).contains("without SASL"));
    assert!(
        c.offered.is_empty(),
        "the transport's principal is the session's business"
    );
}

#[tokio::test]
async fn reauthentication_with_the_same_principal_is_accepted() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    c.log_in(&token("alice", None, HOUR), "alice").await;

    answer(c.handshake("PLAIN").await);
    // A re-authentication in progress does not undo the first.
    assert!(c.gate.has_authenticated());
    assert!(!c.gate.passes_unread(ApiKey::Metadata));
    let again = authenticate_answer(answer(
        c.authenticate(&plain("alice", &token("alice", None, HOUR)))
            .await,
    ));
    assert_eq!(again.error_code, 0);
    assert_eq!(c.offered_names(), ["alice", "alice"]);
    assert_eq!(c.flags(), AUTHENTICATED);
    passed(c.metadata().await);
}

#[tokio::test]
async fn reauthentication_as_someone_else_is_refused() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    c.log_in(&token("alice", None, HOUR), "alice").await;
    answer(c.handshake("PLAIN").await);
    let bob = token("bob", None, HOUR);
    let (frame, _) = answer_then_close(c.authenticate(&plain("bob", &bob)).await);
    let answered = authenticate_answer(frame);
    assert_eq!(answered.error_code, SASL_AUTHENTICATION_FAILED);
    assert!(message(&answered).contains("same principal"));
    assert_eq!(
        c.offered_names(),
        ["alice"],
        "bob is never offered to the session"
    );
    assert_eq!(c.gate.principal().map(|p| p.name.as_str()), Some("alice"));
}

/// A validator whose keys would come from an address nothing listens on: the checks before
/// a key is needed (the token's form, its algorithm) run without the network. Accepting a
/// valid token needs a JWKS served over HTTP, which the auth crate has no helper for.
fn unreachable_provider() -> OAuthValidator {
    let mut config = OAuthConfig::new("https://idp.invalid", vec!["gatehouse".into()]);
    config.jwks_url = Some("http://127.0.0.1:9/keys".into());
    OAuthValidator::new(config).unwrap()
}

#[tokio::test]
async fn oauthbearer_tokens_the_gateway_cannot_accept_fail() {
    let gw = gateway(None);
    let symmetric = format!(
        "{}.e30.c2ln",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"HS256"}"#
        )
    );
    for (case, provider, bearer) in [
        ("no provider configured", None, jwt(r#"{"sub":"carol"}"#)),
        (
            "malformed token",
            Some(unreachable_provider()),
            "abc".into(),
        ),
        (
            "algorithm not allowed",
            Some(unreachable_provider()),
            symmetric,
        ),
    ] {
        let route = local_route(&[Mechanism::OAuthBearer], provider, None);
        let mut c = Client::new(&gw, route);
        assert_eq!(
            handshake_answer(answer(c.handshake("OAUTHBEARER").await)).error_code,
            0
        );
        let (frame, _) = answer_then_close(c.authenticate(&oauthbearer(&bearer)).await);
        assert_eq!(
            authenticate_answer(frame).error_code,
            SASL_AUTHENTICATION_FAILED,
            "{case}"
        );
        assert!(c.offered.is_empty(), "{case}");
    }
}

#[tokio::test]
async fn a_malformed_plain_message_fails() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    answer(c.handshake("PLAIN").await);
    // Two fields instead of three: a SASL error, answered.
    let (frame, _) = answer_then_close(c.authenticate(b"\0alice").await);
    let code = authenticate_answer(frame).error_code;
    assert_eq!(code, SASL_AUTHENTICATION_FAILED);
}

#[tokio::test]
async fn a_sasl_frame_that_does_not_decode_closes_the_connection() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, plain_route());
    // A SaslAuthenticate header over an empty body (ApiVersions v2 has no fields).
    let empty = kafka_protocol::messages::ApiVersionsRequest::default();
    let why = closed(c.send(ApiKey::SaslAuthenticate, 2, &empty).await);
    assert!(why.starts_with("SaslAuthenticate:"), "{why}");
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_from_one_address_are_answered_slowly() {
    let gw = gateway(None);
    let mut elapsed = Vec::new();
    for _ in 0..7 {
        let mut c = Client::new(&gw, plain_route());
        answer(c.handshake("PLAIN").await);
        let started = tokio::time::Instant::now();
        answer_then_close(c.authenticate(&plain("alice", "wrong")).await);
        elapsed.push(started.elapsed());
    }
    // Five failures a minute are answered at once; from the sixth on, each waits a second.
    assert!(elapsed[..5].iter().all(|e| e.is_zero()), "{elapsed:?}");
    assert!(
        elapsed[5..].iter().all(|e| *e >= Duration::from_secs(1)),
        "{elapsed:?}"
    );
}
