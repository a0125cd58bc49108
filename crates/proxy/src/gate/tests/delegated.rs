//! Delegated SASL: the exchange goes upstream; the response side reports each step's verdict
//! on a [`Watch`], and the gate acts on it when the client sends its next request.

use gatehouse_auth::{PrincipalKind, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED};

use super::*;

/// The first SCRAM client message (RFC 5802): no channel binding, user and nonce.
fn scram_first(user: &str) -> Vec<u8> {
    format!("n,,n={user},r=fyko+d2lbbFgONRv9qkxdawL").into_bytes()
}

const SCRAM_FINAL: &[u8] =
    b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";

#[tokio::test]
async fn plain_relayed_and_approved_authenticates_the_named_user() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    assert!(c.gate.delegated());
    assert_eq!(c.flags(), UNAUTHENTICATED);

    // The handshake goes upstream; the upstream answers it.
    passed(c.handshake("PLAIN").await);
    assert_eq!(c.flags(), UNAUTHENTICATED);
    passed(c.api_versions().await);

    let watch = watched(c.authenticate(&plain("dave", "secret")).await);
    assert_eq!(
        c.flags(),
        UNAUTHENTICATED,
        "not before the upstream said so"
    );
    watch.report(0, 0);
    // Known once the client sends anything after the answer.
    passed(c.metadata().await);
    assert_eq!(c.offered_names(), ["dave"]);
    assert_eq!(c.offered[0].kind, PrincipalKind::Delegated);
    assert_eq!(c.gate.principal().map(|p| p.name.as_str()), Some("dave"));
    assert_eq!(c.flags(), AUTHENTICATED);
}

#[tokio::test]
async fn a_request_before_the_upstreams_verdict_is_closed() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("PLAIN").await);
    // Forwarded, but the answer (and its verdict) has not come back yet.
    watched(c.authenticate(&plain("dave", "secret")).await);
    assert!(closed(c.metadata().await).contains("before SASL authentication"));
    assert!(c.offered.is_empty());
}

#[tokio::test]
async fn an_upstream_refusal_closes_the_connection() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "wrong")).await).report(SASL_AUTHENTICATION_FAILED, 0);
    let why = closed(c.metadata().await);
    assert!(why.contains("upstream refused PLAIN"), "{why}");
    assert!(c.offered.is_empty());
    assert_eq!(c.flags(), UNAUTHENTICATED);
}

#[tokio::test]
async fn scram_takes_two_steps() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("SCRAM-SHA-256").await);
    watched(c.authenticate(&scram_first("erin")).await).report(0, 0);
    // The first step's success is not the end of the exchange.
    let second = watched(c.authenticate(SCRAM_FINAL).await);
    assert_eq!(c.flags(), UNAUTHENTICATED);
    assert!(c.offered.is_empty());
    second.report(0, 0);
    passed(c.metadata().await);
    assert_eq!(
        c.offered_names(),
        ["erin"],
        "the user named in the first step"
    );
    assert_eq!(c.flags(), AUTHENTICATED);
}

#[tokio::test]
async fn a_scram_step_refused_before_completion_closes() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("SCRAM-SHA-512").await);
    watched(c.authenticate(&scram_first("erin")).await).report(SASL_AUTHENTICATION_FAILED, 0);
    let why = closed(c.authenticate(SCRAM_FINAL).await);
    assert!(why.contains("SCRAM-SHA-512"), "{why}");
    assert!(c.offered.is_empty());
}

#[tokio::test]
async fn oauthbearer_names_the_tokens_subject() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("OAUTHBEARER").await);
    let bearer = jwt(r#"{"sub":"frank","aud":"kafka"}"#);
    watched(c.authenticate(&oauthbearer(&bearer)).await).report(0, 0);
    passed(c.metadata().await);
    assert_eq!(c.offered_names(), ["frank"]);
}

#[tokio::test]
async fn a_principal_the_session_refuses_closes_the_connection() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    c.refusal = Some("principal 'dave' is not mapped to a virtual cluster".into());
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 0);
    // The client already has the upstream's answer; all that is left is to hang up.
    let why = closed(c.metadata().await);
    assert_eq!(why, "principal 'dave' is not mapped to a virtual cluster");
    assert_eq!(c.offered_names(), ["dave"]);
    assert!(c.gate.principal().is_none());
}

#[tokio::test]
async fn a_mechanism_the_gateway_does_not_know_is_left_to_the_upstream() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    // Passed on for the upstream to refuse in its own words; the exchange did not start.
    passed(c.handshake("GSSAPI").await);
    let (frame, _) = answer_then_close(c.authenticate(b"anything").await);
    assert_eq!(authenticate_answer(frame).error_code, ILLEGAL_SASL_STATE);
}

/// A delegated re-authentication renews the session of the same user and may not switch to
/// another one (the upstream would accept either: it checks only the credentials).
#[tokio::test]
async fn a_delegated_reauthentication_must_name_the_same_user() {
    let gw = gateway(None);
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 0);
    passed(c.metadata().await);
    assert_eq!(c.flags(), AUTHENTICATED);

    // The same user again: renewed.
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 0);
    passed(c.metadata().await);
    assert_eq!(c.offered_names(), ["dave", "dave"]);

    // Another user: closed, and never offered to the session.
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("erin", "secret")).await).report(0, 0);
    let why = closed(c.metadata().await);
    assert!(
        why.contains("same principal") && why.contains("erin"),
        "{why}"
    );
    assert_eq!(c.offered_names(), ["dave", "dave"]);
}
