"""Large fetches on plaintext legs: record bytes go from the broker's socket to the client's
inside the kernel (splice), and every record still arrives intact, in a passthrough session
and in a virtual cluster, with librdkafka and with kafka-python (different Fetch versions, so
both the streamed and the tail-rewriting response paths)."""
import hashlib
import time

import pytest

from kafka import KafkaConsumer

from clients import consume, create_topic, produce, unique
from tenants import put_virtual_cluster, tenant_gateway

RECORDS = 3000
SIZE = 4096  # 12 MB in all: fetch responses carry up to 1 MB per partition


def values(tag: str) -> list[bytes]:
    # Distinct, incompressible-looking contents: a byte out of place changes the digest.
    return [hashlib.sha256(f"{tag}-{i}".encode()).digest() * (SIZE // 32) for i in range(RECORDS)]


def spliced(g) -> int:
    for line in g.metrics().splitlines():
        if line.startswith("gatehouse_bytes_spliced_total "):
            return int(line.split()[1])
    raise AssertionError("no gatehouse_bytes_spliced_total metric")


def digest(records: list[bytes]) -> str:
    return hashlib.sha256(b"".join(sorted(records))).hexdigest()


def load(bootstrap: str) -> tuple[str, list[bytes]]:
    """A new two-partition topic holding RECORDS distinct records."""
    topic = unique("bulk")
    create_topic(bootstrap, topic, partitions=2)
    sent = values(topic)
    produce(bootstrap, topic, sent)
    return topic, sent


def test_large_fetches_are_spliced_and_arrive_intact(cluster):
    g = tenant_gateway(cluster, {"plain": None, "team": "team"})
    put_virtual_cluster(g, "team")
    for route in ("plain", "team"):
        bootstrap = g.bootstrap(route)
        topic, sent = load(bootstrap)
        before = spliced(g)
        got = consume(bootstrap, topic, unique("bulk-app"), RECORDS, timeout=90)
        assert len(got) == RECORDS, route
        assert digest(got) == digest(sent), f"{route}: records changed on the way"
        # Most of the bytes never passed through the gateway's memory.
        assert spliced(g) - before > RECORDS * SIZE // 2, route


@pytest.mark.parametrize("route", ["plain", "team"])
def test_kafka_python_large_fetches_arrive_intact(cluster, route):
    """kafka-python fetches at versions that name topics: in a virtual cluster each response
    is un-prefixed around its records (held whole, not spliced); in passthrough it is spliced."""
    g = tenant_gateway(cluster, {route: "team" if route == "team" else None})
    if route == "team":
        put_virtual_cluster(g, "team")
    bootstrap = g.bootstrap(route)
    topic, sent = load(bootstrap)
    before = spliced(g)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=unique("kp"),
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             fetch_max_wait_ms=50, session_timeout_ms=6000, heartbeat_interval_ms=500)
    got: list[bytes] = []
    deadline = time.time() + 90
    try:
        while len(got) < RECORDS and time.time() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    assert len(got) == RECORDS
    assert digest(got) == digest(sent)
    if route == "plain":
        assert spliced(g) - before > RECORDS * SIZE // 2
