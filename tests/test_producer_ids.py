"""Producer ids are checked per tenant: Tansu accepts a transactional request carrying a producer
id never issued for its transactional id (Apache Kafka answers INVALID_PRODUCER_ID_MAPPING), so
the gateway checks them itself. A tenant's transactional requests go upstream only with a
producer id issued (by an InitProducerId answer through the gateway) to that tenant's own
transactional id, also after a gateway restart; otherwise the gateway answers error 49."""
from __future__ import annotations

import struct

from confluent_kafka import Producer

from clients import consume, create_topic
from rawkafka import (connect, init_producer_id, metadata_v1, parse_produce_v3, produce_v3, read_frame,
                      record_batch, request, string)
from tenants import put_virtual_cluster, tenant_gateway

INVALID_PRODUCER_ID_MAPPING = 49


def add_partitions(port: int, txn: str, producer_id: int, topic: str) -> list[tuple[str, int, int]]:
    """AddPartitionsToTxn v1 for partition 0 of `topic`: [(topic, partition, error code)]."""
    body = string(txn) + struct.pack(">qh", producer_id, 0)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">ii", 1, 0)
    s = connect(port)
    s.sendall(request(24, 1, 8, body))
    frame = read_frame(s)
    s.close()
    corr, _throttle, topics = struct.unpack(">iii", frame[:12])
    assert corr == 8
    at, out = 12, []
    for _ in range(topics):
        (n,) = struct.unpack(">h", frame[at:at + 2])
        name = frame[at + 2:at + 2 + n].decode()
        at += 2 + n
        (parts,) = struct.unpack(">i", frame[at:at + 4])
        at += 4
        for _ in range(parts):
            index, error = struct.unpack(">ih", frame[at:at + 6])
            at += 6
            out.append((name, index, error))
    return out


def produce_txn(port: int, txn: str, producer_id: int, topic: str, value: bytes) -> list[tuple[str, int, int]]:
    """A transactional Produce v3 of one batch of `producer_id` to partition 0 of `topic`."""
    batch = record_batch([value], producer_id=producer_id, transactional=True)
    s = connect(port)
    s.sendall(metadata_v1(1))
    read_frame(s)
    s.sendall(produce_v3(2, {topic: [(0, batch)]}, transactional_id=txn))
    corr, results = parse_produce_v3(read_frame(s))
    s.close()
    assert corr == 2
    return results


def end_txn(port: int, txn: str, producer_id: int) -> int | None:
    """EndTxn v1 (abort); its error code, None when the connection closed without an answer
    (Tansu's answer to an EndTxn it cannot match, see TESTING.md)."""
    s = connect(port)
    s.sendall(request(26, 1, 9, string(txn) + struct.pack(">qh?", producer_id, 0, False)))
    try:
        frame = read_frame(s)
    except ConnectionError:
        return None
    finally:
        s.close()
    corr, _throttle, error = struct.unpack(">iih", frame[:10])
    assert corr == 9
    return error


def test_a_tenant_cannot_use_a_producer_id_issued_to_another_tenant(cluster):
    g = tenant_gateway(cluster, {"a": "a", "b": "b"})
    put_virtual_cluster(g, "a")
    put_virtual_cluster(g, "b")
    a, b = g.route_port("a"), g.route_port("b")
    create_topic(g.bootstrap("a"), "orders")
    create_topic(g.bootstrap("b"), "orders")

    a_pid = init_producer_id(a, "tx")
    b_pid = init_producer_id(b, "tx")  # B's own transactional id exists upstream (b.tx)
    assert b_pid != a_pid
    # A's own producer id on its own transactional id goes upstream (Tansu accepts it).
    assert add_partitions(a, "tx", a_pid, "orders") == [("orders", 0, 0)]
    assert add_partitions(b, "tx", b_pid, "orders") == [("orders", 0, 0)]
    # B, with the same client-side transactional id (upstream b.tx) or another one, and A's
    # producer id: answered by the gateway, per partition.
    assert add_partitions(b, "tx", a_pid, "orders") == [("orders", 0, INVALID_PRODUCER_ID_MAPPING)]
    assert add_partitions(b, "other", a_pid, "orders") == [("orders", 0, INVALID_PRODUCER_ID_MAPPING)]
    assert end_txn(b, "tx", a_pid) == INVALID_PRODUCER_ID_MAPPING
    # A producer id nobody was issued is refused too.
    assert end_txn(a, "tx", a_pid + 1000) == INVALID_PRODUCER_ID_MAPPING
    # Transactional Produce: the producer id is in each record batch; B writing under A's is
    # answered per partition and nothing of it lands; A's own goes upstream.
    assert produce_txn(b, "tx", a_pid, "orders", b"foreign") == [("orders", 0, INVALID_PRODUCER_ID_MAPPING)]
    assert produce_txn(b, "tx", b_pid, "orders", b"own-b")[0][2] != INVALID_PRODUCER_ID_MAPPING
    assert produce_txn(a, "tx", a_pid, "orders", b"own-a")[0][2] != INVALID_PRODUCER_ID_MAPPING
    seen = consume(g.bootstrap("b"), "orders", "check", 2, timeout=8, **{"isolation.level": "read_uncommitted"})
    assert seen == [b"own-b"], seen
    assert g.alive() and "panicked" not in g.log()


def test_issued_producer_ids_survive_a_gateway_restart(cluster):
    g = tenant_gateway(cluster, {"a": "a", "b": "b"})
    put_virtual_cluster(g, "a")
    put_virtual_cluster(g, "b")
    create_topic(g.bootstrap("a"), "orders")
    a_pid = init_producer_id(g.route_port("a"), "tx")

    g.stop()
    g.start()
    a, b = g.route_port("a"), g.route_port("b")
    # The live producer keeps working; the other tenant is still refused.
    assert add_partitions(a, "tx", a_pid, "orders") == [("orders", 0, 0)]
    assert add_partitions(b, "tx", a_pid, "orders") == [("orders", 0, INVALID_PRODUCER_ID_MAPPING)]


def test_a_transactional_producer_in_a_virtual_cluster_still_works(cluster):
    g = tenant_gateway(cluster, {"a": "a"})
    put_virtual_cluster(g, "a")
    bootstrap = g.bootstrap("a")
    create_topic(bootstrap, "orders")
    tx = Producer({"bootstrap.servers": bootstrap, "transactional.id": "tx"})
    tx.init_transactions(10)
    tx.begin_transaction()
    for i in range(5):
        tx.produce("orders", f"tx-{i}".encode())
    tx.commit_transaction(10)
    got = consume(bootstrap, "orders", "g", 5, **{"isolation.level": "read_committed"})
    assert sorted(got) == [f"tx-{i}".encode() for i in range(5)]
