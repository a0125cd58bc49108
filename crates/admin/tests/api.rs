//! The v2 API over HTTP against a SQLite store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use gatehouse_admin::{router, v2::ROUTES, Readiness, User, V2};
use gatehouse_store::{Kind, Store};
use serde_json::{json, Value};

struct Server {
    base: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/g.db?mode=rwc", dir.path().display());
    let store = Store::open(&url, BTreeSet::new()).await.unwrap();
    let api = V2 {
        store,
        users: Arc::from(vec![User {
            username: "admin".into(),
            password: "pw".into(),
        }]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router(Readiness::default(), Some(api)))
            .await
            .unwrap()
    });
    Server { base, _dir: dir }
}

fn client() -> reqwest::Client {
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
    for (method, path) in ROUTES {
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
