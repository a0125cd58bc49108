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

/// A listener that accepts every connection and closes it at once.
async fn slammer() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_is_not_reachable_before_its_first_probe() {
    let up = cluster(black_hole().await);
    let e = up.reachability().unwrap_err();
    assert!(e.contains("waiting for the first probe"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_of_a_broker_that_never_answers_ends_within_the_timeout_and_says_so() {
    let up = cluster(black_hole().await);
    let started = Instant::now();
    assert!(up.probe().await.is_err());
    assert!(started.elapsed() < REQUEST_TIMEOUT * 3);
    let e = up.reachability().unwrap_err();
    assert!(e.starts_with("unreachable for "), "{e}");
    assert!(
        e.contains("did not answer ApiVersions within 300 ms"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_of_a_broker_that_closes_says_so_and_keeps_the_first_failure_time() {
    let up = cluster(slammer().await);
    assert!(up.probe().await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await; // lets the streak age measurably
    assert!(up.probe().await.is_err());
    let e = up.reachability().unwrap_err();
    assert!(
        e.starts_with("unreachable for 0.2 s") || e.starts_with("unreachable for 0.3 s"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = cluster(port);
    assert!(up.probe().await.is_err());
    let e = up.reachability().unwrap_err();
    assert!(e.contains("unreachable"), "{e}");
}

/// A listener that answers every ApiVersions request like a broker would, then the next.
async fn answering() -> u16 {
    use bytes::BytesMut;
    use gatehouse_protocol::codec::encode_response;
    use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let Ok(len) = s.read_i32().await else { return };
                    let mut frame = BytesMut::zeroed(len as usize);
                    if s.read_exact(&mut frame).await.is_err() {
                        return;
                    }
                    let correlation_id = i32::from_be_bytes(frame[4..8].try_into().unwrap());
                    let header = ResponseHeader::default().with_correlation_id(correlation_id);
                    let body = ApiVersionsResponse::default();
                    let out = encode_response(&header, &body, ApiKey::ApiVersions, 0).unwrap();
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_answered_makes_the_domain_reachable() {
    let up = cluster(answering().await);
    up.probe().await.unwrap();
    assert_eq!(up.reachability(), Ok(()));
}
