//! Partner zones over HTTP against a SQLite store: apply with the route checked, status,
//! credentials with their client.properties, revocation one by one and all at once, the
//! ordinary API refused on a zone's resources, offboarding, and the operations log with the
//! admin user who did each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gatehouse_admin::{router, PartnerRoute, Readiness, User, V2};
use gatehouse_auth::tokens::TokenKey;
use gatehouse_store::{Configured, Store};
use serde_json::{json, Value};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

struct Server {
    base: String,
    store: Store,
    _dir: tempfile::TempDir,
}

fn route(protocol: &str, tls: bool, plain: bool) -> PartnerRoute {
    PartnerRoute {
        endpoint: "gw.example.com:19092".into(),
        protocol: protocol.into(),
        tls,
        sasl_plain: plain,
        sasl_oauthbearer: false,
        client_certificates: false,
        virtual_cluster: None,
    }
}

async fn start() -> Server {
    let routes = BTreeMap::from([
        ("partners".to_string(), route("SASL_SSL", true, true)),
        ("open".to_string(), route("PLAINTEXT", false, false)),
    ]);
    start_on(tempfile::tempdir().unwrap(), routes).await
}

/// A server on the store in `dir` (a gateway configured with `routes`).
async fn start_on(dir: tempfile::TempDir, routes: BTreeMap<String, PartnerRoute>) -> Server {
    let url = format!("sqlite://{}/g.db?mode=rwc", dir.path().display());
    let store = Store::open_configured(
        &url,
        Configured {
            virtual_clusters: BTreeSet::new(),
            streaming_domains: Some(BTreeSet::from(["d1".to_string(), "d2".to_string()])),
        },
    )
    .await
    .unwrap();
    let api = V2 {
        store: store.clone(),
        users: Arc::from(vec![
            User {
                username: "alice".into(),
                password: "pw".into(),
            },
            User {
                username: "bob".into(),
                password: "pw".into(),
            },
        ]),
        token_key: Some(Arc::new(TokenKey::from_bytes(SECRET).unwrap())),
        partner_routes: Arc::new(routes),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router(Readiness::default(), Some(api)))
            .await
            .unwrap()
    });
    Server {
        base,
        store,
        _dir: dir,
    }
}

async fn call(
    s: &Server,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(m, format!("{}/gateway/v2/{path}", s.base))
        .basic_auth(user, Some("pw"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn acme(route: &str) -> Value {
    json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone", "metadata": {"name": "acme"},
        "spec": {
            "displayName": "Acme", "route": route, "homeDomain": "d1",
            "topics": [
                {"name": "orders", "backingTopic": "sales.orders"},
                {"name": "feedback", "backingTopic": "partner-feedback", "permission": "WRITE"},
            ],
            "trafficLimits": {"commitsPerMinute": 600},
        },
    })
}

#[tokio::test]
async fn a_zone_from_onboarding_to_offboarding() {
    let s = start().await;
    // Refused: unknown route, a route that cannot authenticate PLAIN, an unknown domain.
    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(acme("nope"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("spec.route: no route named 'nope'"),
        "{body}"
    );
    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(acme("open"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("PLAINTEXT"),
        "{body}"
    );
    let mut bad = acme("partners");
    bad["spec"]["topics"][0]["physicalCluster"] = json!("d9");
    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("spec.topics[0].physicalCluster: "),
        "{body}"
    );
    assert!(s.store.snapshot().partner_zones.is_empty());

    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(acme("partners"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upsertResult"], "CREATED");
    assert_eq!(body["zone"]["status"]["state"], "READY");
    assert_eq!(body["zone"]["status"]["trafficLimits"]["enforced"], false);
    // GET answers valid PUT input.
    let (_, got) = call(&s, "alice", "GET", "partner-zone/acme", None).await;
    let (status, again) = call(&s, "alice", "PUT", "partner-zone", Some(got)).await;
    assert_eq!(
        (status, again["upsertResult"].as_str()),
        (200, Some("NOT_CHANGED"))
    );
    // The zone's virtual cluster is not the ordinary API's to delete.
    let (status, body) = call(&s, "alice", "DELETE", "virtual-cluster/acme", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["msg"]
        .as_str()
        .unwrap()
        .contains("gatehouse partner offboard acme"));

    // Credentials, with properties for a SASL_SSL route.
    let (status, c1) = call(
        &s,
        "bob",
        "POST",
        "partner-zone/acme/credentials",
        Some(json!({"lifeTimeSeconds": 3600, "caLocation": "/etc/acme/ca.pem"})),
    )
    .await;
    assert_eq!(status, 200, "{c1}");
    let props = c1["clientProperties"].as_str().unwrap();
    let token = c1["token"].as_str().unwrap();
    for line in [
        "bootstrap.servers=gw.example.com:19092".to_string(),
        "security.protocol=SASL_SSL".into(),
        "ssl.ca.location=/etc/acme/ca.pem".into(),
        "sasl.username=acme".into(),
        format!("sasl.password={token}"),
    ] {
        assert!(props.lines().any(|l| l == line), "{line} not in\n{props}");
    }
    let key = TokenKey::from_bytes(SECRET).unwrap();
    let claims = key
        .verify(
            token,
            "acme",
            std::time::SystemTime::now(),
            &*s.store.snapshot(),
        )
        .unwrap();
    assert_eq!(claims.vcluster.as_deref(), Some("acme"));
    let (_, c2) = call(
        &s,
        "bob",
        "POST",
        "partner-zone/acme/credentials",
        Some(json!({"lifeTimeSeconds": 60})),
    )
    .await;
    let (_, c3) = call(
        &s,
        "bob",
        "POST",
        "partner-zone/acme/credentials",
        Some(json!({"lifeTimeSeconds": 60})),
    )
    .await;
    let (status, body) = call(
        &s,
        "bob",
        "POST",
        "partner-zone/acme/credentials",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["msg"].as_str().unwrap().starts_with("lifeTimeSeconds"));
    let (_, got) = call(&s, "alice", "GET", "partner-zone/acme", None).await;
    assert_eq!(got["status"]["credentials"].as_array().unwrap().len(), 3);

    // One revoked by id, then all the others.
    let (status, body) = call(
        &s,
        "alice",
        "POST",
        "partner-zone/acme/revoke-credentials",
        Some(json!({"id": c1["id"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revokedTokenIds"], json!([c1["id"]]));
    assert!(key
        .verify(
            token,
            "acme",
            std::time::SystemTime::now(),
            &*s.store.snapshot()
        )
        .is_err());
    let (_, body) = call(
        &s,
        "alice",
        "POST",
        "partner-zone/acme/revoke-credentials",
        None,
    )
    .await;
    let mut ids: Vec<&str> = body["revokedTokenIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![c2["id"].as_str().unwrap(), c3["id"].as_str().unwrap()];
    expected.sort();
    assert_eq!(ids, expected);
    // A fresh token, then offboarding revokes it and removes everything.
    let (_, c4) = call(
        &s,
        "bob",
        "POST",
        "partner-zone/acme/credentials",
        Some(json!({"lifeTimeSeconds": 60})),
    )
    .await;
    let (status, body) = call(&s, "alice", "DELETE", "partner-zone/acme", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revokedTokenIds"], json!([c4["id"]]));
    let snapshot = s.store.snapshot();
    assert!(snapshot.virtual_cluster("acme").is_none() && snapshot.alias_topics.is_empty());
    assert!(snapshot.is_token_revoked(c4["id"].as_str().unwrap()));
    let (status, _) = call(&s, "alice", "GET", "partner-zone/acme", None).await;
    assert_eq!(status, 404);

    // Every operation, with who did it.
    let (status, ops) = call(
        &s,
        "alice",
        "GET",
        "partner-zone-operations?zone=acme",
        None,
    )
    .await;
    assert_eq!(status, 200, "{ops}");
    let seen: Vec<(String, String)> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["operation"].as_str().unwrap().into(),
                o["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("CREATED", "alice"),
        ("CREDENTIALS_ISSUED", "bob"),
        ("CREDENTIALS_ISSUED", "bob"),
        ("CREDENTIALS_ISSUED", "bob"),
        ("CREDENTIALS_REVOKED", "alice"),
        ("CREDENTIALS_REVOKED", "alice"),
        ("CREDENTIALS_ISSUED", "bob"),
        ("OFFBOARDED", "alice"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
    // Tokens never reach the operations log.
    assert!(!ops.to_string().contains(token));
}

#[tokio::test]
async fn external_zones_get_properties_but_no_tokens() {
    let s = start().await;
    let zone = json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone", "metadata": {"name": "globex"},
        "spec": {"bootstrapServers": ["lb.example.com:9093"], "authenticationMode": "OAUTHBEARER",
                 "externalPrincipal": "globex-client",
                 "topics": [{"name": "orders", "backingTopic": "sales.orders"}]},
    });
    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(zone)).await;
    assert_eq!(status, 200, "{body}");
    let props = body["clientProperties"].as_str().unwrap();
    assert!(
        props.contains("bootstrap.servers=lb.example.com:9093"),
        "{props}"
    );
    assert!(props.contains("sasl.mechanism=OAUTHBEARER"), "{props}");
    assert!(!props.contains("sasl.password"), "{props}");
    let vc = &s.store.snapshot().virtual_clusters["globex"];
    assert!(vc.acls.iter().all(|a| a.principal == "User:globex-client"));
    let (status, body) = call(
        &s,
        "alice",
        "POST",
        "partner-zone/globex/credentials",
        Some(json!({"lifeTimeSeconds": 60})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("OAUTHBEARER"),
        "{body}"
    );
}

#[tokio::test]
async fn a_zone_whose_route_is_no_longer_configured_is_failed() {
    let s = start().await;
    let (status, body) = call(&s, "alice", "PUT", "partner-zone", Some(acme("partners"))).await;
    assert_eq!(status, 200, "{body}");
    // The same store under a configuration without the route.
    let Server { store, _dir, .. } = s;
    drop(store);
    let s = start_on(_dir, BTreeMap::new()).await;
    let (status, got) = call(&s, "alice", "GET", "partner-zone/acme", None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"]["state"], "FAILED");
    assert_eq!(
        got["status"]["reason"],
        "spec.route: route 'partners' is no longer configured"
    );
    let (_, list) = call(&s, "alice", "GET", "partner-zone", None).await;
    assert_eq!(list[0]["status"]["state"], "FAILED");
}
