//! Delegated SASL: the client's exchange goes to the upstream brokers, which decide. The gate
//! counts the relayed steps, reads the user the first one names, and learns each step's
//! verdict from a [`Watch`] the response side fills in.

use std::sync::{Arc, Mutex};

use gatehouse_auth::sasl::{
    parse_oauthbearer, parse_plain, parse_scram_client_first, Mechanism, OAuthBearerMessage,
};
use gatehouse_auth::{Principal, PrincipalKind};
use gatehouse_routing::metrics::metrics;

use super::{Accept, Gate, State, Verdict};
use crate::Gateway;

/// The upstream's verdict on one relayed SASL step, filled in by the response pump before the
/// client sees the answer (so it is known by the time the client sends anything else).
#[derive(Clone, Debug)]
pub(crate) struct Watch {
    verdict: Arc<Mutex<Option<(i16, i64)>>>,
    /// Whether this step's success finishes the exchange (SCRAM takes two).
    completes: bool,
}

impl Watch {
    fn new(completes: bool) -> Self {
        Self {
            verdict: Arc::default(),
            completes,
        }
    }

    /// The upstream's SaslAuthenticate answer: its error code and session lifetime.
    pub fn report(&self, error_code: i16, session_lifetime_ms: i64) {
        *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((error_code, session_lifetime_ms));
    }

    fn take(&self) -> Option<(i16, i64)> {
        self.verdict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Gate {
    /// One relayed SaslAuthenticate: forwarded, its verdict watched.
    pub(super) fn relay_step(&mut self, auth_bytes: &[u8]) -> Verdict {
        let State::Relaying {
            mechanism,
            steps,
            name,
            watch,
        } = &mut self.state
        else {
            unreachable!("relay_step is only called while relaying");
        };
        if *steps == 0 {
            *name = delegated_name(*mechanism, auth_bytes);
        }
        *steps += 1;
        let completes = match mechanism {
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => *steps >= 2,
            _ => true,
        };
        let w = Watch::new(completes);
        *watch = Some(w.clone());
        Verdict::ForwardWatched(w)
    }

    /// Delegated: what the upstream said about the last relayed step, once the client moved on.
    pub(super) fn relay_outcome(
        &mut self,
        gateway: &Gateway,
        accept: &mut Accept<'_>,
    ) -> Option<Verdict> {
        let State::Relaying {
            watch: Some(watch),
            name,
            mechanism,
            ..
        } = &self.state
        else {
            return None;
        };
        let (error_code, lifetime_ms) = watch.take()?;
        if error_code != 0 {
            metrics().client_protocol_error("authentication_failed");
            return Some(Verdict::Close(format!(
                "the upstream refused {} authentication (error {error_code})",
                mechanism.name()
            )));
        }
        if !watch.completes {
            return None;
        }
        let (mechanism, name) = (*mechanism, name.clone());
        let principal = Principal::new(name.unwrap_or_default(), PrincipalKind::Delegated);
        // A re-authentication may renew the session, not change whose it is (as for local
        // SASL): another user would move the connection into another virtual cluster.
        if let Some(old) = self.principal.as_ref().filter(|_| self.reauthenticating) {
            if old.name != principal.name {
                metrics().client_protocol_error("authentication_failed");
                return Some(Verdict::Close(format!(
                    "re-authentication must present the same principal ('{}', not '{}')",
                    old.name, principal.name
                )));
            }
        }
        if let Err(why) = accept(&principal) {
            return Some(Verdict::Close(why));
        }
        self.start_session(gateway, &principal, Some(lifetime_ms));
        tracing::info!(peer = %self.peer, principal = %principal.name, mechanism = mechanism.name(),
            "client authenticated by the upstream");
        self.principal = Some(principal);
        self.state = State::Authenticated;
        self.reauthenticating = false;
        None
    }
}

/// The user a delegated exchange names: PLAIN's authcid, SCRAM's `n=`, OAUTHBEARER's token
/// subject (read, not verified: the upstream verifies it).
fn delegated_name(mechanism: Mechanism, first: &[u8]) -> Option<String> {
    match mechanism {
        Mechanism::Plain => parse_plain(first).ok().map(|c| c.username),
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
            parse_scram_client_first(first).ok().map(|c| c.username)
        }
        Mechanism::OAuthBearer => match parse_oauthbearer(first).ok()? {
            OAuthBearerMessage::InitialResponse(i) => jwt_subject(i.token.expose()),
            OAuthBearerMessage::ErrorAck => None,
        },
    }
}

fn jwt_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    v.get("sub")?.as_str().map(str::to_string)
}
