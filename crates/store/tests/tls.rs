//! The store on a PostgreSQL server with `ssl = on` and a certificate from a CA made here:
//! `sslmode=verify-full` with that CA in `sslrootcert=` connects over TLS, with another CA it
//! fails naming `store.url`, and `sslmode=require` encrypts without checking the certificate.

mod common;

use std::collections::BTreeSet;

use common::PgServer;
use gatehouse_store::Store;

struct Pki {
    ca: String,
    other_ca: String,
    server_cert: String,
    server_key: String,
}

fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn pki() -> Pki {
    let (ca, ca_key) = new_ca("gatehouse test CA");
    let (other_ca, _) = new_ca("some other CA");
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca: ca.pem(),
        other_ca: other_ca.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
    }
}

/// Whether the session sqlx opens for `url` is encrypted, as the server sees it.
async fn uses_tls(url: &str) -> bool {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verifies_the_server_with_the_given_ca() {
    let pki = pki();
    let server = PgServer::dedicated(
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'",
        &[
            ("server.crt", pki.server_cert.as_bytes()),
            ("server.key", pki.server_key.as_bytes()),
        ],
    );
    let db = server.database().await;
    let files = tempfile::tempdir().unwrap();
    let right = files.path().join("ca.pem");
    let wrong = files.path().join("other-ca.pem");
    std::fs::write(&right, &pki.ca).unwrap();
    std::fs::write(&wrong, &pki.other_ca).unwrap();

    let verified = format!("{db}?sslmode=verify-full&sslrootcert={}", right.display());
    let store = Store::open(&verified, BTreeSet::new()).await.unwrap();
    store.revoke_token("over-tls", None, None).await.unwrap();
    assert!(uses_tls(&verified).await, "verify-full did not encrypt");
    drop(store);

    let untrusted = format!("{db}?sslmode=verify-full&sslrootcert={}", wrong.display());
    let e = match Store::open(&untrusted, BTreeSet::new()).await {
        Ok(_) => panic!("a server certificate from another CA was accepted"),
        Err(e) => e.to_string(),
    };
    eprintln!("with another CA: {e}");
    assert!(
        e.contains("store.url") && e.contains("sslrootcert") && e.contains("certificate"),
        "{e}"
    );

    let required = format!("{db}?sslmode=require");
    let store = Store::open(&required, BTreeSet::new()).await.unwrap();
    assert!(store.snapshot().is_token_revoked("over-tls"));
    assert!(uses_tls(&required).await, "require did not encrypt");
}
