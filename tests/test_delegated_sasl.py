"""Delegated SASL and the gateway's own upstream login, against an upstream that requires SASL:
a second Gatehouse with local accounts in front of Tansu (Tansu has no SASL/PLAIN)."""
from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from authn import TOKEN_SECRET_B64, gateway_token, plain_client, sasl_route
from clients import consume, create_topic, produce
from harness import TANSU_NODE_ID, domain, route
from tenants import put_virtual_cluster


def test_delegated_plain_and_the_gateway_login_through_an_upstream_that_requires_sasl(cluster):
    tansu = cluster.tansu()
    # The upstream: SASL/PLAIN with its own accounts, in front of Tansu.
    d_up = domain("tansu", tansu.bootstrap)
    upstream = cluster.gatehouse([d_up], [sasl_route(route("sasl", cluster.route_ports(d_up), "tansu"))],
                                 name="upstream-gw", env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    put_virtual_cluster(upstream, "team-u")
    put_virtual_cluster(upstream, "team-s")
    svc_token = gateway_token("svc", "team-s")

    # The gateway under test, whose upstream is that one.
    d = domain("secured", upstream.bootstrap("sasl"),
               node_ranges=[{"name": "up", "start": TANSU_NODE_ID, "end": TANSU_NODE_ID}])
    d["kafkaCluster"]["bootstrapServers"][0]["sasl"] = {"mechanism": "PLAIN", "username": "svc",
                                                        "password": "${SVC_TOKEN}"}
    delegated = sasl_route(route("delegated", cluster.route_ports(d), "secured"), "DELEGATED_SASL_PLAINTEXT")
    own = route("own-login", cluster.route_ports(d), "secured")
    g = cluster.gatehouse([d], [delegated, own], env={"SVC_TOKEN": svc_token})

    # Delegated: the upstream checks alice's token; the gateway learns her name from PLAIN.
    alice = plain_client("alice", gateway_token("alice", "team-u"))
    bs = g.bootstrap("delegated")
    create_topic_with(bs, "orders", alice)
    produce(bs, "orders", [b"delegated"], **alice)
    assert consume(bs, "orders", "app", 1, **alice) == [b"delegated"]
    assert "principal=alice" in g.log() and "authenticated by the upstream" in g.log()

    # A wrong password is refused by the upstream, and nothing else gets through.
    errors = []
    p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e),
                  **plain_client("alice", "wrong")})
    p.produce("orders", b"x")
    p.flush(4)
    assert any("authentication" in e.str().lower() for e in errors), errors

    # The gateway's own login: a PLAINTEXT client is served as 'svc' in the upstream.
    create_topic(g.bootstrap("own-login"), "orders")
    produce(g.bootstrap("own-login"), "orders", [b"as svc"])
    names = set(AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics)
    assert {"team-u.orders", "team-s.orders"} <= names
    assert svc_token not in g.log() and svc_token not in upstream.log()


def create_topic_with(bootstrap: str, topic: str, conf: dict) -> None:
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    for f in admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10).values():
        f.result(timeout=20)


def test_delegated_sasl_over_tls(cluster):
    from pki import CertificateAuthority

    tansu = cluster.tansu()
    d_up = domain("tansu", tansu.bootstrap)
    upstream = cluster.gatehouse([d_up], [sasl_route(route("sasl", cluster.route_ports(d_up), "tansu"))],
                                 name="upstream-gw", env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    put_virtual_cluster(upstream, "team-u")
    ca = CertificateAuthority(cluster.workdir)
    cert, key = ca.issue("gateway")
    d = domain("secured", upstream.bootstrap("sasl"),
               node_ranges=[{"name": "up", "start": TANSU_NODE_ID, "end": TANSU_NODE_ID}])
    delegated = sasl_route(route("delegated", cluster.route_ports(d), "secured"), "DELEGATED_SASL_SSL",
                           tls={"certFile": str(cert), "keyFile": str(key)})
    g = cluster.gatehouse([d], [delegated])
    conf = {**plain_client("alice", gateway_token("alice", "team-u"), "SASL_SSL"), "ssl.ca.location": str(ca.cert)}
    bs = g.bootstrap("delegated")
    create_topic_with(bs, "orders", conf)
    produce(bs, "orders", [b"delegated over tls"], **conf)
    assert consume(bs, "orders", "app", 1, **conf) == [b"delegated over tls"]
    assert "team-u.orders" in set(AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics)
