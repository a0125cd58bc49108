"""Client authentication: SASL/PLAIN with gateway tokens landing in virtual clusters, bad
credentials of every kind refused with the broker's error and no upstream traffic."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from authn import TOKEN_SECRET_B64, gateway_token, plain_client, sasl_route
from clients import consume, create_topic, produce
from harness import domain, route
from tenants import put_virtual_cluster


def sasl_gateway(cluster, protocol="SASL_PLAINTEXT", vc_route: str | None = None, **security):
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    secured = sasl_route(route("sasl", cluster.route_ports(d), "d"), protocol, **security)
    if vc_route:
        secured["virtualCluster"] = vc_route
    raw = route("raw", cluster.route_ports(d), "d")
    g = cluster.gatehouse([d], [secured, raw], env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    g.tansu = tansu
    return g


def topics(bootstrap: str, **conf) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap, **conf}).list_topics(timeout=10).topics)


def upstream_requests(g) -> int:
    for line in g.metrics().splitlines():
        if line.startswith("gatehouse_requests_forwarded_total "):
            return int(line.split()[1])
    return 0


def test_plain_tokens_land_each_client_in_its_virtual_cluster(cluster):
    g = sasl_gateway(cluster)
    put_virtual_cluster(g, "team-a")
    put_virtual_cluster(g, "team-b")
    bs = g.bootstrap("sasl")

    def issued(username: str, vcluster: str) -> str:  # as an operator gets it: from the API
        r = g.api("POST", "token", {"username": username, "vCluster": vcluster, "lifeTimeSeconds": 3600})
        assert r.status == 200, r.raw
        return r.json["token"]

    alice = plain_client("alice", issued("alice", "team-a"))
    bob = plain_client("bob", issued("bob", "team-b"))
    create_topic_with(bs, "orders", alice)
    create_topic_with(bs, "orders", bob)
    produce(bs, "orders", [b"from alice"], **alice)
    produce(bs, "orders", [b"from bob"] * 2, **bob)
    assert consume(bs, "orders", "app", 1, **alice) == [b"from alice"]
    assert consume(bs, "orders", "app", 2, **bob) == [b"from bob"] * 2
    assert topics(bs, **alice) == {"orders"}
    assert {"team-a.orders", "team-b.orders"} <= topics(g.bootstrap("raw"))
    log = g.log()
    assert "principal=alice" in log and "principal=bob" in log
    # Secrets never reach the log.
    assert alice["sasl.password"] not in log and TOKEN_SECRET_B64 not in log


def create_topic_with(bootstrap: str, topic: str, conf: dict) -> None:
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    for f in admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10).values():
        f.result(timeout=20)


BAD = {
    "wrong password": lambda: plain_client("alice", "not-a-token"),
    "token of another user": lambda: plain_client("mallory", gateway_token("alice", "team-a")),
    "expired token": lambda: plain_client("alice", gateway_token("alice", "team-a", issued_at=time.time() - 7200)),
    "not yet valid": lambda: plain_client("alice", gateway_token("alice", "team-a", issued_at=time.time() + 3600)),
    "wrongly signed": lambda: plain_client("alice", gateway_token("alice", "team-a", key=b"x" * 40)),
    "unknown virtual cluster": lambda: plain_client("alice", gateway_token("alice", "nowhere")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_credentials_are_refused_with_sasl_authentication_failed(cluster, case):
    g = sasl_gateway(cluster)
    put_virtual_cluster(g, "team-a")
    bs = g.bootstrap("sasl")
    before = upstream_requests(g)
    errors = []
    p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e), **BAD[case]()})
    p.produce("orders", b"x")
    p.flush(5)
    assert any(e.code() == -169 or "Authentication" in e.str() or "SASL" in e.str() for e in errors), errors
    assert upstream_requests(g) == before, "nothing may reach the upstream before authentication"
    assert "authentication failed" in g.log()
    # The gateway keeps serving everyone else.
    good = plain_client("alice", gateway_token("alice", "team-a"))
    create_topic_with(bs, "ok", good)
    produce(bs, "ok", [b"fine"], **good)


def test_gateway_without_a_token_key_refuses_to_start_a_plain_route(cluster):
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    g = cluster.gatehouse([d], [sasl_route(route("sasl", cluster.route_ports(d), "d"))], start=False)
    g.start(wait=False)
    assert g.proc.wait(timeout=15) != 0
    assert "no token key is configured" in g.log()


def test_kafka_python_authenticates_with_a_gateway_token(cluster):
    from kafka import KafkaConsumer, KafkaProducer

    g = sasl_gateway(cluster)
    put_virtual_cluster(g, "team-k")
    bs = g.bootstrap("sasl")
    auth = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "kim",
            "sasl_plain_password": gateway_token("kim", "team-k")}
    producer = KafkaProducer(bootstrap_servers=bs, acks="all", **auth)
    producer.send("events", b"from kafka-python").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer("events", bootstrap_servers=bs, group_id="app", auto_offset_reset="earliest",
                             consumer_timeout_ms=20000, session_timeout_ms=6000, heartbeat_interval_ms=500, **auth)
    assert [m.value for m in consumer][:1] == [b"from kafka-python"]
    consumer.close()
    assert "team-k.events" in topics(g.bootstrap("raw"))


def test_repeated_failures_from_one_address_are_logged_counted_and_slowed(cluster):
    import struct

    import rawkafka

    g = sasl_gateway(cluster)
    port = g.route_port("sasl")

    def attempt() -> float:
        s = rawkafka.connect(port)
        s.sendall(rawkafka.request(17, 1, 1, struct.pack(">h", 5) + b"PLAIN"))
        rawkafka.read_frame(s)
        auth = b"\0mallory\0guess"
        start = time.monotonic()
        s.sendall(rawkafka.request(36, 1, 2, struct.pack(">i", len(auth)) + auth))
        f = rawkafka.read_frame(s)
        assert struct.unpack(">h", f[4:6])[0] == 58
        s.close()
        return time.monotonic() - start

    quick = [attempt() for _ in range(5)]
    slowed = attempt()
    assert max(quick) < 0.5 and slowed >= 0.9, (quick, slowed)
    assert "repeated authentication failures" in g.log()
    assert 'gatehouse_client_protocol_errors_total{reason="authentication_failed"} 6' in g.metrics()
    assert "guess" not in g.log()
