//! Upstreams that accept connections and never answer, or close them at once: every exchange
//! the gateway starts itself ends within its timeout, and callers never queue behind each other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_auth::sasl::Secret;
use gatehouse_auth::upstream_sasl::UpstreamCredentials;
use gatehouse_routing::upstream::{GatewayLogin, Login, UpstreamCluster};
use gatehouse_routing::{HostPort, Target};
use tokio::net::TcpListener;

const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// A listener that accepts every connection and never sends a byte (nor closes).
async fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    port
}

fn cluster(port: u16) -> UpstreamCluster {
    UpstreamCluster::new(
        "d".into(),
        "main".into(),
        HostPort {
            host: "127.0.0.1".into(),
            port,
        },
        None,
        Duration::from_secs(2),
    )
    .with_request_timeout(REQUEST_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_versions_callers_each_end_within_the_timeout() {
    let up = Arc::new(cluster(black_hole().await));
    let started = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let up = up.clone();
            tokio::spawn(async move { up.api_versions().await })
        })
        .collect();
    for c in callers {
        let e = c.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("ApiVersions"), "{e}");
    }
    // Eight callers serialized behind one exchange would take 8 × 300 ms.
    let took = started.elapsed();
    assert!(took < REQUEST_TIMEOUT * 3, "callers queued: {took:?}");
    // Nothing stays held: a later caller asks again and is bounded the same way.
    let again = Instant::now();
    assert!(up.api_versions().await.is_err());
    assert!(again.elapsed() < REQUEST_TIMEOUT * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_for_an_unknown_node_ends_within_the_timeout() {
    let up = cluster(black_hole().await);
    let started = Instant::now();
    let e = up
        .connect(Target::Node(7), Login::Client)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(started.elapsed() < REQUEST_TIMEOUT * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_sasl_login_ends_within_the_timeout() {
    let up =
        cluster(black_hole().await).with_sasl(GatewayLogin::Password(UpstreamCredentials::Plain {
            username: "gw".into(),
            password: Secret::new("pw"),
        }));
    let started = Instant::now();
    let e = up
        .connect(Target::Bootstrap, Login::Gateway)
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("SASL login"), "{e}");
    assert!(started.elapsed() < REQUEST_TIMEOUT * 3);
}
