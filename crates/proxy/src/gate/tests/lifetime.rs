//! KIP-368: the session lifetime told to the client, and what happens when it runs out.

use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

/// The lifetime a local PLAIN login is told, for a token valid `token_for` on a route bounded
/// by `route_max` in a gateway bounded by `gateway_max`.
async fn lifetime_told(
    token_for: Duration,
    route_max: Option<Duration>,
    gateway_max: Option<Duration>,
) -> i64 {
    let gw = gateway(gateway_max);
    let mut c = Client::new(&gw, local_route(&[Mechanism::Plain], None, route_max));
    c.log_in(&token("alice", None, token_for), "alice")
        .await
        .session_lifetime_ms
}

#[tokio::test]
async fn the_lifetime_told_is_the_smallest_bound() {
    let secs = |s| Some(Duration::from_secs(s));
    // The gateway's bound is the smallest.
    assert_eq!(lifetime_told(HOUR, secs(120), secs(60)).await, 60_000);
    // The route's.
    assert_eq!(lifetime_told(HOUR, secs(30), secs(60)).await, 30_000);
    assert_eq!(lifetime_told(HOUR, secs(30), None).await, 30_000);
    // The token's expiry (whole seconds, counted from its issue: at most 10 s, a little less
    // by the time it is checked).
    let token_bound = lifetime_told(Duration::from_secs(10), secs(120), secs(60)).await;
    assert!((8_000..=10_000).contains(&token_bound), "{token_bound}");
    // No bound but the token's.
    let unbounded = lifetime_told(HOUR, None, None).await;
    assert!((3_598_000..=3_600_000).contains(&unbounded), "{unbounded}");
}

/// Polls (briefly) until the gate says the session ran out; the bound is generous, the wait
/// is the session's few milliseconds.
fn wait_for_expiry(c: &Client) {
    let give_up = Instant::now() + Duration::from_secs(5);
    while c.gate.passes_unread(ApiKey::Metadata) {
        assert!(Instant::now() < give_up, "the session never expired");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test]
async fn an_expired_session_is_closed_at_the_next_request() {
    let gw = gateway(None);
    let route = local_route(&[Mechanism::Plain], None, Some(Duration::from_millis(20)));
    let mut c = Client::new(&gw, route);
    let told = c.log_in(&token("alice", None, HOUR), "alice").await;
    assert_eq!(told.session_lifetime_ms, 20);
    assert!(c.gate.passes_unread(ApiKey::Metadata));

    wait_for_expiry(&c);
    // Still authenticated as far as the frame limits go; the gate decides on the whole frame.
    assert!(c.gate.has_authenticated());
    assert!(!c.gate.answers_api_versions());
    let why = closed(c.metadata().await);
    assert!(why.contains("expired"), "{why}");
}

#[tokio::test]
async fn reauthenticating_in_time_renews_the_session() {
    let gw = gateway(None);
    let route = local_route(&[Mechanism::Plain], None, Some(Duration::from_millis(20)));
    let mut c = Client::new(&gw, route);
    c.log_in(&token("alice", None, HOUR), "alice").await;
    wait_for_expiry(&c);
    // An expired session may still re-authenticate (ApiVersions and SASL are judged first).
    passed(c.api_versions().await);
    let renewed = c.log_in(&token("alice", None, HOUR), "alice").await;
    assert_eq!(renewed.session_lifetime_ms, 20);
    assert!(c.gate.passes_unread(ApiKey::Metadata));
    passed(c.metadata().await);
}

#[tokio::test]
async fn a_delegated_session_ends_with_the_upstreams_lifetime_or_the_routes() {
    let gw = gateway(None);
    // The upstream's lifetime is the smaller bound.
    let mut c = Client::new(&gw, delegated_route(Some(HOUR)));
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 20);
    passed(c.metadata().await);
    wait_for_expiry(&c);
    assert!(closed(c.metadata().await).contains("expired"));

    // The route's, when the upstream sets none (0).
    let mut c = Client::new(&gw, delegated_route(Some(Duration::from_millis(20))));
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 0);
    passed(c.metadata().await);
    wait_for_expiry(&c);
    assert!(closed(c.metadata().await).contains("expired"));

    // Neither: the session does not expire.
    let mut c = Client::new(&gw, delegated_route(None));
    passed(c.handshake("PLAIN").await);
    watched(c.authenticate(&plain("dave", "secret")).await).report(0, 0);
    passed(c.metadata().await);
    assert!(c.gate.deadline.is_none());
}
