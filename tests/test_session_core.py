"""The session core against a real broker: the gateway numbers requests on its upstream
connections itself, so what a client does with its own correlation ids cannot confuse it.

Kafka does not forbid a client to reuse a correlation id. Tansu answers a Produce with acks=0
although brokers need not; an answer the client is not owed must be dropped, and must never be
taken for the answer of a later request that happens to carry the same id."""
import struct

import pytest

import rawkafka
from clients import create_topic, unique
from tenants import put_virtual_cluster, tenant_gateway


def metadata_v1_brokers(frame: bytes) -> int:
    """The broker count of a Metadata v1 response (after the correlation id)."""
    (count,) = struct.unpack(">i", frame[4:8])
    return count


@pytest.mark.parametrize("route", ["plain", "team"])
def test_a_reused_correlation_id_after_an_acks_0_produce_gets_its_own_answer(cluster, route):
    g = tenant_gateway(cluster, {route: "team" if route == "team" else None})
    if route == "team":
        put_virtual_cluster(g, "team")
    bootstrap, port = g.bootstrap(route), g.route_port(route)
    topic = unique("reuse")
    create_topic(bootstrap, topic)
    s = rawkafka.connect(port, timeout=30)
    batch = rawkafka.record_batch([b"r1", b"r2"])
    # Pipelined in one write: Metadata 1, Produce acks=0 as 5, Metadata as 5 again, Metadata 6.
    s.sendall(rawkafka.metadata_v1(1)
              + rawkafka.produce_v3(5, {topic: [(0, batch)]}, acks=0)
              + rawkafka.metadata_v1(5)
              + rawkafka.metadata_v1(6))
    answers = [rawkafka.read_frame(s) for _ in range(3)]
    ids = [struct.unpack(">i", a[:4])[0] for a in answers]
    assert ids == [1, 5, 6], ids
    # The answer with id 5 is the Metadata one (brokers listed), not the Produce's stray one.
    assert metadata_v1_brokers(answers[1]) >= 1
    assert answers[1][4:] == answers[2][4:], "both are answers to the same Metadata request"
    # Still the same connection, still served.
    s.sendall(rawkafka.metadata_v1(7))
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 7
    s.close()
    assert g.alive()


def test_many_pipelined_requests_with_one_correlation_id_come_back_in_order(cluster):
    """A client that gives every request the same id still gets each answer once, in order."""
    g = tenant_gateway(cluster, {"plain": None})
    port = g.route_port("plain")
    s = rawkafka.connect(port, timeout=30)
    s.sendall(b"".join(rawkafka.metadata_v1(9) for _ in range(200)))
    for _ in range(200):
        frame = rawkafka.read_frame(s)
        assert struct.unpack(">i", frame[:4])[0] == 9
        assert metadata_v1_brokers(frame) >= 1
    s.sendall(rawkafka.metadata_v1(10))
    assert struct.unpack(">i", rawkafka.read_frame(s)[:4])[0] == 10
    s.close()


def test_a_route_showing_two_domains_whose_brokers_are_both_node_111(cluster):
    """One route, two clusters that both call their broker 111: the client sees one cluster
    with brokers 111 and 1000 on their own gateway ports, every topic of both (one Metadata
    request, fanned out by the gateway), a cluster id of the route's own, and a Produce to a
    topic of the second cluster lands there."""
    from confluent_kafka.admin import AdminClient

    from clients import consume, produce

    g, east, west, port = two_domain_route(cluster)
    east_topic, west_topic = unique("east-only"), unique("west-only")
    create_topic(east.bootstrap, east_topic)
    create_topic(west.bootstrap, west_topic)

    md = AdminClient({"bootstrap.servers": g.bootstrap("both")}).list_topics(timeout=10)
    assert sorted((b.id, b.host, b.port) for b in md.brokers.values()) == [
        (111, "127.0.0.1", port + 1), (1000, "127.0.0.1", port + 2)]
    assert md.topics[east_topic].partitions[0].leader == 111
    assert md.topics[west_topic].partitions[0].leader == 1000
    upstream_ids = {AdminClient({"bootstrap.servers": b}).list_topics(timeout=10).cluster_id
                    for b in (east.bootstrap, west.bootstrap)}
    assert md.cluster_id and md.cluster_id not in upstream_ids, (md.cluster_id, upstream_ids)
    again = AdminClient({"bootstrap.servers": g.bootstrap("both")}).list_topics(timeout=10)
    assert again.cluster_id == md.cluster_id, "the route's cluster id is stable"
    # DescribeCluster (KIP-700) shows the same cluster: both brokers, the route's cluster id.
    admin = AdminClient({"bootstrap.servers": g.bootstrap("both")})  # (kept: the future needs its handle)
    described = admin.describe_cluster(request_timeout=10).result()
    assert sorted((n.id, n.port) for n in described.nodes) == [(111, port + 1), (1000, port + 2)]
    assert described.cluster_id == md.cluster_id

    values = [f"w{i}".encode() for i in range(50)]
    produce(g.bootstrap("both"), west_topic, values)
    assert sorted(consume(west.bootstrap, west_topic, unique("direct"), 50)) == sorted(values)
    assert g.alive()


def two_domain_route(cluster):
    """A gateway with route "both": domain east (node 111) and domain west (node 111, shown
    as 1000). Returns (gateway, east, west, bootstrap port)."""
    from harness import domain, route

    east, west = cluster.tansu("east"), cluster.tansu("west")
    port = cluster.ports.block(3)  # bootstrap, east's 111, west's 111 as 1000
    both = route("both", port, "east")
    both["additionalStreamingDomains"] = [
        {"name": "west", "bootstrapServerId": "main", "virtualNodeIdStart": 1000}]
    g = cluster.gatehouse([domain("east", east.bootstrap), domain("west", west.bootstrap)], routes=[both])
    return g, east, west, port


def test_a_further_domain_that_is_down_is_left_out_of_the_merged_metadata(cluster):
    """The second cluster stops: clients of the route still get Metadata, from the route's
    own cluster alone, and keep producing to it; the gateway says why once."""
    from confluent_kafka.admin import AdminClient

    from clients import produce

    g, east, west, port = two_domain_route(cluster)
    east_topic = unique("east-only")
    create_topic(east.bootstrap, east_topic)
    west.stop()
    md = AdminClient({"bootstrap.servers": g.bootstrap("both")}).list_topics(timeout=10)
    assert [(b.id, b.port) for b in md.brokers.values()] == [(111, port + 1)]
    assert md.topics[east_topic].partitions[0].leader == 111
    produce(g.bootstrap("both"), east_topic, [b"still"] * 10)
    assert "leaving a streaming domain out of a merged Metadata answer" in g.log()
    assert g.alive()
