"""Small helpers around the real client libraries used by the tests."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

# Tansu's group joins take ~session.timeout.ms/2; fetches always wait fetch.wait.max.ms.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 50}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10).values():
        f.result(timeout=20)


def produce(bootstrap: str, topic: str, values: list[bytes], **conf) -> None:
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **conf})
    for v in values:
        p.produce(topic, v, on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} records not delivered"
    assert not errors, errors[:3]


def consume(bootstrap: str, topic: str, group: str, count: int, timeout: float = 60, **conf) -> list[bytes]:
    """Reads `count` records with a consumer group, committing offsets synchronously."""
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, **FAST_GROUP, **conf,
    })
    c.subscribe([topic])
    got: list[bytes] = []
    deadline = time.time() + timeout
    try:
        while len(got) < count and time.time() < deadline:
            batch = c.consume(num_messages=500, timeout=0.5)
            for m in batch:
                if m.error():
                    raise AssertionError(f"consumer error: {m.error()}")
                got.append(m.value())
            if batch:
                c.commit(asynchronous=False)
    finally:
        c.close()
    return got
