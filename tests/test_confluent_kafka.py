"""librdkafka (confluent-kafka) through the gateway against a real Tansu broker."""
from confluent_kafka.admin import AdminClient

from clients import consume, create_topic, produce, unique
from harness import domain


def gateway_for(cluster):
    broker = cluster.tansu()
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap)])
    return broker, gw


def test_topics_can_be_created_listed_and_deleted(cluster):
    _, gw = gateway_for(cluster)
    admin = AdminClient({"bootstrap.servers": gw.bootstrap()})
    topic = unique("admin")
    create_topic(gw.bootstrap(), topic, partitions=3)
    md = admin.list_topics(timeout=10)
    assert topic in md.topics
    assert len(md.topics[topic].partitions) == 3
    for f in admin.delete_topics([topic], operation_timeout=10).values():
        f.result(timeout=20)
    assert topic not in admin.list_topics(timeout=10).topics


def test_every_broker_address_a_client_learns_is_a_gateway_address(cluster):
    broker, gw = gateway_for(cluster)
    topic, group = unique("addr"), unique("group")
    create_topic(gw.bootstrap(), topic)
    produce(gw.bootstrap(), topic, [b"x"] * 10)
    assert len(consume(gw.bootstrap(), topic, group, 10)) == 10
    admin = AdminClient({"bootstrap.servers": gw.bootstrap()})

    gateway_ports = {gw.route_port(), gw.route_port() + 1}
    md = admin.list_topics(timeout=10)  # Metadata
    assert {(b.host, b.port) for b in md.brokers.values()} == {("127.0.0.1", gw.route_port() + 1)}
    for p in md.topics[topic].partitions.values():
        assert p.leader in md.brokers

    desc = admin.describe_cluster().result(timeout=10)  # DescribeCluster (or Metadata in old brokers)
    assert {(n.host, n.port) for n in desc.nodes} <= {("127.0.0.1", p) for p in gateway_ports}

    groups = admin.describe_consumer_groups([group])  # FindCoordinator + DescribeGroups
    coordinator = groups[group].result(timeout=10).coordinator
    assert (coordinator.host, coordinator.port) == ("127.0.0.1", gw.route_port() + 1)
    assert broker.port not in gateway_ports


def test_thousands_of_records_round_trip_and_a_restarted_group_resumes(cluster):
    _, gw = gateway_for(cluster)
    topic, group = unique("orders"), unique("app")
    create_topic(gw.bootstrap(), topic, partitions=2)
    first = [f"a-{i}".encode() for i in range(3000)]
    produce(gw.bootstrap(), topic, first)
    got = consume(gw.bootstrap(), topic, group, len(first))
    assert sorted(got) == sorted(first)

    second = [f"b-{i}".encode() for i in range(2000)]
    produce(gw.bootstrap(), topic, second)
    # Same group again: starts from the committed offsets, so only the new records arrive.
    resumed = consume(gw.bootstrap(), topic, group, len(second))
    assert sorted(resumed) == sorted(second)


def test_acks_zero_produce_gets_no_response_and_does_not_stall(cluster):
    _, gw = gateway_for(cluster)
    topic = unique("fire")
    create_topic(gw.bootstrap(), topic)
    values = [f"z-{i}".encode() for i in range(2000)]
    produce(gw.bootstrap(), topic, values, acks="0")
    # acks=0 requests expect no answer; if the gateway waited for one, the Metadata and
    # Fetch answers behind it would be mismatched and the consumer would fail.
    got = consume(gw.bootstrap(), topic, unique("g"), len(values))
    assert sorted(got) == sorted(values)
