//! Server-side parsing of the SASL messages a client sends. No I/O and no state machine: the
//! connection code decides what to expect next and calls these on the `auth_bytes` of each
//! `SaslAuthenticate` request.
//!
//! Secrets (passwords, bearer tokens) are held in [`Secret`], whose `Debug` prints `***`, and no
//! [`SaslError`] ever quotes the message it rejects.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Ok(m));
        }
        assert_eq!(MECHANISMS.len(), Mechanism::ALL.len());
        assert_eq!(
            Mechanism::from_name("plain"),
            Err(AuthError::UnsupportedMechanism("plain".into()))
        );
        assert!(Mechanism::from_name("GSSAPI").is_err());
        assert_eq!(Mechanism::ScramSha512.to_string(), "SCRAM-SHA-512");
    }

    #[test]
    fn secret_debug_hides_value() {
        let c = parse_plain(b"\0alice\0hunter2").unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"));
        assert_eq!(c.password.expose(), "hunter2");
    }

    #[test]
    fn plain_good() {
        let c = parse_plain(b"\0alice\0pw").unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "pw");
        // authzid equal to the username is allowed
        let c = parse_plain(b"alice\0alice\0pw").unwrap();
        assert_eq!(c.username, "alice");
        // the password may contain anything but NUL, and the username may be unicode
        let c = parse_plain("\0jürgen\0p w=,\x01".as_bytes()).unwrap();
        assert_eq!(c.username, "jürgen");
        assert_eq!(c.password.expose(), "p w=,\x01");
    }

    #[test]
    fn plain_bad() {
        assert_eq!(parse_plain(b""), Err(SaslError::PlainFieldCount));
        assert_eq!(parse_plain(b"alice"), Err(SaslError::PlainFieldCount));
        assert_eq!(parse_plain(b"alice\0pw"), Err(SaslError::PlainFieldCount));
        assert_eq!(parse_plain(b"\0a\0b\0c"), Err(SaslError::PlainFieldCount));
        assert_eq!(parse_plain(b"\0\0pw"), Err(SaslError::EmptyUsername));
        assert_eq!(parse_plain(b"\0alice\0"), Err(SaslError::EmptyPassword));
        assert_eq!(
            parse_plain(b"bob\0alice\0pw"),
            Err(SaslError::AuthzidMismatch)
        );
        assert_eq!(parse_plain(b"\0al\xffice\0pw"), Err(SaslError::NotUtf8));
    }

    #[test]
    fn errors_do_not_quote_input() {
        for msg in [
            &b"bob\0alice\0hunter2"[..],
            b"\0alice\0",
            b"n,,\x01auth=Basic hunter2\x01\x01",
        ] {
            let e = parse_plain(msg)
                .err()
                .or(parse_oauthbearer(msg).err())
                .unwrap();
            assert!(!e.to_string().contains("hunter2"));
            assert!(!e.to_string().contains("alice"));
        }
    }

    fn initial(msg: &[u8]) -> OAuthBearerInitial {
        match parse_oauthbearer(msg).unwrap() {
            OAuthBearerMessage::InitialResponse(i) => i,
            OAuthBearerMessage::ErrorAck => panic!("not an initial response"),
        }
    }

    #[test]
    fn oauthbearer_good() {
        let i = initial(b"n,,\x01auth=Bearer eyJ.abc-_.x_y\x01\x01");
        assert_eq!(i.authzid, None);
        assert_eq!(i.token.expose(), "eyJ.abc-_.x_y");
        assert!(i.extensions.is_empty());
        assert!(!format!("{i:?}").contains("eyJ"));

        // RFC 7628 §4.1 example (authzid, host and port key/values)
        let i = initial(
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
        );
        assert_eq!(i.authzid.as_deref(), Some("user@example.com"));
        assert_eq!(
            i.token.expose(),
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
        );
        assert_eq!(
            i.extensions,
            vec![
                ("host".into(), "server.example.com".into()),
                ("port".into(), "143".into())
            ]
        );

        // scheme is case-insensitive; authzid is saslname-decoded; 'y' flag accepted
        let i = initial(b"y,a=a=2Cb=3Dc,\x01auth=bearer tok\x01\x01");
        assert_eq!(i.authzid.as_deref(), Some("a,b=c"));
        assert_eq!(i.token.expose(), "tok");
    }

    #[test]
    fn oauthbearer_authzid_check() {
        let i = initial(b"n,,\x01auth=Bearer t\x01\x01");
        assert_eq!(i.check_authzid("alice"), Ok(()));
        let i = initial(b"n,a=alice,\x01auth=Bearer t\x01\x01");
        assert_eq!(i.check_authzid("alice"), Ok(()));
        assert_eq!(i.check_authzid("bob"), Err(AuthError::AuthzidMismatch));
    }

    #[test]
    fn oauthbearer_error_ack() {
        assert_eq!(parse_oauthbearer(b"\x01"), Ok(OAuthBearerMessage::ErrorAck));
    }

    #[test]
    fn oauthbearer_bad() {
        use SaslError::*;
        let cases: &[(&[u8], SaslError)] = &[
            (b"", InvalidGs2Header),
            (b"x,,\x01auth=Bearer t\x01\x01", InvalidGs2Header),
            (b"n\x01auth=Bearer t\x01\x01", InvalidGs2Header),
            (b"n,b=x,\x01auth=Bearer t\x01\x01", InvalidGs2Header),
            (b"n,a=,\x01auth=Bearer t\x01\x01", InvalidGs2Header),
            (b"n,a=x=41,\x01auth=Bearer t\x01\x01", InvalidSaslName),
            (
                b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
                ChannelBindingNotSupported,
            ),
            (b"n,,auth=Bearer t\x01\x01", InvalidKeyValues),
            (b"n,,\x01auth=Bearer t\x01", InvalidKeyValues),
            (b"n,,\x01auth=Bearer t", InvalidKeyValues),
            (b"n,,\x01\x01", MissingAuth),
            (b"n,,\x01host=h\x01\x01", MissingAuth),
            (b"n,,\x01auth\x01\x01", InvalidKeyValues),
            (b"n,,\x01=x\x01auth=Bearer t\x01\x01", InvalidKeyValues),
            (b"n,,\x01ho st=x\x01auth=Bearer t\x01\x01", InvalidKeyValues),
            (
                b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
                DuplicateKey,
            ),
            (b"n,,\x01a=1\x01a=2\x01auth=Bearer t\x01\x01", DuplicateKey),
            (b"n,,\x01auth=Basic dXNlcjpwdw==\x01\x01", InvalidAuthScheme),
            (b"n,,\x01auth=Bearertoken\x01\x01", InvalidAuthScheme),
            (b"n,,\x01auth=Bearer \x01\x01", InvalidBearerToken),
            (b"n,,\x01auth=Bearer a\"b\x01\x01", InvalidBearerToken),
            (b"n,,\x01auth=Bearer a b\x01\x01", InvalidBearerToken),
            (b"n,,\x01auth=Bearer \xff\x01\x01", NotUtf8),
            (b"\x01\x01", InvalidGs2Header),
        ];
        for (msg, want) in cases {
            assert_eq!(
                parse_oauthbearer(msg).as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn oauthbearer_challenge() {
        assert_eq!(
            oauthbearer_error_challenge("invalid_token", None),
            br#"{"status":"invalid_token"}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&oauthbearer_error_challenge(
            "insufficient_scope",
            Some("a b"),
        ))
        .unwrap();
        assert_eq!(v["scope"], "a b");
    }

    #[test]
    fn saslname() {
        assert_eq!(decode_saslname("plain").unwrap(), "plain");
        assert_eq!(decode_saslname("a=2Cb=3D=3D").unwrap(), "a,b==");
        assert_eq!(decode_saslname("a=2c"), Err(SaslError::InvalidSaslName));
        assert_eq!(decode_saslname("a="), Err(SaslError::InvalidSaslName));
        assert_eq!(decode_saslname("a,b"), Err(SaslError::InvalidSaslName));
        for s in ["", "x", "a,b=c", "=2C", "ü,="] {
            assert_eq!(decode_saslname(&encode_saslname(s)).unwrap(), s);
        }
    }

    #[test]
    fn scram_first_good() {
        // RFC 5802 §5 example
        let m = parse_scram_client_first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
        assert_eq!(m.username, "user");
        assert_eq!(m.nonce, "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(m.authzid, None);
        assert!(!m.is_token_auth());

        let m = parse_scram_client_first(b"n,a=a=2Cb,n=a=2Cb=3Dc,r=abc,tokenauth=true").unwrap();
        assert_eq!(m.authzid.as_deref(), Some("a,b"));
        assert_eq!(m.username, "a,b=c");
        assert!(m.is_token_auth());
        assert_eq!(m.extensions, vec![("tokenauth".into(), "true".into())]);
    }

    #[test]
    fn scram_first_bad() {
        use SaslError::*;
        let cases: &[(&[u8], SaslError)] = &[
            (b"", InvalidGs2Header),
            (b"n=user,r=abc", InvalidGs2Header),
            (b"p=tls-unique,,n=user,r=abc", ChannelBindingNotSupported),
            (b"n,,", InvalidScramMessage),
            (b"n,,r=abc,n=user", InvalidScramMessage),
            (b"n,,n=user", InvalidScramMessage),
            (b"n,,n=user,r=", InvalidScramMessage),
            (b"n,,n=user,x=abc", InvalidScramMessage),
            (b"n,,n=,r=abc", EmptyUsername),
            (b"n,,n=us=er,r=abc", InvalidSaslName),
            (b"n,,m=ext,n=user,r=abc", ScramMandatoryExtension),
            (b"n,,n=user,r=abc,=x", InvalidScramMessage),
            (b"n,,n=user,r=abc,tokenauth", InvalidScramMessage),
            (b"n,,n=user,r=a\x01c", InvalidScramMessage),
            (b"n,,n=\xff,r=abc", NotUtf8),
        ];
        for (msg, want) in cases {
            assert_eq!(
                parse_scram_client_first(msg).as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }
}
