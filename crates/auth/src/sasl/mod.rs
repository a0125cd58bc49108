//! Server-side parsing of the SASL messages a client sends. No I/O and no state machine: the
//! connection code decides what to expect next and calls these on the `auth_bytes` of each
//! `SaslAuthenticate` request.
//!
//! Secrets (passwords, bearer tokens) are held in [`Secret`], whose `Debug` prints `***`, and no
//! [`SaslError`] ever quotes the message it rejects.

#[cfg(test)]
mod tests;

use std::fmt;

use crate::AuthError;

/// A SASL mechanism Gatehouse can offer to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    OAuthBearer,
    ScramSha256,
    ScramSha512,
}

/// The names of every mechanism Gatehouse implements, as sent in `SaslHandshake` responses.
pub const MECHANISMS: [&str; 4] = ["PLAIN", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::OAuthBearer,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => MECHANISMS[0],
            Mechanism::OAuthBearer => MECHANISMS[1],
            Mechanism::ScramSha256 => MECHANISMS[2],
            Mechanism::ScramSha512 => MECHANISMS[3],
        }
    }

    /// The mechanism a `SaslHandshake` request names. Case-sensitive, as Kafka brokers are.
    pub fn from_name(name: &str) -> Result<Self, AuthError> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| AuthError::unsupported_mechanism(name))
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A password or bearer token. `Debug` never shows it; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a client's SASL message was rejected. Messages describe the shape, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    #[error("SASL message is not valid UTF-8")]
    NotUtf8,
    #[error("invalid SASL/PLAIN message: expected authzid NUL username NUL password")]
    PlainFieldCount,
    #[error("SASL/PLAIN username not specified")]
    EmptyUsername,
    #[error("SASL/PLAIN password not specified")]
    EmptyPassword,
    #[error("authorization id differs from the username")]
    AuthzidMismatch,
    #[error("invalid GS2 header")]
    InvalidGs2Header,
    #[error("channel binding is not supported")]
    ChannelBindingNotSupported,
    #[error("invalid SASL name encoding (only =2C and =3D may follow '=')")]
    InvalidSaslName,
    #[error("invalid OAUTHBEARER message: malformed key/value pairs")]
    InvalidKeyValues,
    #[error("invalid OAUTHBEARER message: duplicate key")]
    DuplicateKey,
    #[error("invalid OAUTHBEARER message: no auth value")]
    MissingAuth,
    #[error("invalid OAUTHBEARER message: auth scheme must be Bearer")]
    InvalidAuthScheme,
    #[error("invalid OAUTHBEARER message: malformed bearer token")]
    InvalidBearerToken,
    #[error("invalid SCRAM client-first message")]
    InvalidScramMessage,
    #[error("SCRAM mandatory extension not supported")]
    ScramMandatoryExtension,
}

// ---------------------------------------------------------------------------------------------
// PLAIN (RFC 4616)

/// A parsed SASL/PLAIN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: Secret,
}

/// Parses `[authzid] NUL authcid NUL passwd`. As Kafka's `PlainSaslServer`: exactly three
/// fields, username and password non-empty, and an authzid, if given, equal to the username
/// (Gatehouse, like Kafka, does not let one identity act as another).
pub fn parse_plain(msg: &[u8]) -> Result<PlainCredentials, SaslError> {
    let text = std::str::from_utf8(msg).map_err(|_| SaslError::NotUtf8)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::PlainFieldCount);
    };
    if username.is_empty() {
        return Err(SaslError::EmptyUsername);
    }
    if password.is_empty() {
        return Err(SaslError::EmptyPassword);
    }
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::AuthzidMismatch);
    }
    Ok(PlainCredentials {
        username: username.to_owned(),
        password: Secret::new(password),
    })
}

// ---------------------------------------------------------------------------------------------
// GS2 header shared by OAUTHBEARER and SCRAM (RFC 5801 / RFC 5802)

/// Splits `gs2-cbind-flag "," [ "a=" saslname ] ","` off the front of `text` and returns the
/// decoded authzid and the rest. `p=` (channel binding) is refused: Gatehouse terminates TLS
/// itself, so there is nothing a client could bind to. `y` ("client supports it, thinks the
/// server does not") is accepted as RFC 5802 allows.
fn split_gs2_header(text: &str) -> Result<(Option<String>, &str), SaslError> {
    let rest = match text.as_bytes().first() {
        Some(b'n' | b'y') => &text[1..],
        Some(b'p') => return Err(SaslError::ChannelBindingNotSupported),
        _ => return Err(SaslError::InvalidGs2Header),
    };
    let rest = rest.strip_prefix(',').ok_or(SaslError::InvalidGs2Header)?;
    let (authz, rest) = rest.split_once(',').ok_or(SaslError::InvalidGs2Header)?;
    let authzid = if authz.is_empty() {
        None
    } else {
        let name = authz
            .strip_prefix("a=")
            .ok_or(SaslError::InvalidGs2Header)?;
        if name.is_empty() {
            return Err(SaslError::InvalidGs2Header);
        }
        Some(decode_saslname(name)?)
    };
    Ok((authzid, rest))
}

/// RFC 5802 `saslname`: `,` and `=` are sent as `=2C` and `=3D`; any other `=` is an error.
pub fn decode_saslname(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return Err(SaslError::InvalidSaslName);
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The inverse of [`decode_saslname`].
pub fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

// ---------------------------------------------------------------------------------------------
// OAUTHBEARER (RFC 7628)

/// What a client sent with SASL/OAUTHBEARER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthBearerMessage {
    /// The client initial response carrying the token.
    InitialResponse(OAuthBearerInitial),
    /// The single `%x01` a client sends to acknowledge the server's error challenge; the server
    /// then fails the exchange (RFC 7628 §3.2.3).
    ErrorAck,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerInitial {
    /// The GS2 authzid; the caller must reject it unless it equals the token's subject.
    pub authzid: Option<String>,
    pub token: Secret,
    /// Other key/value pairs (SASL extensions, KIP-342), in order; `auth` is not among them.
    pub extensions: Vec<(String, String)>,
}

impl OAuthBearerInitial {
    /// RFC 7628 / Kafka: an authzid, when given, must name the principal the token proves.
    pub fn check_authzid(&self, principal_name: &str) -> Result<(), AuthError> {
        match &self.authzid {
            Some(a) if a != principal_name => Err(AuthError::AuthzidMismatch),
            _ => Ok(()),
        }
    }
}

const KVSEP: char = '\x01';

/// Parses an OAUTHBEARER client message: `gs2-header %x01 *(key "=" value %x01) %x01` with a
/// mandatory `auth=Bearer <token>` pair, or the error acknowledgement `%x01`.
pub fn parse_oauthbearer(msg: &[u8]) -> Result<OAuthBearerMessage, SaslError> {
    if msg == [0x01] {
        return Ok(OAuthBearerMessage::ErrorAck);
    }
    let text = std::str::from_utf8(msg).map_err(|_| SaslError::NotUtf8)?;
    let (authzid, rest) = split_gs2_header(text)?;
    // rest = %x01 *(kvpair %x01) %x01
    let body = rest
        .strip_prefix(KVSEP)
        .and_then(|r| r.strip_suffix(KVSEP))
        .ok_or(SaslError::InvalidKeyValues)?;
    let mut token = None;
    let mut extensions: Vec<(String, String)> = Vec::new();
    if !body.is_empty() {
        let pairs = body
            .strip_suffix(KVSEP)
            .ok_or(SaslError::InvalidKeyValues)?;
        for pair in pairs.split(KVSEP) {
            let (key, value) = pair.split_once('=').ok_or(SaslError::InvalidKeyValues)?;
            // key = 1*ALPHA; value = *(VCHAR / SP / HTAB / CR / LF)
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(SaslError::InvalidKeyValues);
            }
            if !value
                .bytes()
                .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Err(SaslError::InvalidKeyValues);
            }
            if key == "auth" {
                if token.is_some() {
                    return Err(SaslError::DuplicateKey);
                }
                token = Some(parse_bearer(value)?);
            } else {
                if extensions.iter().any(|(k, _)| k == key) {
                    return Err(SaslError::DuplicateKey);
                }
                extensions.push((key.to_owned(), value.to_owned()));
            }
        }
    }
    Ok(OAuthBearerMessage::InitialResponse(OAuthBearerInitial {
        authzid,
        token: token.ok_or(SaslError::MissingAuth)?,
        extensions,
    }))
}

/// `Bearer <token>`: the scheme is case-insensitive (RFC 6750), the token is base64url-ish
/// (`b64token` of RFC 6750: `[A-Za-z0-9-._~+/]+=*`).
fn parse_bearer(value: &str) -> Result<Secret, SaslError> {
    let (scheme, token) = value.split_once(' ').ok_or(SaslError::InvalidAuthScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(SaslError::InvalidAuthScheme);
    }
    let token = token.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(SaslError::InvalidBearerToken);
    }
    Ok(Secret::new(token))
}

/// The server's error challenge for a failed OAUTHBEARER exchange (RFC 7628 §3.2.2), e.g.
/// `{"status":"invalid_token"}`. The client answers it with [`OAuthBearerMessage::ErrorAck`].
pub fn oauthbearer_error_challenge(status: &str, scope: Option<&str>) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    doc.insert("status".into(), status.into());
    if let Some(scope) = scope {
        doc.insert("scope".into(), scope.into());
    }
    serde_json::Value::Object(doc).to_string().into_bytes()
}

// ---------------------------------------------------------------------------------------------
// SCRAM client-first-message (RFC 5802 §7), read only to learn the username when the upstream
// cluster checks the credentials (delegated SCRAM).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramClientFirst {
    pub authzid: Option<String>,
    /// The decoded username (`=2C`/`=3D` unescaped).
    pub username: String,
    pub nonce: String,
    /// Extensions after the nonce, e.g. Kafka's `tokenauth=true` for delegation tokens.
    pub extensions: Vec<(String, String)>,
}

impl ScramClientFirst {
    /// Whether the client authenticates with a Kafka delegation token (KIP-48).
    pub fn is_token_auth(&self) -> bool {
        self.extensions
            .iter()
            .any(|(k, v)| k == "tokenauth" && v.eq_ignore_ascii_case("true"))
    }
}

/// Parses `gs2-header [m=...,] n=saslname,r=nonce[,ext=value]*`.
pub fn parse_scram_client_first(msg: &[u8]) -> Result<ScramClientFirst, SaslError> {
    let text = std::str::from_utf8(msg).map_err(|_| SaslError::NotUtf8)?;
    let (authzid, bare) = split_gs2_header(text)?;
    let mut attrs = bare.split(',');
    let first = attrs.next().ok_or(SaslError::InvalidScramMessage)?;
    if first.starts_with("m=") {
        return Err(SaslError::ScramMandatoryExtension);
    }
    let username = first
        .strip_prefix("n=")
        .ok_or(SaslError::InvalidScramMessage)?;
    let username = decode_saslname(username)?;
    if username.is_empty() {
        return Err(SaslError::EmptyUsername);
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(SaslError::InvalidScramMessage)?;
    // printable = %x21-2B / %x2D-7E (any printable ASCII but ',')
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(SaslError::InvalidScramMessage);
    }
    let mut extensions = Vec::new();
    for attr in attrs {
        let (key, value) = attr.split_once('=').ok_or(SaslError::InvalidScramMessage)?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || value.is_empty() {
            return Err(SaslError::InvalidScramMessage);
        }
        extensions.push((key.to_owned(), value.to_owned()));
    }
    Ok(ScramClientFirst {
        authzid,
        username,
        nonce: nonce.to_owned(),
        extensions,
    })
}
