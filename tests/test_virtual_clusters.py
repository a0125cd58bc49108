"""Virtual clusters with real clients: two tenants on one Tansu, each with a topic `orders` and
a group `app`, see and touch only their own; the physical cluster holds both under prefixes."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from clients import FAST_GROUP, consume, create_topic, produce
from harness import domain, route
from tenants import put_virtual_cluster, refused_connections, tenant_gateway, wait_until


def topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def groups(bootstrap: str) -> set[str]:
    # librdkafka's list_consumer_groups fails against Tansu even directly; kafka-python's works.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()


def kafka_python_round_trip(bootstrap: str, topic: str, group: str, values: list[bytes]) -> list[bytes]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for v in values:
        producer.send(topic, v)
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
                             fetch_max_wait_ms=50, consumer_timeout_ms=30000)
    got: list[bytes] = []
    for m in consumer:
        got.append(m.value)
        if len(got) >= len(values):
            break
    consumer.commit()
    consumer.close()
    return got


def test_two_tenants_each_see_only_their_own(cluster):
    g = tenant_gateway(cluster, {"a": "tenant-a", "b": "tenant-b", "raw": None})
    put_virtual_cluster(g, "tenant-a")
    put_virtual_cluster(g, "tenant-b", prefix="bee_", separator="_")
    a, b, raw = g.bootstrap("a"), g.bootstrap("b"), g.bootstrap("raw")

    # Tenant A uses librdkafka, tenant B kafka-python: the same names, different data.
    create_topic(a, "orders")
    produce(a, "orders", [f"a-{i}".encode() for i in range(20)])
    KafkaAdminClient(bootstrap_servers=b).create_topics(
        [__import__("kafka.admin", fromlist=["NewTopic"]).NewTopic("orders", 1, 1)])
    got_b = kafka_python_round_trip(b, "orders", "app", [f"b-{i}".encode() for i in range(15)])
    got_a = consume(a, "orders", "app", 20)

    assert sorted(got_a) == sorted(f"a-{i}".encode() for i in range(20))
    assert sorted(got_b) == sorted(f"b-{i}".encode() for i in range(15))
    assert topics(a) == {"orders"}
    assert topics(b) == {"orders"}
    assert groups(a) == {"app"}
    assert groups(b) == {"app"}
    assert set(KafkaAdminClient(bootstrap_servers=b).list_topics()) == {"orders"}

    # The physical cluster holds both, under their prefixes.
    assert {"tenant-a.orders", "bee_orders"} <= topics(raw)
    assert {"tenant-a.app", "bee_app"} <= groups(raw)
    # librdkafka consumed by topic id (Fetch v13+): ids were learned and allowed for the owner.
    assert len(consume(raw, "bee_orders", "raw-check", 15)) == 15


def test_a_tenant_naming_another_tenants_topic_stays_in_its_own_namespace(cluster):
    g = tenant_gateway(cluster, {"a": "a", "b": "b", "raw": None})
    put_virtual_cluster(g, "a")
    put_virtual_cluster(g, "b")
    a, b, raw = g.bootstrap("a"), g.bootstrap("b"), g.bootstrap("raw")
    create_topic(b, "orders")
    produce(b, "orders", [b"b-secret"] * 5)

    # A asks for B's upstream name: it gets (and creates) its own topic "b.orders" = a.b.orders.
    create_topic(a, "b.orders")
    produce(a, "b.orders", [b"from-a"] * 3)
    assert sorted(consume(a, "b.orders", "app", 3)) == [b"from-a"] * 3
    assert consume(b, "orders", "app", 5) == [b"b-secret"] * 5
    assert "a.b.orders" in topics(raw)
    assert len(consume(raw, "b.orders", "raw-check", 5, timeout=20)) == 5


def test_topic_names_too_long_once_prefixed_are_refused_clearly(cluster):
    g = tenant_gateway(cluster, {"a": "long-tenant-name"})
    put_virtual_cluster(g, "long-tenant-name")
    a = g.bootstrap("a")
    limit = 249 - len("long-tenant-name.")
    admin = AdminClient({"bootstrap.servers": a})
    futures = admin.create_topics([NewTopic("x" * (limit + 1), 1, 1), NewTopic("bad/name", 1, 1)],
                                  operation_timeout=10)
    for name, f in futures.items():
        with pytest.raises(KafkaException) as e:
            f.result(timeout=20)
        err = e.value.args[0]
        assert err.code() == 17, (name, err)  # INVALID_TOPIC_EXCEPTION
        assert ("at most %d" % limit) in err.str() or "'/'" in err.str(), err.str()
    # A name at the limit works, and the gateway keeps serving the connection and others.
    create_topic(a, "y" * limit)
    produce(a, "y" * limit, [b"ok"])
    assert consume(a, "y" * limit, "app", 1) == [b"ok"]


def test_a_route_waits_for_its_virtual_cluster_and_follows_it(cluster):
    g = tenant_gateway(cluster, {"late": "late"})
    late = g.bootstrap("late")

    # Not created yet: connections are refused, counted and logged with the reason.
    before = refused_connections(g)
    failed = []
    p = Producer({"bootstrap.servers": late, "message.timeout.ms": 3000})
    p.produce("orders", b"x", on_delivery=lambda err, msg: failed.append(err))
    p.flush(10)
    assert failed and failed[0] is not None
    assert refused_connections(g) > before
    assert "virtual cluster 'late' does not exist" in g.log()

    # Applied while the gateway runs: served without a restart.
    put_virtual_cluster(g, "late")
    create_topic(late, "events")
    produce(late, "events", [b"hello"])
    assert consume(late, "events", "app", 1) == [b"hello"]

    # The route refers to it, so it cannot be deleted while the configuration names it.
    r = g.api("DELETE", "virtual-cluster/late")
    assert r.status == 409, (r.status, r.raw)
    assert "route" in r.json["msg"], r.json
    produce(late, "events", [b"still served"])


def test_a_virtual_cluster_applied_on_one_gateway_serves_clients_of_another(cluster, postgres):
    """Two gateway processes on one PostgreSQL store: a virtual cluster created through the
    first reaches the second's data plane within about a second, no restart."""
    g1 = tenant_gateway(cluster, {"raw": None}, name="gw-1", store={"url": postgres.url})
    tansu = g1.tansu
    d = domain("d", tansu.bootstrap)
    r = route("shared", cluster.route_ports(d), "d")
    r["virtualCluster"] = "shared"
    g2 = cluster.gatehouse([d], [r], name="gw-2", store={"url": postgres.url})
    before = refused_connections(g2)
    p = Producer({"bootstrap.servers": g2.bootstrap("shared"), "message.timeout.ms": 2000})
    p.produce("orders", b"x")
    p.flush(5)
    assert refused_connections(g2) > before

    put_virtual_cluster(g1, "shared")
    start = time.monotonic()
    # The second gateway polls the store; its catalog follows within about a second.
    wait_until(lambda: "revision=1" in g2.log(), timeout=3, what="gw-2 to see the new revision")
    assert time.monotonic() - start < 2.0
    create_topic(g2.bootstrap("shared"), "events")
    produce(g2.bootstrap("shared"), "events", [b"via gw-2"])
    assert "shared.events" in topics(g1.bootstrap("raw"))
