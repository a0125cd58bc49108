//! Tests of the SASL message parsers: mechanism names, PLAIN, OAUTHBEARER (initial response,
//! error challenge and ack), SCRAM client-first and saslname escaping.

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
