"""kafka-python (pure Python, its own protocol code) through the gateway."""
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from clients import unique
from harness import domain


def test_kafka_python_produces_consumes_and_resumes_from_commits(cluster):
    broker = cluster.tansu()
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap)])
    bootstrap = gw.bootstrap()
    topic, group = unique("kp"), unique("kp-group")

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    assert topic in admin.list_topics()
    brokers = admin.describe_cluster()["brokers"]
    assert [(b["host"], b["port"]) for b in brokers] == [("127.0.0.1", gw.route_port() + 1)]

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for i in range(2000):
        producer.send(topic, f"v-{i}".encode())
    producer.flush(30)
    for node in producer._metadata.brokers():
        assert (node.host, node.port) == ("127.0.0.1", gw.route_port() + 1)
    producer.close()

    def read(n):
        consumer = KafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
            fetch_max_wait_ms=50,
        )
        got = []
        deadline = time.time() + 60
        while len(got) < n and time.time() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
            if got:
                consumer.commit()
        coordinator = consumer._coordinator.coordinator_id
        assert consumer._client.cluster.broker_metadata(coordinator).port == gw.route_port() + 1
        consumer.close()
        return got

    assert sorted(read(2000)) == sorted(f"v-{i}".encode() for i in range(2000))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(500):
        producer.send(topic, f"w-{i}".encode())
    producer.flush(30)
    producer.close()
    assert sorted(read(500)) == sorted(f"w-{i}".encode() for i in range(500))

    admin.delete_topics([topic])
    deadline = time.time() + 10
    while topic in admin.list_topics() and time.time() < deadline:
        time.sleep(0.2)
    assert topic not in admin.list_topics()
    admin.close()
