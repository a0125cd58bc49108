//! The gate's states driven with encoded request frames and no network: a [`Client`] plays
//! one connection against a gateway built in memory, and the session's `accept` is a stub that
//! records the principals offered to it and refuses them when told to.

mod delegated;
mod lifetime;
mod local;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, RequestHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_auth::listener::{LocalSasl, RouteSecurity, Sasl, SecurityProtocol};
use gatehouse_auth::oauth::OAuthValidator;
use gatehouse_auth::sasl::Mechanism;
use gatehouse_auth::tokens::TokenKey;
use gatehouse_auth::Principal;
use gatehouse_protocol::codec::{decode_response, encode_request};
use gatehouse_routing::Topology;

use super::{Gate, Request, Verdict, Watch};
use crate::{AuthSettings, ConnectionLimits, Gateway};

const SECRET: &[u8] = b"the gate tests' token secret, 32+ bytes long";
const HANDSHAKE_VERSION: i16 = 1;
const AUTHENTICATE_VERSION: i16 = 2;

fn token_key() -> TokenKey {
    TokenKey::from_bytes(SECRET).expect("a long enough secret")
}

/// A gateway that verifies tokens signed with [`SECRET`], with an optional gateway-wide bound
/// on SASL sessions.
fn gateway(max_session_lifetime: Option<Duration>) -> Arc<Gateway> {
    let auth = AuthSettings {
        token_key: Some(Arc::new(token_key())),
        mandatory_virtual_cluster: false,
        max_session_lifetime,
    };
    Gateway::with_security(
        Topology::default(),
        ConnectionLimits::default(),
        BTreeMap::new(),
        auth,
    )
}

fn local_route(
    mechanisms: &[Mechanism],
    oauth: Option<OAuthValidator>,
    max_session_lifetime: Option<Duration>,
) -> RouteSecurity {
    RouteSecurity {
        protocol: SecurityProtocol::SaslPlaintext,
        tls: None,
        sasl: Some(Sasl::Local(LocalSasl {
            mechanisms: mechanisms.to_vec(),
            oauth: oauth.map(Arc::new),
        })),
        max_session_lifetime,
    }
}

fn plain_route() -> RouteSecurity {
    local_route(&[Mechanism::Plain], None, None)
}

fn delegated_route(max_session_lifetime: Option<Duration>) -> RouteSecurity {
    RouteSecurity {
        protocol: SecurityProtocol::DelegatedSaslPlaintext,
        tls: None,
        sasl: Some(Sasl::Delegated),
        max_session_lifetime,
    }
}

/// A gateway token for `user`, valid for `lifetime`.
fn token(user: &str, vcluster: Option<&str>, lifetime: Duration) -> String {
    token_key().issue(user, vcluster, lifetime).unwrap().token
}

/// SASL/PLAIN's message: `authzid NUL authcid NUL password`, authzid empty.
fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// OAUTHBEARER's initial client response (RFC 7628).
fn oauthbearer(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// An unsigned JWT whose payload is `claims` (what a delegated exchange reads, unverified).
fn jwt(claims: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims)
    )
}

/// One client connection against a gate.
struct Client {
    gateway: Arc<Gateway>,
    gate: Gate,
    /// Every principal the gate offered the session, in order.
    offered: Vec<Principal>,
    /// The session's refusal, when it refuses.
    refusal: Option<String>,
    correlation_id: i32,
}

impl Client {
    fn new(gateway: &Arc<Gateway>, security: RouteSecurity) -> Self {
        Self::from(gateway, security, None)
    }

    /// A client whose transport already named it (an mTLS certificate).
    fn from(gateway: &Arc<Gateway>, security: RouteSecurity, tls: Option<Principal>) -> Self {
        Self {
            gateway: gateway.clone(),
            gate: Gate::new(Arc::new(security), tls, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            offered: Vec::new(),
            refusal: None,
            correlation_id: 0,
        }
    }

    async fn send<T: Encodable>(&mut self, key: ApiKey, version: i16, body: &T) -> Verdict {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("gate-test")));
        let frame = encode_request(&header, body).expect("a test request encodes");
        let request = Request {
            key,
            version,
            correlation_id: self.correlation_id,
            frame: &frame,
        };
        let (offered, refusal) = (&mut self.offered, &self.refusal);
        self.gate
            .check(&self.gateway, request, &mut |p| {
                offered.push(p.clone());
                refusal.clone().map_or(Ok(()), Err)
            })
            .await
    }

    async fn handshake(&mut self, mechanism: &str) -> Verdict {
        let body = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(mechanism.to_string()));
        self.send(ApiKey::SaslHandshake, HANDSHAKE_VERSION, &body)
            .await
    }

    async fn authenticate(&mut self, auth_bytes: &[u8]) -> Verdict {
        let body =
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(auth_bytes));
        self.send(ApiKey::SaslAuthenticate, AUTHENTICATE_VERSION, &body)
            .await
    }

    async fn metadata(&mut self) -> Verdict {
        self.send(ApiKey::Metadata, 12, &MetadataRequest::default())
            .await
    }

    async fn api_versions(&mut self) -> Verdict {
        self.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await
    }

    /// A local PLAIN exchange with a gateway token, which must succeed; returns the answer.
    async fn log_in(&mut self, token: &str, user: &str) -> SaslAuthenticateResponse {
        let shook = handshake_answer(answer(self.handshake("PLAIN").await));
        assert_eq!(shook.error_code, 0);
        let answered = authenticate_answer(answer(self.authenticate(&plain(user, token)).await));
        assert_eq!(answered.error_code, 0, "{:?}", answered.error_message);
        answered
    }

    /// The gate's view of the connection, as the request pump asks it.
    fn flags(&self) -> Flags {
        Flags {
            has_authenticated: self.gate.has_authenticated(),
            answers_api_versions: self.gate.answers_api_versions(),
            metadata_passes_unread: self.gate.passes_unread(ApiKey::Metadata),
        }
    }

    fn offered_names(&self) -> Vec<&str> {
        self.offered.iter().map(|p| p.name.as_str()).collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Flags {
    has_authenticated: bool,
    answers_api_versions: bool,
    metadata_passes_unread: bool,
}

/// Before the client authenticated: the gateway answers ApiVersions, nothing passes unread.
const UNAUTHENTICATED: Flags = Flags {
    has_authenticated: false,
    answers_api_versions: true,
    metadata_passes_unread: false,
};

/// Authenticated (or no SASL): ApiVersions goes upstream, other requests pass unread.
const AUTHENTICATED: Flags = Flags {
    has_authenticated: true,
    answers_api_versions: false,
    metadata_passes_unread: true,
};

fn answer(verdict: Verdict) -> Bytes {
    match verdict {
        Verdict::Answer(b) => b,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// The answer and the reason of a verdict that answers and then closes.
fn answer_then_close(verdict: Verdict) -> (Bytes, String) {
    match verdict {
        Verdict::AnswerThenClose(b, why) => (b, why),
        other => panic!("expected an answer then close, got {other:?}"),
    }
}

fn closed(verdict: Verdict) -> String {
    match verdict {
        Verdict::Close(why) => why,
        other => panic!("expected the connection closed, got {other:?}"),
    }
}

fn passed(verdict: Verdict) {
    assert!(
        matches!(verdict, Verdict::Pass),
        "expected Pass, got {verdict:?}"
    );
}

fn watched(verdict: Verdict) -> Watch {
    match verdict {
        Verdict::ForwardWatched(w) => w,
        other => panic!("expected a watched forward, got {other:?}"),
    }
}

fn decode<T: Decodable>(frame: &Bytes, key: ApiKey, version: i16) -> T {
    decode_response::<T>(frame, key, version)
        .expect("the gate's answer decodes")
        .1
}

fn handshake_answer(frame: Bytes) -> SaslHandshakeResponse {
    decode(&frame, ApiKey::SaslHandshake, HANDSHAKE_VERSION)
}

fn authenticate_answer(frame: Bytes) -> SaslAuthenticateResponse {
    decode(&frame, ApiKey::SaslAuthenticate, AUTHENTICATE_VERSION)
}

fn message(answer: &SaslAuthenticateResponse) -> String {
    answer
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default()
}
