//! The authentication gate: the first stage of a connection's request path.
//!
//! On a SASL route nothing but ApiVersions and the SASL exchange passes until the client is
//! authenticated; the exchange is answered here (local SASL: gateway tokens over PLAIN, OIDC
//! tokens over OAUTHBEARER) or relayed to the upstream, whose verdict is watched (delegated
//! SASL). The gate only authenticates: the principal it establishes is handed to the session,
//! which says whether it may be served (it binds it to a virtual cluster); a refusal fails the
//! authentication like a bad credential. KIP-368: the session lifetime told to the client is
//! the smallest of the credential's expiry, the route's maximum and the gateway's; a client
//! that has not re-authenticated by then is disconnected at its next request, and
//! re-authentication must present the same principal.

mod relay;
#[cfg(test)]
mod tests;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use gatehouse_auth::listener::{RouteSecurity, Sasl};
use gatehouse_auth::sasl::Mechanism;
use gatehouse_auth::{AuthError, Principal, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED};
use gatehouse_protocol::codec::{decode_request, encode_response};
use gatehouse_routing::metrics::metrics;

pub(crate) use relay::Watch;

use crate::Gateway;

/// The session's say on a principal the gate authenticated: `Err(reason)` refuses it (the
/// client is then answered SASL_AUTHENTICATION_FAILED with the reason, or, for a relayed
/// exchange whose answer came from the upstream, disconnected).
pub(crate) type Accept<'a> = dyn FnMut(&Principal) -> Result<(), String> + Send + 'a;

/// What the request pump does with a request after the gate saw it.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Not the gate's business (or allowed): on down the pipeline.
    Pass,
    /// Answered by the gate.
    Answer(Bytes),
    /// Answered by the gate, then the connection ends (failed authentication).
    AnswerThenClose(Bytes, String),
    /// The connection ends without an answer (as a broker does for a request out of turn).
    Close(String),
    /// Delegated SASL: forward it, and let the response side report the upstream's verdict.
    ForwardWatched(Watch),
}

enum State {
    /// No SASL on this route: the connection is what TLS (or nothing) made it.
    Open,
    AwaitHandshake,
    AwaitAuthenticate(Mechanism),
    /// Delegated: steps relayed so far, the principal named in the first, the last step's watch.
    Relaying {
        mechanism: Mechanism,
        steps: u8,
        name: Option<String>,
        watch: Option<Watch>,
    },
    Authenticated,
}

/// A request as the gate sees it: its header fields and the whole frame (length prefix
/// included), decoded only if it is part of the SASL exchange.
pub(crate) struct Request<'a> {
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub frame: &'a Bytes,
}

pub(crate) struct Gate {
    security: Arc<RouteSecurity>,
    state: State,
    /// Who the client is: from its certificate (mTLS) or its SASL exchange.
    principal: Option<Principal>,
    /// KIP-368: when the session ends unless the client re-authenticates.
    deadline: Option<Instant>,
    /// Whether a SASL exchange started while authenticated is a re-authentication.
    reauthenticating: bool,
    peer: std::net::IpAddr,
}

/// Failures from one address within a minute before answers slow down.
const REPEATED_FAILURES: u32 = 5;
const FAILURE_DELAY: Duration = Duration::from_secs(1);

fn respond<T: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &T) -> Bytes {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_response(&header, body, key, version).expect("SASL responses always encode")
}

fn authenticate_error(version: i16, correlation_id: i32, code: i16, message: String) -> Bytes {
    respond(
        ApiKey::SaslAuthenticate,
        version,
        correlation_id,
        &SaslAuthenticateResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message))),
    )
}

impl Gate {
    pub fn new(
        security: Arc<RouteSecurity>,
        tls_principal: Option<Principal>,
        peer: std::net::IpAddr,
    ) -> Self {
        let state = if security.sasl.is_some() {
            State::AwaitHandshake
        } else {
            State::Open
        };
        Self {
            security,
            state,
            principal: tls_principal,
            deadline: None,
            reauthenticating: false,
            peer,
        }
    }

    /// Whether ApiVersions must be answered by the gateway: before SASL authentication nothing
    /// a client sends reaches the upstream.
    pub fn answers_api_versions(&self) -> bool {
        !matches!(self.state, State::Open | State::Authenticated)
    }

    /// Whether the client's own SASL exchange is relayed to the upstream (delegated SASL).
    pub fn delegated(&self) -> bool {
        matches!(self.security.sasl, Some(Sasl::Delegated))
    }

    /// Whether the route has no SASL: the connection is what its transport made it.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Whether the client has authenticated once (or needs not: no SASL on the route). A
    /// re-authentication in progress does not undo it.
    pub fn has_authenticated(&self) -> bool {
        matches!(self.state, State::Open | State::Authenticated) || self.reauthenticating
    }

    /// Whether a request of `key` would pass [`Gate::check`] without the gate reading its frame
    /// or changing state, so it may be forwarded before all of it has arrived. False whenever
    /// the gate has something to decide: SASL keys, an exchange in progress, an expired
    /// session (the request then goes through `check` whole).
    pub fn passes_unread(&self, key: ApiKey) -> bool {
        let sasl = matches!(
            key,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        );
        !sasl
            && match self.state {
                State::Open => true,
                State::Authenticated => !self.expired(),
                _ => false,
            }
    }

    /// Whether the SASL session's lifetime (KIP-368) has run out.
    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The principal the connection is bound by, once known (for the log and policies).
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Judges one request. A principal the request establishes (or a relayed exchange the
    /// upstream approved) is offered to `accept` before the client is told it authenticated.
    pub async fn check(
        &mut self,
        gateway: &Gateway,
        request: Request<'_>,
        accept: &mut Accept<'_>,
    ) -> Verdict {
        let Request {
            key,
            version,
            correlation_id,
            frame,
        } = request;
        // A relayed exchange's outcome is known once the client sends anything after it.
        if let State::Relaying { .. } = self.state {
            if let Some(v) = self.relay_outcome(gateway, accept) {
                return v;
            }
        }
        match key {
            ApiKey::ApiVersions => Verdict::Pass,
            ApiKey::SaslHandshake => self.handshake(version, correlation_id, frame),
            ApiKey::SaslAuthenticate => {
                self.authenticate(gateway, accept, version, correlation_id, frame)
                    .await
            }
            _ => match self.state {
                State::Open => Verdict::Pass,
                State::Authenticated if self.expired() => {
                    metrics().client_protocol_error("session_expired");
                    Verdict::Close(
                        "the SASL session expired and the client did not re-authenticate".into(),
                    )
                }
                State::Authenticated => Verdict::Pass,
                _ => {
                    metrics().client_protocol_error("unauthenticated");
                    Verdict::Close(format!(
                        "{key:?} before SASL authentication completed (only ApiVersions, \
                         SaslHandshake and SaslAuthenticate are accepted first)"
                    ))
                }
            },
        }
    }

    fn handshake(&mut self, version: i16, correlation_id: i32, frame: &Bytes) -> Verdict {
        let Some(sasl) = &self.security.sasl else {
            return Verdict::Close("SaslHandshake on a route without SASL".into());
        };
        match self.state {
            State::AwaitHandshake => {}
            State::Authenticated => self.reauthenticating = true,
            _ => {
                return Verdict::AnswerThenClose(
                    respond(
                        ApiKey::SaslHandshake,
                        version,
                        correlation_id,
                        &SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE),
                    ),
                    "SaslHandshake in the middle of a SASL exchange".into(),
                )
            }
        }
        let requested = match decode_request::<SaslHandshakeRequest>(frame) {
            Ok((_, r)) => r.mechanism,
            Err(e) => return Verdict::Close(format!("SaslHandshake: {e}")),
        };
        match sasl {
            Sasl::Delegated => {
                let Ok(mechanism) = Mechanism::from_name(&requested) else {
                    return Verdict::Pass; // the upstream refuses it in its own words
                };
                self.state = State::Relaying {
                    mechanism,
                    steps: 0,
                    name: None,
                    watch: None,
                };
                Verdict::Pass
            }
            Sasl::Local(local) => {
                let offered: Vec<StrBytes> = local
                    .mechanisms
                    .iter()
                    .map(|m| StrBytes::from_static_str(m.name()))
                    .collect();
                let chosen = Mechanism::from_name(&requested)
                    .ok()
                    .filter(|m| local.mechanisms.contains(m));
                let body = SaslHandshakeResponse::default().with_mechanisms(offered);
                match chosen {
                    Some(m) => {
                        self.state = State::AwaitAuthenticate(m);
                        Verdict::Answer(respond(
                            ApiKey::SaslHandshake,
                            version,
                            correlation_id,
                            &body,
                        ))
                    }
                    None => {
                        let err = AuthError::unsupported_mechanism(&requested);
                        Verdict::AnswerThenClose(
                            respond(
                                ApiKey::SaslHandshake,
                                version,
                                correlation_id,
                                &body.with_error_code(err.kafka_error_code()),
                            ),
                            err.to_string(),
                        )
                    }
                }
            }
        }
    }

    async fn authenticate(
        &mut self,
        gateway: &Gateway,
        accept: &mut Accept<'_>,
        version: i16,
        correlation_id: i32,
        frame: &Bytes,
    ) -> Verdict {
        let auth_bytes = match decode_request::<SaslAuthenticateRequest>(frame) {
            Ok((_, r)) => r.auth_bytes,
            Err(e) => return Verdict::Close(format!("SaslAuthenticate: {e}")),
        };
        let mechanism = match &self.state {
            State::AwaitAuthenticate(m) => *m,
            State::Relaying { .. } => return self.relay_step(&auth_bytes),
            _ => {
                return Verdict::AnswerThenClose(
                    authenticate_error(
                        version,
                        correlation_id,
                        ILLEGAL_SASL_STATE,
                        "SaslAuthenticate before a successful SaslHandshake".into(),
                    ),
                    "SaslAuthenticate before SaslHandshake".into(),
                )
            }
        };
        let Some(Sasl::Local(local)) = &self.security.sasl else {
            unreachable!("AwaitAuthenticate is only entered on local SASL routes");
        };
        let verified = verify::verify(gateway, local, mechanism, &auth_bytes).await;
        let principal = match verified {
            Ok(p) => p,
            Err(e) => {
                return self
                    .fail(
                        gateway,
                        version,
                        correlation_id,
                        e.kafka_error_code(),
                        e.to_string(),
                    )
                    .await
            }
        };
        let same_principal = !self.reauthenticating
            || self
                .principal
                .as_ref()
                .is_none_or(|old| old.name == principal.name);
        let accepted = if same_principal {
            accept(&principal)
        } else {
            Err("re-authentication must present the same principal".to_string())
        };
        if let Err(why) = accepted {
            return self
                .fail(
                    gateway,
                    version,
                    correlation_id,
                    SASL_AUTHENTICATION_FAILED,
                    why,
                )
                .await;
        }
        let lifetime = self.start_session(gateway, &principal, None);
        tracing::info!(
            peer = %self.peer, principal = %principal.name, mechanism = mechanism.name(),
            reauthentication = self.reauthenticating, "client authenticated"
        );
        self.principal = Some(principal);
        self.state = State::Authenticated;
        self.reauthenticating = false;
        Verdict::Answer(respond(
            ApiKey::SaslAuthenticate,
            version,
            correlation_id,
            &SaslAuthenticateResponse::default().with_session_lifetime_ms(lifetime),
        ))
    }

    /// Sets the KIP-368 deadline; returns the session lifetime to tell the client (0: none).
    fn start_session(
        &mut self,
        gateway: &Gateway,
        principal: &Principal,
        upstream_ms: Option<i64>,
    ) -> i64 {
        let now = SystemTime::now();
        let mut ms = principal.session_lifetime_ms(now);
        if let Some(u) = upstream_ms.filter(|u| *u > 0) {
            ms = if ms == 0 { u } else { ms.min(u) };
        }
        for max in [
            self.security.max_session_lifetime,
            gateway.auth.max_session_lifetime,
        ]
        .into_iter()
        .flatten()
        {
            let max = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
            ms = if ms == 0 { max } else { ms.min(max) };
        }
        self.deadline = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
        ms
    }

    /// Answers a failed authentication. Repeated failures from one address are logged as such
    /// and answered more slowly, which costs a guessing client time and an honest one nothing.
    async fn fail(
        &mut self,
        gateway: &Gateway,
        version: i16,
        correlation_id: i32,
        code: i16,
        message: String,
    ) -> Verdict {
        metrics().client_protocol_error("authentication_failed");
        let recent = gateway.failed_authentication(self.peer);
        if recent > REPEATED_FAILURES {
            tracing::warn!(peer = %self.peer, failures_last_minute = recent,
                "repeated authentication failures from this address; answering slowly");
            tokio::time::sleep(FAILURE_DELAY).await;
        }
        let answer = authenticate_error(version, correlation_id, code, message.clone());
        Verdict::AnswerThenClose(answer, format!("authentication failed: {message}"))
    }
}
