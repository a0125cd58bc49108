//! The v2 API over HTTP against a SQLite store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use gatehouse_admin::v2::{OPERATIONS_ROUTES, ROUTES};
use gatehouse_admin::{router, Readiness, User, V2};
use gatehouse_auth::tokens::{NoRevocations, TokenKey};
use gatehouse_store::{Kind, Store};
use serde_json::{json, Value};

struct Server {
    base: String,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_with(None).await
}

async fn start_with(token_key: Option<TokenKey>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/g.db?mode=rwc", dir.path().display());
    let store = Store::open(&url, BTreeSet::new()).await.unwrap();
    let api = V2 {
        store: store.clone(),
        users: Arc::from(vec![User {
            username: "admin".into(),
            password: "pw".into(),
        }]),
        token_key: token_key.map(Arc::new),
        partner_routes: Default::default(),
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

fn client() -> reqwest::Client {
    // reqwest comes without a TLS provider in this workspace; it needs one to build a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn every_route_served_is_in_the_openapi_document_and_nothing_else() {
    let s = start().await;
    let doc: Value = client()
        .get(format!("{}/gateway/v2/openapi.json", s.base))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: HashSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| *m != "parameters")
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let mut served = HashSet::new();
    for (method, path) in ROUTES.iter().chain(OPERATIONS_ROUTES) {
        if path.contains("{kind}") {
            for k in Kind::ALL {
                served.insert((method.to_string(), path.replace("{kind}", k.path())));
            }
        } else {
            served.insert((method.to_string(), path.to_string()));
        }
    }
    assert_eq!(documented, served);
    // And each documented operation is really routed (a handler answers, not the router).
    for (method, path) in &documented {
        let url = format!("{}{}", s.base, path.replace("{name}", "nobody"));
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = client()
            .request(m, &url)
            .basic_auth("admin", Some("pw"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 405, "{method} {path}");
        if r.status() == 404 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["cause"], "NOT_FOUND", "{method} {path}");
        }
    }
}

#[tokio::test]
async fn unauthenticated_calls_are_refused_and_health_stays_open() {
    let s = start().await;
    for auth in [None, Some(("admin", "wrong")), Some(("other", "pw"))] {
        let mut req = client().get(format!("{}/gateway/v2/virtual-cluster", s.base));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["cause"], "UNAUTHORIZED");
    }
    let r = client()
        .get(format!("{}/health/live", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn put_get_round_trip_and_errors() {
    let s = start().await;
    let put = |body: Value, query: &'static str| {
        let url = format!("{}/gateway/v2/virtual-cluster{query}", s.base);
        async move {
            let r = client()
                .put(url)
                .basic_auth("admin", Some("pw"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let doc =
        json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "a"}});
    let (status, body) = put(doc.clone(), "").await;
    assert_eq!(
        (status, body["upsertResult"].as_str()),
        (200, Some("CREATED"))
    );
    let got: Value = client()
        .get(format!("{}/gateway/v2/VirtualCluster/a", s.base))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, body["resource"]);
    let (status, body) = put(got, "").await;
    assert_eq!(
        (status, body["upsertResult"].as_str()),
        (200, Some("NOT_CHANGED"))
    );

    let mut bad = doc.clone();
    bad["spec"] = json!({"prefix": "a.", "colour": "red"});
    let (status, body) = put(bad, "").await;
    assert_eq!(status, 400);
    assert!(
        body["msg"].as_str().unwrap().starts_with("spec.colour: "),
        "{body}"
    );
    assert_eq!(body["title"], "Invalid resource");

    let (status, body) = put(
        json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "b"}, "spec": {"prefix": "a.b."}}),
        "?dryMode=true",
    )
    .await;
    assert_eq!(status, 409, "{body}");

    let (status, body) = put(
        json!({"apiVersion": "gateway/v2", "kind": "GatewayServiceAccount", "metadata": {"name": "x"}, "spec": {"type": "LOCAL"}}),
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["msg"].as_str().unwrap().starts_with("kind: "),
        "{body}"
    );

    let r = client()
        .get(format!("{}/gateway/v2/topics", s.base))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

const SECRET: &[u8; 32] = b"an admin-test secret of 32 bytes";

async fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(m, format!("{}/gateway/v2/{path}", s.base))
        .basic_auth("admin", Some("pw"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn tokens_are_issued_for_existing_virtual_clusters_and_revoked_by_token_or_id() {
    let s = start_with(Some(TokenKey::from_bytes(SECRET).unwrap())).await;
    let key = TokenKey::from_bytes(SECRET).unwrap();
    let (status, body) = call(
        &s,
        "PUT",
        "virtual-cluster",
        Some(json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "team-a"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = call(
        &s,
        "POST",
        "token",
        Some(json!({"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let claims = key
        .verify(token, "svc", std::time::SystemTime::now(), &NoRevocations)
        .unwrap();
    assert_eq!(claims.vcluster.as_deref(), Some("team-a"));
    assert_eq!(body["id"], claims.jti.as_str());
    assert_eq!(claims.exp - claims.iat, 3600);
    let expires = body["expiresAt"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");

    // Refusals name the field.
    for (req, field) in [
        (
            json!({"username": "svc", "vCluster": "nope", "lifeTimeSeconds": 60}),
            "vCluster: ",
        ),
        (
            json!({"username": "svc", "lifeTimeSeconds": 60}),
            "vCluster: ",
        ),
        (
            json!({"username": "", "vCluster": "team-a", "lifeTimeSeconds": 60}),
            "username: ",
        ),
        (
            json!({"vCluster": "team-a", "lifeTimeSeconds": 60}),
            "username: ",
        ),
        (
            json!({"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 0}),
            "lifeTimeSeconds: ",
        ),
        (
            json!({"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 31_536_001}),
            "lifeTimeSeconds: ",
        ),
        (
            json!({"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 1.5}),
            "lifeTimeSeconds: ",
        ),
        (
            json!({"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 60, "admin": true}),
            "admin: ",
        ),
    ] {
        let (status, body) = call(&s, "POST", "token", Some(req.clone())).await;
        assert_eq!(status, 400, "{req}: {body}");
        assert!(
            body["msg"].as_str().unwrap().starts_with(field),
            "{req}: {body}"
        );
    }
    let (status, body) = call(
        &s,
        "POST",
        "token",
        Some(json!({"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 31_536_000})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second_id = body["id"].as_str().unwrap().to_string();

    // Revoke by token, twice (idempotent), then the other by id in upper case.
    let first_id = claims.jti.clone();
    for _ in 0..2 {
        let (status, body) = call(
            &s,
            "POST",
            "token/revoke",
            Some(json!({"token": token, "reason": "test"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], first_id.as_str());
        assert_eq!(body["revoked"], true);
    }
    assert!(s.store.snapshot().is_token_revoked(&first_id));
    assert_eq!(
        key.verify(
            token,
            "svc",
            std::time::SystemTime::now(),
            &*s.store.snapshot()
        ),
        Err(gatehouse_auth::AuthError::TokenRevoked)
    );
    let (status, body) = call(
        &s,
        "POST",
        "token/revoke",
        Some(json!({"id": second_id.to_uppercase()})),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(second_id.as_str()))
    );

    let (status, list) = call(&s, "GET", "token/revoked", None).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = list.iter().find(|r| r["id"] == first_id.as_str()).unwrap();
    assert_eq!(first["expiresAt"], expires, "known from the verified token");
    assert_eq!(first["reason"], "test");
    let second = list.iter().find(|r| r["id"] == second_id.as_str()).unwrap();
    assert!(
        second.get("expiresAt").is_none(),
        "unknown when revoked by id"
    );

    for (req, prefix) in [
        (json!({}), "(document): "),
        (json!({"token": token, "id": first_id}), "(document): "),
        (json!({"token": "not-a-token"}), "token: "),
        (json!({"id": "not-a-uuid"}), "id: "),
        (json!({"id": token}), "id: "),
        (json!({"id": first_id, "colour": "red"}), "colour: "),
    ] {
        let (status, body) = call(&s, "POST", "token/revoke", Some(req.clone())).await;
        assert_eq!(status, 400, "{req}: {body}");
        assert!(
            body["msg"].as_str().unwrap().starts_with(prefix),
            "{req}: {body}"
        );
    }
}

#[tokio::test]
async fn without_a_token_key_issuing_is_refused_and_revoking_still_works() {
    let s = start().await;
    let (status, body) = call(
        &s,
        "POST",
        "token",
        Some(json!({"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 60})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["cause"], "NO_TOKEN_KEY");
    assert!(
        body["msg"].as_str().unwrap().contains("auth.tokenSecret"),
        "{body}"
    );
    // A token of some other key can still be revoked (by its jti).
    let other = TokenKey::from_bytes(&[5u8; 32])
        .unwrap()
        .issue("svc", None, std::time::Duration::from_secs(60))
        .unwrap();
    let (status, body) = call(
        &s,
        "POST",
        "token/revoke",
        Some(json!({"token": other.token})),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(other.id.as_str())),
        "{body}"
    );
    // Tokens are for the v2 users only.
    let r = client()
        .post(format!("{}/gateway/v2/token/revoke", s.base))
        .json(&json!({"id": other.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn dot_segments_and_hidden_characters_are_refused_everywhere() {
    let s = start_with(Some(TokenKey::from_bytes(SECRET).unwrap())).await;
    let doc = |kind: &str, name: &str| {
        let mut d = json!({"apiVersion": "gateway/v2", "kind": kind, "metadata": {"name": name}});
        if kind == "GatewayServiceAccount" {
            d["spec"] = json!({"type": "LOCAL"});
        }
        d
    };
    let long = "a".repeat(600);
    for name in [
        ".",
        "..",
        "admin\u{202E}nimda",
        "a\u{7}b",
        "alice ",
        long.as_str(),
    ] {
        for (kind, path) in [
            ("VirtualCluster", "virtual-cluster"),
            ("GatewayServiceAccount", "service-account"),
        ] {
            let (code, body) = call(&s, "PUT", path, Some(doc(kind, name))).await;
            assert_eq!(code, 400, "{kind} {name:?}: {body}");
            let msg = body["msg"].as_str().unwrap();
            assert!(msg.starts_with("metadata.name: "), "{msg}");
            assert!(msg.contains(&format!("a {kind} name is")), "{msg}");
        }
        let (code, body) = call(
            &s,
            "POST",
            "token",
            Some(json!({"username": name, "vCluster": "passthrough", "lifeTimeSeconds": 60})),
        )
        .await;
        assert_eq!(code, 400, "token for {name:?}: {body}");
        assert!(
            body["msg"].as_str().unwrap().starts_with("username: "),
            "{body}"
        );
    }
    // In a path, sent as is (HTTP clients would resolve the dot segments themselves): a
    // name no resource can have is refused with the rule, not looked up.
    for encoded in ["%2E", "%2E%2E", "admin%E2%80%AEnimda", "a%07b", "alice%20"] {
        for method in ["GET", "DELETE"] {
            let answer = raw(
                &s,
                method,
                &format!("/gateway/v2/service-account/{encoded}"),
            )
            .await;
            assert!(
                answer.starts_with("HTTP/1.1 400"),
                "{method} {encoded}: {answer}"
            );
            assert!(answer.contains("\"msg\":\"(path) name: "), "{answer}");
            assert!(answer.contains("GatewayServiceAccount name is"), "{answer}");
        }
    }
}

/// One request with `path` exactly as given, and the whole answer.
async fn raw(s: &Server, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Basic YWRtaW46cHc=\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn drain_reports_draining_and_readiness_says_why() {
    let s = start().await;
    let ready = client()
        .get(format!("{}/health/ready", s.base))
        .send()
        .await
        .unwrap();
    // `start` never calls set_ready: the report says so.
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, json!({"status": "starting", "checks": {}}));
    let r = client()
        .post(format!("{}/gateway/v2/drain", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "drain needs credentials");
    let (code, body) = call(&s, "POST", "drain", None).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "draining");
    let body: Value = client()
        .get(format!("{}/health/ready", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "draining");
}
