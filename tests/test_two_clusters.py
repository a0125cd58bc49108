"""Two routes in one gateway, each to its own upstream cluster."""
from confluent_kafka.admin import AdminClient

from clients import consume, create_topic, produce, unique
from harness import domain


def test_each_route_serves_its_own_cluster(cluster):
    east, west = cluster.tansu("east"), cluster.tansu("west")
    gw = cluster.gatehouse([domain("east", east.bootstrap), domain("west", west.bootstrap)])
    topic = unique("shared-name")

    for name in ("east", "west"):
        create_topic(gw.bootstrap(name), topic)
        produce(gw.bootstrap(name), topic, [f"{name}-{i}".encode() for i in range(500)])

    for name in ("east", "west"):
        got = consume(gw.bootstrap(name), topic, unique("g"), 500)
        assert sorted(got) == sorted(f"{name}-{i}".encode() for i in range(500)), name

    # Directly on each broker: the data landed on the right cluster.
    only_east = unique("east-only")
    create_topic(gw.bootstrap("east"), only_east)
    assert only_east in AdminClient({"bootstrap.servers": east.bootstrap}).list_topics(timeout=10).topics
    assert only_east not in AdminClient({"bootstrap.servers": west.bootstrap}).list_topics(timeout=10).topics
    direct = consume(west.bootstrap, topic, unique("direct"), 500)
    assert sorted(direct) == sorted(f"west-{i}".encode() for i in range(500))

    # Both clusters report node id 111: each route gives it its own gateway port.
    for name in ("east", "west"):
        md = AdminClient({"bootstrap.servers": gw.bootstrap(name)}).list_topics(timeout=10)
        assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", gw.route_port(name) + 1)]
