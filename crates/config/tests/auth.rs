//! The `auth` block through the file, and GATEHOUSE_TOKEN_SECRET. One test, because it sets a
//! process-wide environment variable (this file is its own test process).

use std::path::Path;
use std::time::{Duration, SystemTime};

use gatehouse_auth::tokens::{NoRevocations, TokenKey, SECRET_ENV_VAR};
use gatehouse_config::{load_str, GatewayConfig, TokenKeySource};

const TOPOLOGY: &str = r#"
streamingDomains:
  - name: d
    kafkaCluster:
      bootstrapServers: [{ id: main, endpoint: "127.0.0.1:9092" }]
      nodeIdRanges: [{ name: all, start: 0, end: 2 }]
routes:
  - name: r
    endpoint: "127.0.0.1:19092"
    streamingDomain: { name: d, bootstrapServerId: main }
"#;

const FILE_SECRET: &str = "this passphrase is at least 32 bytes long";
const ENV_SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn load(auth: &str) -> Result<GatewayConfig, gatehouse_config::ConfigError> {
    load_str(&format!("{auth}{TOPOLOGY}"), "t.yaml", Path::new("."))
}

fn verifies_with(c: &GatewayConfig, secret: &[u8]) -> bool {
    let issued = TokenKey::from_bytes(secret)
        .unwrap()
        .issue("svc", Some("v"), Duration::from_secs(60))
        .unwrap();
    c.auth
        .token_key
        .as_ref()
        .expect("a key")
        .verify(&issued.token, "svc", SystemTime::now(), &NoRevocations)
        .is_ok()
}

#[test]
fn token_secret_from_the_file_or_the_environment() {
    std::env::remove_var(SECRET_ENV_VAR);
    let c = load("").unwrap();
    assert!(c.auth.token_key.is_none());
    assert!(!c.auth.mandatory_virtual_cluster);

    let c = load(&format!(
        "auth:\n  tokenSecret: \"{FILE_SECRET}\"\n  mandatoryVirtualCluster: true\n  maxSessionLifetimeMs: 600000\n"
    ))
    .unwrap();
    assert_eq!(c.auth.token_key_source, Some(TokenKeySource::Config));
    assert!(verifies_with(&c, FILE_SECRET.as_bytes()));
    assert!(c.auth.mandatory_virtual_cluster);
    assert_eq!(c.auth.max_session_lifetime, Some(Duration::from_secs(600)));
    assert!(
        !format!("{c:?}").contains(FILE_SECRET),
        "Debug hides the key"
    );

    // ${VAR} in the file: raw text from the environment.
    std::env::set_var("GH_TEST_TOKEN_TEXT", FILE_SECRET);
    let c = load("auth:\n  tokenSecret: ${GH_TEST_TOKEN_TEXT}\n").unwrap();
    assert!(verifies_with(&c, FILE_SECRET.as_bytes()));
    let e = load("auth:\n  tokenSecret: ${GH_TEST_UNSET}\n").unwrap_err();
    assert_eq!(e.path, "auth.tokenSecret");
    assert!(e.reason.contains("GH_TEST_UNSET is not set"), "{e}");

    // GATEHOUSE_TOKEN_SECRET (base64) when the file sets none; the file wins when it does.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(ENV_SECRET);
    std::env::set_var(SECRET_ENV_VAR, format!("{b64}\n"));
    let c = load("").unwrap();
    assert_eq!(c.auth.token_key_source, Some(TokenKeySource::Environment));
    assert!(verifies_with(&c, ENV_SECRET));
    let c = load(&format!("auth:\n  tokenSecret: \"{FILE_SECRET}\"\n")).unwrap();
    assert_eq!(c.auth.token_key_source, Some(TokenKeySource::Config));
    assert!(verifies_with(&c, FILE_SECRET.as_bytes()));
    assert!(!verifies_with(&c, ENV_SECRET));

    // Too short: an error naming where it came from, without the secret.
    std::env::set_var(SECRET_ENV_VAR, "c2hvcnQ=");
    let e = load("").unwrap_err();
    assert_eq!(e.path, SECRET_ENV_VAR);
    assert!(
        e.to_string().contains("at least 32 bytes (256 bits)"),
        "{e}"
    );
    std::env::remove_var(SECRET_ENV_VAR);
    let e = load("auth:\n  tokenSecret: \"only 31 bytes of secret text...\"\n").unwrap_err();
    assert_eq!(e.path, "auth.tokenSecret");
    assert!(e.reason.contains("is 31 bytes"), "{e}");
    assert!(!e.to_string().contains("only 31 bytes"), "{e}");

    let e = load("auth:\n  tokenSecrets: x\n").unwrap_err();
    assert_eq!(e.path, "auth.tokenSecrets");
}
