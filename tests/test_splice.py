"""Large fetches and produces on plaintext legs: record bytes go between the sockets inside
the kernel (splice), and every record still arrives intact.

Fetch responses are spliced in a passthrough session and a virtual cluster, with librdkafka
and kafka-python (different Fetch versions, so both the streamed and the tail-rewriting
response paths). Produce requests are spliced in passthrough sessions once their header is in;
hand-built frames check the edges: a request that arrives in pieces, pipelined behind and
ahead of others, with acks=0, and a client that goes away in the middle of one."""
import hashlib
import socket
import struct
import time

import pytest

from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer

import rawkafka
from clients import consume, create_topic, produce, unique
from tenants import put_virtual_cluster, tenant_gateway

RECORDS = 3000
SIZE = 4096  # 12 MB in all: fetch responses carry up to 1 MB per partition


def values(tag: str) -> list[bytes]:
    # Distinct, incompressible-looking contents: a byte out of place changes the digest.
    return [hashlib.sha256(f"{tag}-{i}".encode()).digest() * (SIZE // 32) for i in range(RECORDS)]


def spliced(g, direction: str = "response") -> int:
    return counter(g, f'gatehouse_bytes_spliced_total{{direction="{direction}"}}')


def counter(g, sample: str) -> int:
    for line in g.metrics().splitlines():
        if line.startswith(sample + " "):
            return int(line.split()[1])
    return 0


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
        produced = spliced(g, "request")
        topic, sent = load(bootstrap)
        produced = spliced(g, "request") - produced
        # librdkafka's produce requests (up to 1 MB) went on mostly by splice too; a tenant's
        # with its topic name mapped in front of the records.
        assert produced > RECORDS * SIZE // 2, (route, produced)
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


# Produce requests built by hand, so their size and how they arrive are known.
BATCH_VALUES = 600  # 600 × 4 KiB: one 2.4 MB batch per partition


def batch(tag: str, partition: int) -> tuple[list[bytes], bytes]:
    vals = [hashlib.sha256(f"{tag}-{partition}-{i}".encode()).digest() * (SIZE // 32)
            for i in range(BATCH_VALUES)]
    return vals, rawkafka.record_batch(vals)


def high_watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm")})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        c.close()


def hello(port: int) -> socket.socket:
    """A raw connection past its first request, as every client's is (the limit before it is
    gateway.maxUnauthenticatedFrameBytes)."""
    s = rawkafka.connect(port, timeout=30)
    s.sendall(rawkafka.metadata_v1(100))
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 100
    return s


def send_in_pieces(s: socket.socket, frame: bytes, cuts: list[int]) -> None:
    """Sends `frame` cut at the given offsets, pausing between pieces, so the gateway sees a
    frame that has only partly arrived."""
    at = 0
    for cut in cuts + [len(frame)]:
        s.sendall(frame[at:cut])
        at = cut
        time.sleep(0.2)


def plain_gateway(cluster, route: str = "plain"):
    """A gateway with one route: passthrough ("plain") or in virtual cluster "team"."""
    g = tenant_gateway(cluster, {route: "team" if route == "team" else None})
    if route == "team":
        put_virtual_cluster(g, "team")
    return g, g.bootstrap(route), g.route_port(route)


@pytest.mark.parametrize("route", ["plain", "team"])
def test_a_produce_arriving_in_pieces_is_spliced_in_order_with_its_neighbours(cluster, route):
    """A Metadata request ahead, a 4.8 MB Produce (two partitions) in pieces, another Metadata
    pipelined right behind it in the same write: answers come in order (a tenant's with its
    own topic name), every record lands."""
    g, bootstrap, port = plain_gateway(cluster, route)
    topic = unique("pieces")
    create_topic(bootstrap, topic, partitions=2)
    (v0, b0), (v1, b1) = batch(topic, 0), batch(topic, 1)
    before = spliced(g, "request")
    s = hello(port)
    s.sendall(rawkafka.metadata_v1(1))
    produce_frame = rawkafka.produce_v3(2, {topic: [(0, b0), (1, b1)]})
    # The header alone, then most of the records, then the rest with the next request.
    send_in_pieces(s, produce_frame + rawkafka.metadata_v1(3), [40, len(produce_frame) // 2])
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 1
    corr, results = rawkafka.parse_produce_v3(rawkafka.read_frame(s))
    assert corr == 2
    assert sorted(results) == [(topic, 0, 0), (topic, 1, 0)], results
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 3
    s.close()
    assert spliced(g, "request") - before > len(produce_frame) // 2
    got = consume(bootstrap, topic, unique("pieces-app"), 2 * BATCH_VALUES, timeout=90)
    assert digest(got) == digest(v0 + v1), "records changed on the way"


def test_a_spliced_produce_with_acks_0_gets_no_answer_and_lands(cluster):
    g, bootstrap, port = plain_gateway(cluster)
    topic = unique("acks0")
    create_topic(bootstrap, topic)
    vals, b = batch(topic, 0)
    before = spliced(g, "request")
    s = hello(port)
    frame = rawkafka.produce_v3(7, {topic: [(0, b)]}, acks=0)
    send_in_pieces(s, frame + rawkafka.metadata_v1(8), [100])
    # No Produce answer: the next frame is the Metadata one.
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 8
    s.close()
    assert spliced(g, "request") - before > len(frame) // 2
    got = consume(bootstrap, topic, unique("acks0-app"), BATCH_VALUES, timeout=90)
    assert digest(got) == digest(vals)


def test_a_client_gone_inside_a_spliced_produce_loses_only_its_own_request(cluster):
    """Half of a Produce has gone upstream when the client disappears: the gateway closes that
    upstream connection (it holds half a frame), writes nothing of it to the log, counts the
    error, and keeps serving other clients."""
    g, bootstrap, port = plain_gateway(cluster)
    topic = unique("gone")
    create_topic(bootstrap, topic)
    _, b = batch(topic, 0)
    s = hello(port)
    frame = rawkafka.produce_v3(1, {topic: [(0, b)]})
    before = spliced(g, "request")
    s.sendall(frame[:len(frame) // 2])
    # Wait until the gateway has taken it on by splice, then go away.
    deadline = time.time() + 10
    while spliced(g, "request") == before and time.time() < deadline:
        time.sleep(0.05)
    errors = counter(g, 'gatehouse_client_protocol_errors_total{reason="frame"}')
    s.close()
    deadline = time.time() + 10
    while counter(g, 'gatehouse_client_protocol_errors_total{reason="frame"}') == errors and time.time() < deadline:
        time.sleep(0.05)
    assert counter(g, 'gatehouse_client_protocol_errors_total{reason="frame"}') == errors + 1
    # Nothing of the half-sent batch was written; the gateway serves the next client whole.
    assert high_watermarks(bootstrap, topic, 1) == [0]
    vals = [f"after-{i}".encode() for i in range(10)]
    produce(bootstrap, topic, vals)
    assert sorted(consume(bootstrap, topic, unique("gone-app"), 10)) == sorted(vals)


def test_a_tenants_produce_naming_two_topics_is_read_whole_and_lands(cluster):
    """Names that follow records cannot be mapped ahead of them: such a request is not spliced,
    and both topics still get their records under the tenant's prefix."""
    g, bootstrap, port = plain_gateway(cluster, "team")
    first, second = unique("two-a"), unique("two-b")
    for t in (first, second):
        create_topic(bootstrap, t)
    (va, ba), (vb, bb) = batch(first, 0), batch(second, 0)
    before = spliced(g, "request")
    s = hello(port)
    send_in_pieces(s, rawkafka.produce_v3(4, {first: [(0, ba)], second: [(0, bb)]}), [60])
    corr, results = rawkafka.parse_produce_v3(rawkafka.read_frame(s))
    assert corr == 4 and sorted(results) == sorted([(first, 0, 0), (second, 0, 0)]), results
    s.close()
    assert spliced(g, "request") == before
    assert digest(consume(bootstrap, first, unique("two-app"), BATCH_VALUES, timeout=90)) == digest(va)
    assert digest(consume(bootstrap, second, unique("two-app"), BATCH_VALUES, timeout=90)) == digest(vb)


def test_with_splice_forwarding_off_every_byte_takes_the_buffered_path(cluster):
    """`gateway.spliceForwarding: false` (for hosts where splice misbehaves): the same traffic,
    nothing spliced either way, every record intact."""
    g = tenant_gateway(cluster, {"plain": None}, start=False)
    g.config.setdefault("gateway", {})["spliceForwarding"] = False
    g.start()
    bootstrap = g.bootstrap("plain")
    topic, sent = load(bootstrap)
    got = consume(bootstrap, topic, unique("off-app"), RECORDS, timeout=90)
    assert digest(got) == digest(sent)
    assert (spliced(g, "request"), spliced(g, "response")) == (0, 0)
