"""Alias topics across streaming domains, with real brokers and real clients (issue 14).

Two Tansu clusters, d1 and d2. Virtual cluster `partner-a` (home d1) on route `partner`, which
shows both domains (d2's broker, node 111 like d1's, is virtual node 1000). It has its own topic
`inbox`, a READ alias `orders` → d1 `sales.orders`, a READ alias `returns` → d2 `returns` and
a WRITE alias `feedback` → d1 `partner-feedback`. Records are produced to the physical topics
directly, then read and written through the gateway."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import FAST_GROUP, create_topic, produce, unique
from harness import domain, route
from tenants import put_virtual_cluster, wait_until

VC = "partner-a"
PREFIX = "partner-a."


def alias_doc(name: str, physical: str, cluster: str | None = None, access: str | None = None) -> dict:
    spec: dict = {"physicalName": physical}
    if cluster:
        spec["physicalCluster"] = cluster
    if access:
        spec["access"] = access
    return {"apiVersion": "gateway/v2", "kind": "AliasTopic",
            "metadata": {"name": name, "vCluster": VC}, "spec": spec}


def put_alias(g, *args, **kw) -> None:
    r = g.api("PUT", "alias-topic", alias_doc(*args, **kw))
    assert r.status == 200, (r.status, r.raw)


class Partner:
    """The two domains, the gateway and the partner's resources."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.d1, self.d2 = cluster.tansu("d1"), cluster.tansu("d2")
        port = cluster.ports.block(3)  # bootstrap, d1's 111, d2's 111 as 1000
        r = route("partner", port, "d1")
        r["virtualCluster"] = VC
        r["additionalStreamingDomains"] = [{"name": "d2", "bootstrapServerId": "main", "virtualNodeIdStart": 1000}]
        self.port = port
        self.g = cluster.gatehouse([domain("d1", self.d1.bootstrap), domain("d2", self.d2.bootstrap)], routes=[r])
        put_virtual_cluster(self.g, VC)
        for t in ("sales.orders", "partner-feedback", "sales.secret", PREFIX + "inbox"):
            create_topic(self.d1.bootstrap, t)
        for t in ("returns", "d2.secret"):
            create_topic(self.d2.bootstrap, t)
        put_alias(self.g, "orders", "sales.orders", access="READ")
        put_alias(self.g, "returns", "returns", cluster="d2")
        put_alias(self.g, "feedback", "partner-feedback", access="WRITE")
        self.bootstrap = self.g.bootstrap("partner")
        # Records produced to the physical topics directly.
        produce(self.d1.bootstrap, PREFIX + "inbox", [b"inbox-%d" % i for i in range(20)])
        produce(self.d1.bootstrap, "sales.orders", [b"orders-%d" % i for i in range(30)])
        produce(self.d2.bootstrap, "returns", [b"returns-%d" % i for i in range(25)])
        produce(self.d1.bootstrap, "sales.secret", [b"secret"])
        produce(self.d2.bootstrap, "d2.secret", [b"secret"])

    def topics(self) -> dict:
        return AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=10).topics


@pytest.fixture
def partner(cluster):
    return Partner(cluster)


def test_metadata_lists_exactly_the_tenants_topics_and_both_domains_brokers(partner):
    md = AdminClient({"bootstrap.servers": partner.bootstrap}).list_topics(timeout=10)
    assert sorted(t for t in md.topics if not t.startswith("__")) == ["feedback", "inbox", "orders", "returns"]
    assert sorted((b.id, b.port) for b in md.brokers.values()) == [(111, partner.port + 1), (1000, partner.port + 2)]
    # Each partition's leader is the virtual broker of its own domain.
    assert md.topics["returns"].partitions[0].leader == 1000
    assert md.topics["orders"].partitions[0].leader == 111
    assert md.topics["inbox"].partitions[0].leader == 111
    # DescribeCluster shows the brokers of both domains too.
    admin = AdminClient({"bootstrap.servers": partner.bootstrap})  # (kept: the future needs its handle)
    described = admin.describe_cluster(request_timeout=10).result()
    assert sorted(n.id for n in described.nodes) == [111, 1000]

    # kafka-python sees the same.
    from kafka import KafkaConsumer
    c = KafkaConsumer(bootstrap_servers=partner.bootstrap)
    try:
        assert sorted(t for t in c.topics() if not t.startswith("__")) == ["feedback", "inbox", "orders", "returns"]
        assert c.partitions_for_topic("returns") == {0}
    finally:
        c.close()


# What a consumer reports, and retries, while a topic's domain is away or the topic is new.
TRANSIENT = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._UNKNOWN_TOPIC,
             KafkaError._TRANSPORT)


def read(bootstrap: str, group: str, topics: list[str], count: int, timeout: float = 60) -> list[bytes]:
    """Reads `count` records as group `group`, committing after each batch; then closes."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, **FAST_GROUP})
    c.subscribe(topics)
    got: list[bytes] = []
    deadline = time.time() + timeout
    try:
        while len(got) < count and time.time() < deadline:
            batch = c.consume(num_messages=500, timeout=0.5)
            for m in batch:
                if m.error() and m.error().code() not in TRANSIENT:
                    raise AssertionError(f"consumer error: {m.error()}")
                if not m.error():
                    got.append(m.value())
            if any(not m.error() for m in batch):
                c.commit(asynchronous=False)
        # Whatever else arrives in a short while is a record read twice or one too many.
        extra = c.consume(num_messages=500, timeout=2)
        got += [m.value() for m in extra if not m.error()]
    finally:
        c.close()
    return got


def test_a_group_reads_three_topics_of_two_domains_exactly_once_across_a_gateway_restart(partner):
    group = unique("readers")
    topics = ["inbox", "orders", "returns"]
    first = read(partner.bootstrap, group, topics, 75)
    assert sorted(first) == sorted([b"inbox-%d" % i for i in range(20)] + [b"orders-%d" % i for i in range(30)]
                                   + [b"returns-%d" % i for i in range(25)])
    # The offsets of `returns` were committed on d2, under the partner's prefixed group name.
    d2 = Consumer({"bootstrap.servers": partner.d2.bootstrap, "group.id": PREFIX + group})
    try:
        committed = d2.committed([TopicPartition("returns", 0)], timeout=10)
        assert committed[0].offset == 25, committed
    finally:
        d2.close()

    # More records, then the gateway restarts: the group resumes where it committed.
    produce(partner.d1.bootstrap, PREFIX + "inbox", [b"inbox-late"])
    produce(partner.d2.bootstrap, "returns", [b"returns-late-%d" % i for i in range(3)])
    partner.g.stop()
    partner.g.start()
    second = read(partner.bootstrap, group, topics, 4)
    assert sorted(second) == [b"inbox-late", b"returns-late-0", b"returns-late-1", b"returns-late-2"]


def test_kafka_python_commits_and_fetches_offsets_on_both_domains(partner):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as TP
    group = unique("kp")
    c = KafkaConsumer("orders", "returns", bootstrap_servers=partner.bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=30000,
                      session_timeout_ms=6000, heartbeat_interval_ms=500, fetch_max_wait_ms=50)
    try:
        got = []
        for m in c:
            got.append(m.value)
            if len(got) == 55:
                break
        c.commit()
        assert c.committed(TP("returns", 0)) == 25
        assert c.committed(TP("orders", 0)) == 30
    finally:
        c.close()
    assert sorted(got) == sorted([b"orders-%d" % i for i in range(30)] + [b"returns-%d" % i for i in range(25)])


def test_producing_to_a_read_alias_is_refused_and_a_write_alias_lands_in_its_physical_topic(partner):
    errors: list = []
    p = Producer({"bootstrap.servers": partner.bootstrap, "acks": "all", "linger.ms": 0,
                  "message.send.max.retries": 0})
    p.produce("orders", b"not allowed", on_delivery=lambda err, msg: errors.append(err))
    p.produce("feedback", b"thanks", on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    codes = sorted((e.code() if e else 0) for e in errors)
    assert codes == sorted([0, KafkaError.TOPIC_AUTHORIZATION_FAILED]), errors
    c = Consumer({"bootstrap.servers": partner.d1.bootstrap, "group.id": unique("check"),
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("partner-feedback", 0, 0)])
    try:
        m = wait_until(lambda: c.poll(1), timeout=20, what="the record in partner-feedback")
        assert m.value() == b"thanks"
    finally:
        c.close()
    assert partner.g.alive()


def test_an_alias_deleted_while_a_consumer_runs_disappears_within_a_second(partner):
    c = Consumer({"bootstrap.servers": partner.bootstrap, "group.id": unique("live"),
                  "auto.offset.reset": "earliest", **FAST_GROUP})
    c.subscribe(["orders"])
    try:
        wait_until(lambda: c.poll(0.5), timeout=30, what="a first record of orders")
        r = partner.g.api("DELETE", f"alias-topic/orders?vCluster={VC}")
        assert r.status in (200, 204), (r.status, r.raw)
        t0 = time.time()
        wait_until(lambda: "orders" not in partner.topics(), timeout=5, what="orders gone from Metadata")
        assert time.time() - t0 < 2.5
        # Records produced to the physical topic afterwards never reach the partner.
        produce(partner.d1.bootstrap, "sales.orders", [b"after-delete"])
        deadline = time.time() + 5
        while time.time() < deadline:
            m = c.poll(0.2)
            assert m is None or m.error() or m.value() != b"after-delete"
    finally:
        c.close()
    assert partner.g.alive()


def test_with_d2_stopped_the_other_domains_topics_still_flow_and_returns_comes_back(partner):
    partner.d2.stop()
    got = read(partner.bootstrap, unique("outage"), ["inbox", "orders"], 50, timeout=60)
    assert len(got) == 50
    md = AdminClient({"bootstrap.servers": partner.bootstrap}).list_topics(topic="returns", timeout=10)
    assert md.topics["returns"].error is not None  # LEADER_NOT_AVAILABLE while d2 is away
    # Tansu's memory engine starts empty: the topic and some records are made again.
    partner.d2.start()
    create_topic(partner.d2.bootstrap, "returns")
    produce(partner.d2.bootstrap, "returns", [b"back-%d" % i for i in range(5)])
    got = wait_until(lambda: read(partner.bootstrap, unique("back"), ["returns"], 5, timeout=20) or None,
                     timeout=60, what="returns readable again")
    assert sorted(got) == [b"back-%d" % i for i in range(5)]
    assert partner.g.alive()


def test_physical_topics_neither_own_nor_aliased_stay_invisible(partner):
    """By name: Metadata, Fetch (through a consumer assignment) and Produce on d1's and d2's
    other topics see nothing of them."""
    md = AdminClient({"bootstrap.servers": partner.bootstrap}).list_topics(timeout=10)
    for hidden in ("sales.secret", "d2.secret", "partner-feedback", "sales.orders", PREFIX + "inbox"):
        assert hidden not in md.topics
    # Read by name through the gateway, a hidden topic's name is the tenant's own (empty)
    # topic, never the physical one.
    for hidden in ("sales.secret", "d2.secret"):
        assert b"secret" not in read(partner.bootstrap, unique("peek"), [hidden], 1, timeout=5), hidden
    # A produce naming another domain's topic reaches at most the tenant's own namespace
    # (Tansu creates topics named in Metadata): nothing lands in d2's or d1's hidden topics.
    p = Producer({"bootstrap.servers": partner.bootstrap, "message.timeout.ms": 5000})
    for hidden in ("d2.secret", "sales.secret"):
        p.produce(hidden, b"x")
    p.flush(15)
    for bootstrap, hidden in ((partner.d2.bootstrap, "d2.secret"), (partner.d1.bootstrap, "sales.secret")):
        assert records_in(bootstrap, hidden) == [b"secret"], hidden


def records_in(bootstrap: str, topic: str) -> list[bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("count"), "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    try:
        deadline = time.time() + 3
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value())
    finally:
        c.close()
    return got


@pytest.mark.parametrize("victim_domain,through", [("d1", "bootstrap"), ("d2", "bootstrap"), ("d2", "d2-broker")])
def test_the_tenancy_probe_as_the_partner_reaches_nothing_unaliased(partner, victim_domain, through):
    """gatehouse-probe as partner-a names a physical topic of d1 or d2 that is not aliased (and
    a group and a transactional id there), by name and by id, on every API key: through the
    route's bootstrap address, and straight through the port of d2's virtual broker (where
    partition-led keys are mapped in the partner's view of d2). Nothing of it is seen or
    changed."""
    from test_tenancy_probe import run_probe

    physical = partner.d1 if victim_domain == "d1" else partner.d2
    topic = "sales.secret" if victim_domain == "d1" else "d2.secret"
    victim = {"client.id": "victim-x"}
    produce(physical.bootstrap, topic, [b"SECRET-X-%d" % i for i in range(5)], **victim)
    c = Consumer({"bootstrap.servers": physical.bootstrap, "group.id": "victims", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, **FAST_GROUP, **victim})
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 30
    while got < 6 and time.time() < deadline:
        got += len([m for m in c.consume(10, timeout=0.5) if not m.error()])
    c.commit(asynchronous=False)
    c.close()
    tenant = partner.bootstrap if through == "bootstrap" else f"127.0.0.1:{partner.port + 2}"
    _, results = run_probe(
        "--tenant", tenant, "--raw", physical.bootstrap, "--victim-topic", topic, "--victim-group", "victims",
        "--victim-txn", "victims-tx", "--victim-secret", "SECRET-X", "--victim-client-id", "victim-x")
    probed = {r["key"] for r in results if r["outcome"] == "ok"}
    for key in ["Metadata", "Produce", "Fetch", "ListOffsets", "OffsetCommit", "OffsetFetch", "DeleteTopics",
                "DescribeConfigs", "DescribeTopicPartitions"]:
        assert key in probed, key
    assert records_in(physical.bootstrap, topic) == [b"secret"] + [b"SECRET-X-%d" % i for i in range(5)]
    assert partner.g.alive()
