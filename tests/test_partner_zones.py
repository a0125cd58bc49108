"""Partner zones end to end (issue 15): `gatehouse partner onboard` against a real gateway and
Tansu, the printed client.properties used verbatim by confluent-kafka (librdkafka) and
kafka-python consumers reading the zone's READ topics (seeded directly on their backing topics),
a WRITE topic accepting a produce and a READ topic refusing one, bad zones refused with the field
named and nothing half-applied, credentials revoked one by one, and offboarding with two gateways
on one PostgreSQL: the consumer connected through the second gateway loses its connection within
a bound of `offboard` on the first and cannot reconnect with any of the zone's tokens.

Deny by default is the zone's ACLs, enforced by the data plane: what its permissions do not grant
(creating topics, transactions in a read-only zone, managing ACLs) is refused with Kafka's codes."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import FAST_GROUP, create_topic, produce, unique
from harness import domain, route
from tenants import wait_until

SECRET = "a token secret for the partner zone tests, 32+ bytes"

ZONE = """\
apiVersion: gateway/v2
kind: PartnerZone
metadata: {name: acme}
spec:
  displayName: Acme Corp
  contact: integrations@acme.example
  route: partners
  topics:
    - {name: orders, backingTopic: sales.orders, permission: READ}
    - {name: returns, backingTopic: sales.returns}
    - {name: feedback, backingTopic: partner-feedback, permission: WRITE}
  trafficLimits: {consumeBytesPerSecond: 1048576, commitsPerMinute: 600}
"""


def gateway(cluster, tansu, name="gatehouse", store=None):
    d = domain("d", tansu.bootstrap)
    r = route("partners", cluster.route_ports(d), "d")
    r["security"] = {"protocol": "SASL_PLAINTEXT"}
    g = cluster.gatehouse([d], [r], name=name, store=store, start=False)
    g.config["auth"] = {"tokenSecret": SECRET}
    return g.start()


def seed(tansu):
    for t in ("sales.orders", "sales.returns", "partner-feedback", "sales.secret"):
        create_topic(tansu.bootstrap, t)
    produce(tansu.bootstrap, "sales.orders", [b"orders-%d" % i for i in range(20)])
    produce(tansu.bootstrap, "sales.returns", [b"returns-%d" % i for i in range(10)])
    produce(tansu.bootstrap, "sales.secret", [b"secret"])


def properties(text: str) -> dict:
    """A client.properties file as librdkafka's and Java's readers see it."""
    conf = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        conf[key] = value
    return conf


def kafka_python_config(conf: dict) -> dict:
    """The small loader a kafka-python user writes for the same file."""
    names = {"bootstrap.servers": "bootstrap_servers", "security.protocol": "security_protocol",
             "sasl.mechanism": "sasl_mechanism", "sasl.username": "sasl_plain_username",
             "sasl.password": "sasl_plain_password", "ssl.ca.location": "ssl_cafile"}
    unknown = set(conf) - set(names)
    assert not unknown, f"keys the loader does not know: {unknown}"
    return {names[k]: v for k, v in conf.items()}


def onboard(g, cluster, text=ZONE, *args):
    f = cluster.workdir / "zone.yaml"
    f.write_text(text)
    return g.cli("partner", "onboard", "-f", str(f), *args)


def read(conf: dict, topic: str, count: int, timeout: float = 60) -> list[bytes]:
    c = Consumer({**conf, "group.id": unique("g"), "auto.offset.reset": "earliest", **FAST_GROUP})
    c.subscribe([topic])
    got: list[bytes] = []
    deadline = time.time() + timeout
    try:
        while len(got) < count and time.time() < deadline:
            for m in c.consume(num_messages=100, timeout=0.5):
                assert not m.error(), m.error()
                got.append(m.value())
    finally:
        c.close()
    return got


@pytest.fixture
def tansu(cluster):
    t = cluster.tansu()
    seed(t)
    return t


def test_onboard_prints_properties_that_librdkafka_and_kafka_python_use_verbatim(cluster, tansu):
    g = gateway(cluster, tansu)
    out = onboard(g, cluster, ZONE, "--lifetime", "1h")
    assert out.returncode == 0, out.stderr
    assert "PartnerZone/acme: CREATED" in out.stderr and "not enforced yet" in out.stderr, out.stderr
    conf = properties(out.stdout)
    assert conf["bootstrap.servers"] == g.bootstrap("partners")
    assert (conf["security.protocol"], conf["sasl.mechanism"], conf["sasl.username"]) == (
        "SASL_PLAINTEXT", "PLAIN", "acme")
    assert "ssl.ca.location" not in conf, "the route does not use TLS"
    assert conf["sasl.password"] not in out.stderr, "the token goes to stdout only"
    assert conf["sasl.password"] not in g.log()

    # librdkafka, with the file as is: the zone's topics and nothing else.
    md = AdminClient(dict(conf)).list_topics(timeout=15)
    assert sorted(t for t in md.topics if not t.startswith("__")) == ["feedback", "orders", "returns"]
    assert sorted(read(conf, "orders", 20)) == sorted(b"orders-%d" % i for i in range(20))
    assert sorted(read(conf, "returns", 10)) == sorted(b"returns-%d" % i for i in range(10))

    # kafka-python, through the loader.
    from kafka import KafkaConsumer
    consumer = KafkaConsumer("orders", "returns", group_id=unique("kp"), auto_offset_reset="earliest",
                             consumer_timeout_ms=20000, session_timeout_ms=6000, heartbeat_interval_ms=500,
                             **kafka_python_config(conf))
    got = []
    for m in consumer:
        got.append(m.value)
        if len(got) == 30:
            break
    consumer.close()
    assert sorted(got) == sorted([b"orders-%d" % i for i in range(20)] + [b"returns-%d" % i for i in range(10)])

    # A WRITE topic takes a produce (it lands on its backing topic); a READ topic refuses one.
    errors: list = []
    p = Producer({**conf, "acks": "all", "linger.ms": 0, "message.send.max.retries": 0})
    p.produce("feedback", b"thanks from acme", on_delivery=lambda err, msg: errors.append(err))
    p.produce("orders", b"not allowed", on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert sorted((e.code() if e else 0) for e in errors) == sorted([0, KafkaError.TOPIC_AUTHORIZATION_FAILED])
    c = Consumer({"bootstrap.servers": tansu.bootstrap, "group.id": unique("check"), "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("partner-feedback", 0, 0)])
    try:
        m = wait_until(lambda: c.poll(1), timeout=20, what="the record on partner-feedback")
        assert m.value() == b"thanks from acme"
    finally:
        c.close()

    # GET shows the zone READY, its credential, and the ACLs its permissions imply.
    shown = g.cli("partner", "get", "acme")
    assert shown.returncode == 0 and "state: READY" in shown.stdout, shown.stderr
    assert conf["sasl.password"] not in shown.stdout
    zone = g.api("GET", "partner-zone/acme").json
    assert zone["status"]["state"] == "READY" and len(zone["status"]["credentials"]) == 1
    vc = g.api("GET", "virtual-cluster/acme").json["spec"]
    assert (vc["type"], vc["aclEnabled"], vc["superUsers"]) == ("Partner", True, [])
    acls = {(a["resourcePattern"]["resourceType"], a["resourcePattern"]["name"], a["operation"]) for a in vc["acls"]}
    assert acls == {("TOPIC", "orders", "READ"), ("TOPIC", "returns", "READ"), ("TOPIC", "feedback", "READ"),
                    ("TOPIC", "feedback", "WRITE"), ("GROUP", "*", "READ"),
                    ("TRANSACTIONAL_ID", "*", "WRITE"), ("TRANSACTIONAL_ID", "*", "DESCRIBE")}
    assert all(a["principal"] == "User:acme" for a in vc["acls"])

    # Re-applying without a topic removes its alias and ACLs.
    out = onboard(g, cluster, ZONE.replace("    - {name: returns, backingTopic: sales.returns}\n", ""),
                  "--no-credentials")
    assert out.returncode == 0 and "removed AliasTopic/returns (vCluster acme)" in out.stderr, out.stderr
    md = AdminClient(dict(conf)).list_topics(timeout=15)
    assert sorted(t for t in md.topics if not t.startswith("__")) == ["feedback", "orders"]
    vc = g.api("GET", "virtual-cluster/acme").json["spec"]
    assert not [a for a in vc["acls"] if a["resourcePattern"]["name"] == "returns"]


def refused(out, field: str):
    assert out.returncode != 0, out.stdout
    assert f"{field}: " in out.stderr, out.stderr
    return out.stderr


def test_bad_input_is_refused_with_the_field_named_and_nothing_half_applied(cluster, tansu):
    g = gateway(cluster, tansu)
    assert g.api("PUT", "virtual-cluster", {"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                                            "metadata": {"name": "taken"}}).status == 200
    cases = [
        # An unknown streaming domain.
        (ZONE.replace("backingTopic: sales.returns}", "backingTopic: sales.returns, physicalCluster: nowhere}"),
         "spec.topics[1].physicalCluster"),
        (ZONE.replace("  route: partners\n", "  route: partners\n  homeDomain: nowhere\n"), "spec.homeDomain"),
        # A WRITE topic off the home domain.
        (ZONE.replace("permission: WRITE}", "permission: WRITE, physicalCluster: other}"),
         "spec.topics[2].physicalCluster"),
        # A name colliding with a virtual cluster no zone manages.
        (ZONE.replace("metadata: {name: acme}", "metadata: {name: taken}"), "metadata.name"),
        # An unknown route, an unknown field.
        (ZONE.replace("route: partners", "route: elsewhere"), "spec.route"),
        (ZONE.replace("  contact:", "  colour: red\n  contact:"), "spec.colour"),
    ]
    for text, field in cases:
        err = refused(onboard(g, cluster, text), field)
        assert "zone.yaml" in err, err
        assert g.api("GET", "partner-zone").json == []
        assert [v["metadata"]["name"] for v in g.api("GET", "virtual-cluster").json] == ["taken"]
        assert g.api("GET", "alias-topic").json == [] and g.api("GET", "service-account").json == []
    # An ACL with an unknown operation, in a virtual cluster's spec.acls.
    f = cluster.workdir / "vc.yaml"
    f.write_text("""\
apiVersion: gateway/v2
kind: VirtualCluster
metadata: {name: acl-test}
spec:
  aclEnabled: true
  acls:
    - resourcePattern: {resourceType: TOPIC, name: orders}
      principal: User:acme
      operation: FLY
      permissionType: ALLOW
""")
    refused(g.cli("apply", "-f", str(f)), "spec.acls[0].operation")
    assert g.api("GET", "virtual-cluster/acl-test").status == 404

    # A dry run answers as if applied and saves nothing.
    out = onboard(g, cluster, ZONE, "--dry-run")
    assert out.returncode == 0 and "PartnerZone/acme: CREATED (dry run)" in out.stderr, out.stderr
    assert out.stdout == "" and g.api("GET", "partner-zone").json == []
    # What a zone manages is not the ordinary API's to change.
    assert onboard(g, cluster).returncode == 0
    err = refused(g.cli("delete", "virtual-cluster", "acme"), "VirtualCluster/acme is managed by partner zone 'acme'")
    assert "gatehouse partner offboard acme" in err
    assert g.api("GET", "virtual-cluster/acme").status == 200
    # Errors a user can cause say what to change.
    out = g.cli("partner", "revoke-credentials", "acme", "--token", "not-a-token-id")
    assert out.returncode != 0 and "has no token with id" in out.stderr, out.stderr
    out = g.cli("partner", "offboard", "nobody")
    assert out.returncode != 0 and "no PartnerZone named 'nobody'" in out.stderr, out.stderr


def test_revoking_one_credential_leaves_the_others_working(cluster, tansu):
    g = gateway(cluster, tansu)
    first = onboard(g, cluster)
    assert first.returncode == 0, first.stderr
    second = g.cli("partner", "credentials", "acme", "--lifetime", "1h")
    assert second.returncode == 0, second.stderr
    c1, c2 = properties(first.stdout), properties(second.stdout)
    assert c1["sasl.password"] != c2["sasl.password"]
    first_id = next(c["id"] for c in g.api("GET", "partner-zone/acme").json["status"]["credentials"]
                    if c["id"] in first.stderr)
    out = g.cli("partner", "revoke-credentials", "acme", "--token", first_id)
    assert out.returncode == 0 and f"token {first_id}: REVOKED" in out.stdout, out.stderr
    with pytest.raises(KafkaException):
        AdminClient(dict(c1)).list_topics(timeout=5)
    assert "orders" in AdminClient(dict(c2)).list_topics(timeout=15).topics
    out = g.cli("partner", "operations", "acme")
    ops = [line.split()[2] for line in out.stdout.splitlines()]
    assert ops == ["CREATED", "CREDENTIALS_ISSUED", "CREDENTIALS_ISSUED", "CREDENTIALS_REVOKED"], out.stdout
    assert all(" by admin " in line for line in out.stdout.splitlines())


def test_offboarding_on_one_gateway_ends_the_partner_on_the_other(cluster, tansu, postgres):
    a = gateway(cluster, tansu, name="gw-a", store={"url": postgres.url})
    b = gateway(cluster, tansu, name="gw-b", store={"url": postgres.url})
    out = onboard(a, cluster, ZONE, "--lifetime", "1h")
    assert out.returncode == 0, out.stderr
    extra = a.cli("partner", "credentials", "acme")
    assert extra.returncode == 0, extra.stderr
    # The same file, pointed at the second gateway.
    conf = {**properties(out.stdout), "bootstrap.servers": b.bootstrap("partners")}
    tokens = [conf["sasl.password"], properties(extra.stdout)["sasl.password"]]
    wait_until(lambda: b.api("GET", "partner-zone/acme").status == 200, timeout=5, what="the zone on gw-b")

    lost: list[float] = []

    def on_error(err):
        if err.code() in (KafkaError._TRANSPORT, KafkaError._AUTHENTICATION, KafkaError._ALL_BROKERS_DOWN):
            lost.append(time.monotonic())

    c = Consumer({**conf, "group.id": unique("live"), "auto.offset.reset": "earliest", "error_cb": on_error,
                  **FAST_GROUP})
    c.subscribe(["orders"])
    try:
        wait_until(lambda: c.poll(0.5), timeout=30, what="a first record through the second gateway")
        assert not lost, "no connection lost before offboarding"
        offboarded = time.monotonic()
        off = a.cli("partner", "offboard", "acme")
        assert off.returncode == 0, off.stderr
        assert off.stdout.count(": REVOKED") == 2 and "PartnerZone/acme: OFFBOARDED" in off.stdout, off.stdout
        while not lost:
            assert time.monotonic() - offboarded < 3, "the consumer on the second gateway still connected after 3 s"
            c.poll(0.05)
        print(f"connection through gw-b lost {lost[0] - offboarded:.3f} s after offboard started on gw-a")
    finally:
        c.close()
    # No token of the zone gets back in, on either gateway.
    for token in tokens:
        for g in (a, b):
            with pytest.raises(KafkaException):
                AdminClient({**conf, "sasl.password": token, "bootstrap.servers": g.bootstrap("partners")}
                            ).list_topics(timeout=3)
    assert "token revoked" in b.log()
    # The physical topics are untouched; the operations stay listed after the zone is gone.
    assert "sales.orders" in AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics
    ops = [o["operation"] for o in b.api("GET", "partner-zone-operations?zone=acme").json]
    assert ops == ["CREATED", "CREDENTIALS_ISSUED", "CREDENTIALS_ISSUED", "OFFBOARDED"]
    assert b.api("GET", "partner-zone/acme").status == 404
    for g in (a, b):
        assert not any(t in g.log() for t in tokens)


def tls_gateway(cluster, tansu, ca):
    """Routes `partners-tls` (SASL_SSL) and `mtls` (SSL, client certificates required, the CN
    as the principal)."""
    cert, key = ca.issue("gateway")
    d = domain("d", tansu.bootstrap)
    sasl_ssl = route("partners-tls", cluster.route_ports(d), "d")
    sasl_ssl["security"] = {"protocol": "SASL_SSL", "tls": {"certFile": str(cert), "keyFile": str(key)}}
    mtls = route("mtls", cluster.route_ports(d), "d")
    mtls["security"] = {"protocol": "SSL", "principalMappingRules": "RULE:^CN=([^,]+).*$/$1/,DEFAULT",
                        "tls": {"certFile": str(cert), "keyFile": str(key), "clientAuth": "required",
                                "caFile": str(ca.cert)}}
    g = cluster.gatehouse([d], [sasl_ssl, mtls], start=False)
    g.config["auth"] = {"tokenSecret": SECRET}
    return g.start()


def test_tls_routes_sasl_ssl_with_the_ca_to_trust_and_an_mtls_zone(cluster, tansu):
    from pki import CertificateAuthority

    ca = CertificateAuthority(cluster.workdir)
    g = tls_gateway(cluster, tansu, ca)
    out = onboard(g, cluster, ZONE.replace("route: partners", "route: partners-tls"),
                  "--lifetime", "1h", "--ca-location", str(ca.cert))
    assert out.returncode == 0, out.stderr
    conf = properties(out.stdout)
    assert (conf["security.protocol"], conf["ssl.ca.location"]) == ("SASL_SSL", str(ca.cert))
    assert f"#   ssl.truststore.location={ca.cert}" in out.stdout, "the Java equivalent, as a comment"
    assert sorted(read(conf, "orders", 20)) == sorted(b"orders-%d" % i for i in range(20))
    from kafka import KafkaConsumer
    consumer = KafkaConsumer("returns", group_id=unique("kp"), auto_offset_reset="earliest",
                             consumer_timeout_ms=20000, session_timeout_ms=6000, heartbeat_interval_ms=500,
                             **kafka_python_config(conf))
    got = []
    for m in consumer:
        got.append(m.value)
        if len(got) == 10:
            break
    consumer.close()
    assert sorted(got) == sorted(b"returns-%d" % i for i in range(10))

    # An MTLS zone: no token, the properties say what the partner adds (its certificate).
    mtls_zone = """\
apiVersion: gateway/v2
kind: PartnerZone
metadata: {name: globex}
spec:
  route: mtls
  authenticationMode: MTLS
  externalPrincipal: globex-app
  topics:
    - {name: orders, backingTopic: sales.orders}
"""
    out = onboard(g, cluster, mtls_zone)
    assert out.returncode == 0, out.stderr
    assert "no token is issued" in out.stderr and "sasl.password" not in out.stdout, out.stdout
    conf = properties(out.stdout)
    assert conf["security.protocol"] == "SSL" and "ssl.certificate.location" in out.stdout
    cert, key = ca.issue("globex-client", subject="/CN=globex-app")
    conf = {**conf, "ssl.ca.location": str(ca.cert), "ssl.certificate.location": str(cert),
            "ssl.key.location": str(key)}
    md = AdminClient(dict(conf)).list_topics(timeout=15)
    assert sorted(t for t in md.topics if not t.startswith("__")) == ["orders"]
    assert sorted(read(conf, "orders", 20)) == sorted(b"orders-%d" % i for i in range(20))
    out = g.cli("partner", "credentials", "globex")
    assert out.returncode != 0 and "MTLS" in out.stderr, out.stderr


def test_deny_by_default_what_the_permissions_do_not_grant_is_refused(cluster, tansu):
    from confluent_kafka.admin import NewTopic

    g = gateway(cluster, tansu)
    read_only = ZONE.replace("    - {name: feedback, backingTopic: partner-feedback, permission: WRITE}\n", "")
    out = onboard(g, cluster, read_only, "--lifetime", "1h")
    assert out.returncode == 0, out.stderr
    conf = properties(out.stdout)
    # Groups are granted (READ on every group of the zone): consuming works.
    assert len(read(conf, "orders", 20)) == 20
    # No CREATE: the partner cannot make topics of its own.
    admin = AdminClient(dict(conf))  # kept: its futures fail when it is collected
    futures = admin.create_topics([NewTopic("mine", 1, 1)], operation_timeout=10)
    with pytest.raises(KafkaException) as refused:
        futures["mine"].result(timeout=20)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert "acme.mine" not in AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics
    # A read-only zone has no transactional ids.
    p = Producer({**conf, "transactional.id": "tx-1"})
    with pytest.raises(KafkaException) as refused:
        p.init_transactions(15)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # Nor may it change its ACLs (no super user).
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
    binding = AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:acme", "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    futures = admin.create_acls([binding], request_timeout=10)
    with pytest.raises(KafkaException) as refused:
        futures[binding].result(timeout=20)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
