//! Every configuration mistake names the file, the field and the reason.

use std::path::Path;

use gatehouse_config::{load_str, ConfigError};

const GOOD: &str = r#"
streamingDomains:
  - name: kafka1-domain
    type: kafka
    kafkaCluster:
      name: kafka-cluster-1
      bootstrapServers:
        - id: internal-listener
          endpoint: "127.0.0.1:9092"
      nodeIdRanges:
        - { name: pool-1, start: 0, end: 5 }
routes:
  - name: switchover-route
    endpoint: "127.0.0.1:19092"
    brokerIdentificationStrategy: { type: port }
    streamingDomain: { name: kafka1-domain, bootstrapServerId: internal-listener }
"#;

fn load(text: &str) -> Result<gatehouse_config::GatewayConfig, ConfigError> {
    load_str(text, "test.yaml", Path::new("."))
}

fn err(text: &str) -> ConfigError {
    load(text).expect_err("configuration should be refused")
}

#[test]
fn the_confluent_shape_loads() {
    let c = load(GOOD).unwrap();
    let route = &c.topology.routes["switchover-route"];
    assert_eq!(route.brokers.port_for(0), Some(19093));
    assert_eq!(route.brokers.port_for(5), Some(19098));
    assert!(c.topology.upstream_for(route).is_some());
}

#[test]
fn shipped_examples_and_default_are_valid() {
    gatehouse_config::embedded_default();
    gatehouse_config::load_file(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/gatehouse.yaml"
    )))
    .unwrap();
}

#[test]
fn unknown_field_is_named_with_its_path() {
    let e = err(&GOOD.replace("    type: kafka\n", "    type: kafka\n    colour: blue\n"));
    assert_eq!(e.file, "test.yaml");
    assert_eq!(e.path, "streamingDomains[0].colour");
    assert!(e.reason.contains("unknown field `colour`"), "{e}");
}

#[test]
fn route_naming_a_missing_domain() {
    let e = err(&GOOD.replace(
        "{ name: kafka1-domain, bootstrap",
        "{ name: nowhere, bootstrap",
    ));
    assert_eq!(e.path, "routes[0].streamingDomain.name");
    assert!(
        e.reason.contains("no streaming domain named 'nowhere'"),
        "{e}"
    );
    assert!(e
        .to_string()
        .starts_with("test.yaml: routes[0].streamingDomain.name: "));
}

#[test]
fn route_naming_a_missing_listener() {
    let e = err(&GOOD.replace(
        "bootstrapServerId: internal-listener",
        "bootstrapServerId: external",
    ));
    assert_eq!(e.path, "routes[0].streamingDomain.bootstrapServerId");
}

#[test]
fn empty_and_overlapping_node_id_ranges() {
    let e = err(&GOOD.replace("start: 0, end: 5", "start: 5, end: 4"));
    assert_eq!(e.path, "streamingDomains[0].kafkaCluster.nodeIdRanges[0]");
    assert!(e.reason.contains("empty range"), "{e}");

    let e = err(&GOOD.replace("nodeIdRanges: []", "").replace(
        "- { name: pool-1, start: 0, end: 5 }",
        "- { name: pool-1, start: 0, end: 5 }\n        - { name: pool-2, start: 5, end: 9 }",
    ));
    assert_eq!(e.path, "streamingDomains[0].kafkaCluster.nodeIdRanges[1]");
    assert!(e.reason.contains("overlaps range 'pool-1'"), "{e}");

    let e = err(&GOOD
        .replace("- { name: pool-1, start: 0, end: 5 }", "[]")
        .replace("nodeIdRanges:\n        []", "nodeIdRanges: []"));
    assert!(e.path.ends_with("nodeIdRanges"), "{e}");
}

#[test]
fn overlapping_ports_between_routes() {
    // The second route's bootstrap port 19095 is node 2's port on the first route.
    let second = r#"
  - name: second
    endpoint: "127.0.0.1:19095"
    streamingDomain: { name: kafka1-domain, bootstrapServerId: internal-listener }
"#;
    let e = err(&format!("{GOOD}{second}"));
    assert_eq!(e.path, "routes[1].endpoint");
    assert!(
        e.reason.contains("port 19095") && e.reason.contains("node 2 on route 'switchover-route'"),
        "{e}"
    );
}

#[test]
fn sni_without_tls_is_refused() {
    let e = err(&GOOD.replace("{ type: port }", "{ type: host }"));
    assert_eq!(e.path, "routes[0].brokerIdentificationStrategy.type");
}

#[test]
fn bad_endpoint_and_missing_tls_file() {
    let e = err(&GOOD.replace("\"127.0.0.1:9092\"", "\"127.0.0.1\""));
    assert_eq!(
        e.path,
        "streamingDomains[0].kafkaCluster.bootstrapServers[0].endpoint"
    );
    let e = err(&GOOD.replace(
        "endpoint: \"127.0.0.1:9092\"",
        "endpoint: \"127.0.0.1:9092\"\n          ssl: { caFile: /nonexistent/ca.pem }",
    ));
    assert_eq!(
        e.path,
        "streamingDomains[0].kafkaCluster.bootstrapServers[0].ssl.caFile"
    );
    assert!(e.reason.contains("/nonexistent/ca.pem"), "{e}");
}

#[test]
fn node_ports_past_65535_are_refused() {
    let e = err(&GOOD.replace("end: 5", "end: 100000"));
    assert_eq!(e.path, "routes[0].endpoint");
    assert!(e.reason.contains("65535"), "{e}");
}

#[test]
fn admin_users_take_passwords_from_the_environment() {
    std::env::set_var("GATEHOUSE_TEST_ADMIN_PW", "s3cret");
    let c = load(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: ops, password: '${{GATEHOUSE_TEST_ADMIN_PW}}' }}\n    - {{ username: ro, password: plain }}\n"
    ))
    .unwrap();
    let users = c.admin.unwrap().users;
    assert_eq!(users[0].username, "ops");
    assert_eq!(users[0].password, "s3cret");
    assert_eq!(users[1].password, "plain");
    assert!(
        !format!("{users:?}").contains("s3cret"),
        "Debug hides passwords"
    );
}

#[test]
fn an_unset_password_variable_is_named() {
    let e = err(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: ops, password: '${{GATEHOUSE_TEST_UNSET_VAR}}' }}\n"
    ));
    assert_eq!(e.path, "admin.users[0].password");
    assert_eq!(
        e.reason,
        "environment variable GATEHOUSE_TEST_UNSET_VAR is not set"
    );
}

#[test]
fn admin_user_mistakes() {
    let e = err(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: 'a:b', password: x }}\n"
    ));
    assert_eq!(e.path, "admin.users[0].username");
    let e = err(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: a, password: x }}\n    - {{ username: a, password: y }}\n"
    ));
    assert_eq!(e.path, "admin.users[1].username");
    assert!(e.reason.contains("duplicate user 'a'"), "{e}");
    let e = err(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: a, pasword: x }}\n"
    ));
    assert_eq!(e.path, "admin.users[0].pasword");
}

#[test]
fn store_url_and_data_dir() {
    let c = load_str(
        &format!("{GOOD}store:\n  dataDir: state\n"),
        "conf/test.yaml",
        Path::new("conf"),
    )
    .unwrap();
    assert_eq!(c.store.data_dir, Path::new("conf/state"));
    assert_eq!(c.store.url, "sqlite://conf/state/gatehouse.db?mode=rwc");

    let c = load(&format!(
        "{GOOD}store:\n  url: postgres://gw@db.internal/gatehouse\n"
    ))
    .unwrap();
    assert_eq!(c.store.url, "postgres://gw@db.internal/gatehouse");

    let e = err(&format!("{GOOD}store:\n  url: mysql://u:pw@h/db\n"));
    assert_eq!(e.path, "store.url");
    assert!(e.reason.contains("unsupported scheme 'mysql'"), "{e}");
    assert!(!e.reason.contains("pw"), "no secrets in errors: {e}");

    let e = err(&format!("{GOOD}store:\n  uri: x\n"));
    assert_eq!(e.path, "store.uri");
}

#[test]
fn without_a_store_section_the_default_is_sqlite_under_the_data_dir() {
    let c = gatehouse_config::embedded_default();
    assert!(c.store.url.starts_with("sqlite://"), "{}", c.store.url);
    assert!(
        c.store.url.ends_with("/gatehouse.db?mode=rwc"),
        "{}",
        c.store.url
    );
    assert!(c
        .store
        .url
        .contains(&c.store.data_dir.display().to_string()));
}

#[test]
fn admin_listener_settings_and_their_mistakes() {
    let admin = |extra: &str| {
        format!("{GOOD}admin:\n  listen: 127.0.0.1:18888\n  users:\n    - {{ username: a, password: x }}\n{extra}")
    };
    let c = load(&admin("")).unwrap().admin.unwrap();
    assert_eq!(c.header_timeout.as_millis(), 10_000);
    assert_eq!(c.body_timeout.as_millis(), 30_000);
    assert_eq!(c.login_failure_max_delay.as_millis(), 5_000);
    assert!(!c.metrics_auth);
    assert!(c.tls.is_none());
    let c = load(&admin(
        "  headerTimeoutMs: 250\n  bodyTimeoutMs: 500\n  metricsAuth: true\n  loginFailureMaxDelayMs: 200\n",
    ))
    .unwrap()
    .admin
    .unwrap();
    assert_eq!(c.header_timeout.as_millis(), 250);
    assert_eq!(c.body_timeout.as_millis(), 500);
    assert_eq!(c.login_failure_max_delay.as_millis(), 200);
    assert!(c.metrics_auth);
    for (field, line) in [
        ("admin.headerTimeoutMs", "  headerTimeoutMs: 0\n"),
        ("admin.bodyTimeoutMs", "  bodyTimeoutMs: 99999999\n"),
        (
            "admin.loginFailureMaxDelayMs",
            "  loginFailureMaxDelayMs: 0\n",
        ),
        (
            "admin.tls.clientAuth",
            "  tls: { certFile: c.pem, keyFile: k.pem, clientAuth: maybe }\n",
        ),
        (
            "admin.tls.certFile",
            "  tls: { certFile: /nonexistent/c.pem, keyFile: k.pem }\n",
        ),
        (
            "admin.tls.sni",
            "  tls: { certFile: c.pem, keyFile: k.pem, sni: x }\n",
        ),
    ] {
        let e = err(&admin(line));
        assert_eq!(e.path, field, "{e}");
    }
    let e = err(&format!(
        "{GOOD}admin:\n  listen: 127.0.0.1:18888\n  metricsAuth: true\n"
    ));
    assert_eq!(e.path, "admin.metricsAuth");
    assert!(e.reason.contains("admin.users"), "{e}");
}
