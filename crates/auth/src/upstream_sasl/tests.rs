//! Tests of the upstream SASL client: SCRAM against an independent reference server (checked
//! against the RFC 7677 test vector), bad and forged server messages, PLAIN, and steps out of
//! order.

use super::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Base64 as SCRAM uses it (standard alphabet, padded).
fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// An independent SCRAM server computation (RFC 5802 §3), checked against the RFC 7677
/// test vector below, then used to check the client.
fn proofs(
    hash: ScramHash,
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> (Vec<u8>, Vec<u8>) {
    macro_rules! compute {
        ($h:ty, $len:expr) => {{
            let mut salted = vec![0u8; $len];
            pbkdf2::pbkdf2::<Hmac<$h>>(password.as_bytes(), salt, iterations, &mut salted).unwrap();
            let hmac = |key: &[u8], data: &[u8]| {
                let mut m = Hmac::<$h>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            };
            let client_key = hmac(&salted, b"Client Key");
            let stored_key = <$h>::digest(&client_key).to_vec();
            let client_sig = hmac(&stored_key, auth_message.as_bytes());
            let proof: Vec<u8> = client_key
                .iter()
                .zip(&client_sig)
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = hmac(&salted, b"Server Key");
            (proof, hmac(&server_key, auth_message.as_bytes()))
        }};
    }
    match hash {
        ScramHash::Sha256 => compute!(sha2::Sha256, 32),
        ScramHash::Sha512 => compute!(Sha512Hash, 64),
    }
}

#[test]
fn reference_server_matches_rfc7677() {
    let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final_bare = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let auth = format!("{client_first_bare},{server_first},{client_final_bare}");
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let (proof, sig) = proofs(ScramHash::Sha256, "pencil", &salt, 4096, &auth);
    assert_eq!(b64(&proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(b64(&sig), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/// A SCRAM server for one exchange, as a Kafka broker answers.
struct TestServer {
    hash: ScramHash,
    password: String,
    salt: Vec<u8>,
    iterations: u32,
    client_first_bare: String,
    server_first: String,
    seen_username: String,
    seen_extensions: Vec<String>,
}

impl TestServer {
    fn new(hash: ScramHash, password: &str) -> Self {
        TestServer {
            hash,
            password: password.into(),
            salt: b"0123456789abcdef".to_vec(),
            iterations: 4096,
            client_first_bare: String::new(),
            server_first: String::new(),
            seen_username: String::new(),
            seen_extensions: vec![],
        }
    }

    fn first(&mut self, client_first: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(client_first).unwrap();
        let bare = text.strip_prefix("n,,").expect("gs2 header n,,");
        let parsed = crate::sasl::parse_scram_client_first(client_first).unwrap();
        self.seen_username = parsed.username;
        self.seen_extensions = parsed
            .extensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        self.client_first_bare = bare.to_owned();
        self.server_first = format!(
            "r={}srvnonce,s={},i={}",
            parsed.nonce,
            b64(&self.salt),
            self.iterations
        );
        self.server_first.clone().into_bytes()
    }

    fn last(&mut self, client_final: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
        assert!(without_proof.starts_with("c=biws,r="), "{without_proof}");
        let auth = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let (want, sig) = proofs(
            self.hash,
            &self.password,
            &self.salt,
            self.iterations,
            &auth,
        );
        if STANDARD.decode(proof).unwrap() == want {
            format!("v={}", b64(&sig)).into_bytes()
        } else {
            b"e=invalid-proof".to_vec()
        }
    }
}

fn scram(hash: ScramHash, user: &str, password: &str, token_auth: bool) -> UpstreamSasl {
    UpstreamSasl::new(&UpstreamCredentials::Scram {
        hash,
        username: user.into(),
        password: Secret::new(password),
        token_auth,
    })
    .unwrap()
}

fn run(client: &mut UpstreamSasl, server: &mut TestServer) -> Result<Step, UpstreamSaslError> {
    let Step::Send(first) = client.step(None)? else {
        panic!("expected a message")
    };
    let server_first = server.first(&first);
    let Step::Send(last) = client.step(Some(&server_first))? else {
        panic!("expected a message")
    };
    let server_last = server.last(&last);
    client.step(Some(&server_last))
}

#[test]
fn scram_sha256_and_sha512_against_reference_server() {
    for (hash, name) in [
        (ScramHash::Sha256, "SCRAM-SHA-256"),
        (ScramHash::Sha512, "SCRAM-SHA-512"),
    ] {
        let mut client = scram(hash, "gateway", "s3cret", false);
        assert_eq!(client.mechanism(), name);
        let mut server = TestServer::new(hash, "s3cret");
        assert_eq!(run(&mut client, &mut server), Ok(Step::Done), "{name}");
        assert_eq!(server.seen_username, "gateway");
        assert!(server.seen_extensions.is_empty());
        // Nothing more to do.
        assert!(matches!(
            client.step(Some(b"")),
            Err(UpstreamSaslError::IllegalState(_))
        ));
    }
}

#[test]
fn scram_wrong_password_is_a_server_error() {
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        let mut client = scram(hash, "gateway", "wrong", false);
        let mut server = TestServer::new(hash, "s3cret");
        assert_eq!(
            run(&mut client, &mut server),
            Err(UpstreamSaslError::ServerError("invalid-proof".into()))
        );
    }
}

#[test]
fn scram_mismatched_hash_fails() {
    let mut client = scram(ScramHash::Sha256, "gateway", "s3cret", false);
    let mut server = TestServer::new(ScramHash::Sha512, "s3cret");
    assert!(run(&mut client, &mut server).is_err());
}

#[test]
fn scram_username_escaped_and_token_auth() {
    let mut client = scram(ScramHash::Sha512, "a,b=c", "hmac", true);
    let mut server = TestServer::new(ScramHash::Sha512, "hmac");
    assert_eq!(run(&mut client, &mut server), Ok(Step::Done));
    assert_eq!(server.seen_username, "a,b=c");
    assert_eq!(server.seen_extensions, ["tokenauth=true"]);
}

#[test]
fn scram_forged_server_signature() {
    let mut client = scram(ScramHash::Sha256, "gateway", "s3cret", false);
    let mut server = TestServer::new(ScramHash::Sha256, "s3cret");
    let Ok(Step::Send(first)) = client.step(None) else {
        panic!()
    };
    let sf = server.first(&first);
    let Ok(Step::Send(_)) = client.step(Some(&sf)) else {
        panic!()
    };
    let forged = format!("v={}", b64(&[0u8; 32]));
    assert_eq!(
        client.step(Some(forged.as_bytes())),
        Err(UpstreamSaslError::ServerSignatureMismatch)
    );
}

fn after_first(server_first: &str) -> Result<Step, UpstreamSaslError> {
    let mut client = scram(ScramHash::Sha256, "gateway", "s3cret", false);
    let Ok(Step::Send(first)) = client.step(None) else {
        panic!()
    };
    let nonce = String::from_utf8(first)
        .unwrap()
        .rsplit_once("r=")
        .unwrap()
        .1
        .to_owned();
    client.step(Some(server_first.replace("NONCE", &nonce).as_bytes()))
}

#[test]
fn scram_bad_server_first() {
    let salt = b64(b"salt");
    assert_eq!(
        after_first(&format!("r=NONCEx,s={salt},i=100")),
        Err(UpstreamSaslError::IterationsOutOfRange(100))
    );
    assert_eq!(
        after_first(&format!("r=NONCEx,s={salt},i=1000000")),
        Err(UpstreamSaslError::IterationsOutOfRange(1_000_000))
    );
    assert_eq!(
        after_first(&format!("r=othernonce,s={salt},i=4096")),
        Err(UpstreamSaslError::NonceMismatch)
    );
    assert_eq!(
        after_first(&format!("r=NONCE,s={salt},i=4096")),
        Err(UpstreamSaslError::NonceMismatch)
    );
    assert_eq!(
        after_first("r=NONCEx,i=4096"),
        Err(UpstreamSaslError::InvalidServerMessage("no salt"))
    );
    assert_eq!(
        after_first(&format!("r=NONCEx,s={salt}")),
        Err(UpstreamSaslError::InvalidServerMessage(
            "no iteration count"
        ))
    );
    assert_eq!(
        after_first(&format!("r=NONCEx,s={salt},i=lots")),
        Err(UpstreamSaslError::InvalidServerMessage(
            "no iteration count"
        ))
    );
    assert_eq!(
        after_first("garbage"),
        Err(UpstreamSaslError::InvalidServerMessage(
            "attribute without '='"
        ))
    );
    assert_eq!(
        after_first("e=unknown-user"),
        Err(UpstreamSaslError::ServerError("unknown-user".into()))
    );
    assert!(after_first(&format!("r=NONCEx,s={salt},i=4096")).is_ok());
}

#[test]
fn plain() {
    let mut c = UpstreamSasl::new(&UpstreamCredentials::Plain {
        username: "gw".into(),
        password: Secret::new("pw"),
    })
    .unwrap();
    assert_eq!(c.mechanism(), "PLAIN");
    assert!(!format!("{c:?}").contains("pw\""));
    assert_eq!(c.step(None), Ok(Step::Send(b"\0gw\0pw".to_vec())));
    assert_eq!(c.step(Some(b"")), Ok(Step::Done));
    assert!(matches!(
        c.step(None),
        Err(UpstreamSaslError::IllegalState(_))
    ));
    // What we send is what the server-side parser accepts.
    let p = crate::sasl::parse_plain(b"\0gw\0pw").unwrap();
    assert_eq!((p.username.as_str(), p.password.expose()), ("gw", "pw"));
}

#[test]
fn illegal_steps() {
    let mut c = scram(ScramHash::Sha256, "u", "p", false);
    assert!(matches!(
        c.step(Some(b"r=x")),
        Err(UpstreamSaslError::IllegalState(_))
    ));
    let mut c = scram(ScramHash::Sha256, "u", "p", false);
    c.step(None).unwrap();
    assert!(matches!(
        c.step(None),
        Err(UpstreamSaslError::IllegalState(_))
    ));
}

#[test]
fn empty_credentials_refused() {
    for creds in [
        UpstreamCredentials::Plain {
            username: "".into(),
            password: Secret::new("p"),
        },
        UpstreamCredentials::Plain {
            username: "u".into(),
            password: Secret::new(""),
        },
        UpstreamCredentials::Scram {
            hash: ScramHash::Sha512,
            username: "u".into(),
            password: Secret::new(""),
            token_auth: false,
        },
    ] {
        assert_eq!(
            UpstreamSasl::new(&creds).unwrap_err(),
            UpstreamSaslError::EmptyCredentials
        );
    }
}
