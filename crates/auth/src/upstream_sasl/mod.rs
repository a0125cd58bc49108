//! The gateway's own SASL client, for authenticating to upstream brokers. It knows nothing of
//! Kafka framing: the connection code sends [`UpstreamSasl::mechanism`] in a `SaslHandshake`,
//! then wraps every [`Step::Send`] in a `SaslAuthenticate` request and feeds the response's
//! `auth_bytes` back into [`UpstreamSasl::step`] until it returns [`Step::Done`].
//!
//! PLAIN is one message. SCRAM-SHA-256/512 use the `sasl` crate's client (RFC 5802); the crate
//! ships SHA-1 and SHA-256 only, so SHA-512 is added here as a `ScramProvider`. Around it this
//! module adds what the crate leaves out and Kafka's Java client does: the server nonce must
//! extend ours, the iteration count must be in Kafka's range, `e=` server errors are reported,
//! and usernames are `=2C`/`=3D`-escaped.

#[cfg(test)]
mod tests;

use std::fmt;

use hmac::{Hmac, Mac};
use sasl::client::mechanisms::Scram;
use sasl::client::Mechanism as _;
use sasl::common::scram::{DeriveError, ScramProvider, Sha256};
use sasl::common::{ChannelBinding, Password};
use sha2::{Digest, Sha512 as Sha512Hash};

use crate::sasl::{encode_saslname, Secret};

/// Kafka's SCRAM iteration range (`ScramMechanism`): its client refuses fewer, its broker
/// never asks for more; more would let a rogue upstream make the gateway burn CPU.
pub const SCRAM_MIN_ITERATIONS: u32 = 4096;
pub const SCRAM_MAX_ITERATIONS: u32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

/// How the gateway authenticates to an upstream cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCredentials {
    Plain {
        username: String,
        password: Secret,
    },
    Scram {
        hash: ScramHash,
        username: String,
        password: Secret,
        /// Authenticate with a Kafka delegation token (`tokenauth=true`, KIP-48): `username`
        /// is the token id and `password` its HMAC.
        token_auth: bool,
    },
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in a `SaslAuthenticate` request and pass the response to `step`.
    Send(Vec<u8>),
    /// Authenticated (for SCRAM: the server proved it knows the credentials too).
    Done,
}

/// Why authenticating to an upstream cluster failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamSaslError {
    #[error("upstream SASL: {0}")]
    IllegalState(&'static str),
    #[error("upstream SASL: username and password must not be empty")]
    EmptyCredentials,
    #[error("upstream SASL: malformed server message ({0})")]
    InvalidServerMessage(&'static str),
    #[error("upstream SASL: server nonce does not extend the client nonce")]
    NonceMismatch,
    #[error("upstream SASL: server asks for {0} SCRAM iterations; allowed {SCRAM_MIN_ITERATIONS}..={SCRAM_MAX_ITERATIONS}")]
    IterationsOutOfRange(u32),
    #[error("upstream SASL: server signature invalid (the server does not know the credentials)")]
    ServerSignatureMismatch,
    #[error("upstream SASL: server rejected the authentication: {0}")]
    ServerError(String),
    #[error("upstream SASL: {0}")]
    Mechanism(String),
}

/// One SASL exchange with an upstream broker.
pub struct UpstreamSasl {
    mechanism: &'static str,
    inner: Inner,
    phase: Phase,
}

enum Inner {
    Plain(Vec<u8>),
    Scram256(Box<Scram<Sha256>>),
    Scram512(Box<Scram<Sha512>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Start,
    /// SCRAM client-first sent; remembers our nonce to check the server's.
    SentFirst {
        client_nonce: String,
    },
    /// The last client message was sent; the server's answer completes the exchange.
    SentLast,
    Done,
}

impl fmt::Debug for UpstreamSasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamSasl")
            .field("mechanism", &self.mechanism)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl UpstreamSasl {
    pub fn new(credentials: &UpstreamCredentials) -> Result<Self, UpstreamSaslError> {
        let (mechanism, inner) = match credentials {
            UpstreamCredentials::Plain { username, password } => {
                if username.is_empty() || password.expose().is_empty() {
                    return Err(UpstreamSaslError::EmptyCredentials);
                }
                // authzid empty: the server derives it from the username.
                let mut msg = Vec::with_capacity(username.len() + password.expose().len() + 2);
                msg.push(0);
                msg.extend_from_slice(username.as_bytes());
                msg.push(0);
                msg.extend_from_slice(password.expose().as_bytes());
                ("PLAIN", Inner::Plain(msg))
            }
            UpstreamCredentials::Scram {
                hash,
                username,
                password,
                token_auth,
            } => {
                if username.is_empty() || password.expose().is_empty() {
                    return Err(UpstreamSaslError::EmptyCredentials);
                }
                let user = encode_saslname(username);
                let pass = password.expose().to_owned();
                let ext = if *token_auth { "tokenauth=true" } else { "" };
                let err = |e: sasl::Error| UpstreamSaslError::Mechanism(format!("{e:?}"));
                match hash {
                    ScramHash::Sha256 => (
                        "SCRAM-SHA-256",
                        Inner::Scram256(Box::new(
                            Scram::new(user, pass, ChannelBinding::None)
                                .map_err(err)?
                                .with_first_extensions(ext.into()),
                        )),
                    ),
                    ScramHash::Sha512 => (
                        "SCRAM-SHA-512",
                        Inner::Scram512(Box::new(
                            Scram::new(user, pass, ChannelBinding::None)
                                .map_err(err)?
                                .with_first_extensions(ext.into()),
                        )),
                    ),
                }
            }
        };
        Ok(UpstreamSasl {
            mechanism,
            inner,
            phase: Phase::Start,
        })
    }

    /// The mechanism name for the `SaslHandshake` request.
    pub fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// Advances the exchange: first call with `None`, then with each server response.
    pub fn step(&mut self, server_msg: Option<&[u8]>) -> Result<Step, UpstreamSaslError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match (phase, server_msg) {
            (Phase::Start, None) => match &mut self.inner {
                Inner::Plain(msg) => {
                    self.phase = Phase::SentLast;
                    Ok(Step::Send(std::mem::take(msg)))
                }
                Inner::Scram256(m) => {
                    let first = m.initial();
                    self.send_first(first)
                }
                Inner::Scram512(m) => {
                    let first = m.initial();
                    self.send_first(first)
                }
            },
            (Phase::Start, Some(_)) => Err(UpstreamSaslError::IllegalState(
                "the first step takes no server message",
            )),
            (Phase::SentFirst { client_nonce }, Some(server_first)) => {
                check_server_first(server_first, &client_nonce)?;
                let reply = match &mut self.inner {
                    Inner::Scram256(m) => m.response(server_first),
                    Inner::Scram512(m) => m.response(server_first),
                    Inner::Plain(_) => unreachable!("PLAIN never sends a first SCRAM message"),
                }
                .map_err(|e| UpstreamSaslError::Mechanism(e.to_string()))?;
                self.phase = Phase::SentLast;
                Ok(Step::Send(reply))
            }
            (Phase::SentLast, Some(server_last)) => {
                match &mut self.inner {
                    // Kafka answers PLAIN with empty bytes; failure comes as an error code.
                    Inner::Plain(_) => {}
                    Inner::Scram256(m) => check_server_final(server_last, |d| m.success(d))?,
                    Inner::Scram512(m) => check_server_final(server_last, |d| m.success(d))?,
                }
                Ok(Step::Done)
            }
            (Phase::SentFirst { .. } | Phase::SentLast, None) => Err(
                UpstreamSaslError::IllegalState("a server message is required at this step"),
            ),
            (Phase::Done, _) => Err(UpstreamSaslError::IllegalState("exchange already finished")),
        }
    }

    fn send_first(&mut self, first: Vec<u8>) -> Result<Step, UpstreamSaslError> {
        // Our own message: `n,,n=<user>,r=<nonce>[,ext]`; keep the nonce to check the server's.
        let text = String::from_utf8_lossy(&first);
        let client_nonce = text
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .unwrap_or_default()
            .to_owned();
        self.phase = Phase::SentFirst { client_nonce };
        Ok(Step::Send(first))
    }
}

fn scram_attrs(msg: &[u8]) -> Result<Vec<(&str, &str)>, UpstreamSaslError> {
    let text = std::str::from_utf8(msg)
        .map_err(|_| UpstreamSaslError::InvalidServerMessage("not UTF-8"))?;
    text.split(',')
        .map(|a| {
            a.split_once('=')
                .ok_or(UpstreamSaslError::InvalidServerMessage(
                    "attribute without '='",
                ))
        })
        .collect()
}

fn server_error(attrs: &[(&str, &str)]) -> Option<UpstreamSaslError> {
    attrs
        .iter()
        .find(|(k, _)| *k == "e")
        .map(|(_, v)| UpstreamSaslError::ServerError(crate::sanitize_for_client(v)))
}

/// `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`, or `e=<error>`.
fn check_server_first(msg: &[u8], client_nonce: &str) -> Result<(), UpstreamSaslError> {
    let attrs = scram_attrs(msg)?;
    if let Some(e) = server_error(&attrs) {
        return Err(e);
    }
    let get = |k: &str| attrs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let nonce = get("r").ok_or(UpstreamSaslError::InvalidServerMessage("no nonce"))?;
    if client_nonce.is_empty() || !nonce.starts_with(client_nonce) || nonce == client_nonce {
        return Err(UpstreamSaslError::NonceMismatch);
    }
    get("s").ok_or(UpstreamSaslError::InvalidServerMessage("no salt"))?;
    let iterations: u32 =
        get("i")
            .and_then(|i| i.parse().ok())
            .ok_or(UpstreamSaslError::InvalidServerMessage(
                "no iteration count",
            ))?;
    if !(SCRAM_MIN_ITERATIONS..=SCRAM_MAX_ITERATIONS).contains(&iterations) {
        return Err(UpstreamSaslError::IterationsOutOfRange(iterations));
    }
    Ok(())
}

/// `v=<server signature>`, or `e=<error>`.
fn check_server_final(
    msg: &[u8],
    verify: impl FnOnce(&[u8]) -> Result<(), sasl::client::MechanismError>,
) -> Result<(), UpstreamSaslError> {
    let attrs = scram_attrs(msg)?;
    if let Some(e) = server_error(&attrs) {
        return Err(e);
    }
    use sasl::client::MechanismError as E;
    verify(msg).map_err(|e| match e {
        E::InvalidSignatureInSuccessResponse => UpstreamSaslError::ServerSignatureMismatch,
        E::NoSignatureInSuccessResponse | E::CannotDecodeSuccessResponse => {
            UpstreamSaslError::InvalidServerMessage("no server signature")
        }
        other => UpstreamSaslError::Mechanism(other.to_string()),
    })
}

/// SCRAM-SHA-512 for the `sasl` crate's client.
pub struct Sha512;

/// A SHA-512 PBKDF2 secret; the trait requires one, the client never stores it.
pub struct Pbkdf2Sha512;
impl sasl::secret::Secret for Pbkdf2Sha512 {}

impl ScramProvider for Sha512 {
    type Secret = Pbkdf2Sha512;

    fn name() -> &'static str {
        "SHA-512"
    }

    fn hash(data: &[u8]) -> Vec<u8> {
        Sha512Hash::digest(data).to_vec()
    }

    fn hmac(data: &[u8], key: &[u8]) -> Result<Vec<u8>, hmac::digest::InvalidLength> {
        let mut mac = Hmac::<Sha512Hash>::new_from_slice(key)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn derive(password: &Password, salt: &[u8], iterations: u32) -> Result<Vec<u8>, DeriveError> {
        match password {
            Password::Plain(plain) => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2::<Hmac<Sha512Hash>>(plain.as_bytes(), salt, iterations, &mut out)
                    .map_err(|_| DeriveError::InvalidLength)?;
                Ok(out)
            }
            Password::Pbkdf2 { method, .. } => Err(DeriveError::IncompatibleHashingMethod(
                method.clone(),
                Self::name().to_owned(),
            )),
        }
    }
}
