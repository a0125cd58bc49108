"""SIGTERM and rolling restarts (issue 12, defect 5) against the release binary: a draining
gateway stops accepting, answers every request it has already sent upstream, lets clients go
listener by listener and exits 0; a producer without idempotence loses and duplicates nothing
across a rolling restart of two gateways."""
import json
import os
import signal
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer

from clients import consume, create_topic, unique
from harness import domain, route
from rawkafka import connect, metadata_v1, read_frame, request, string


def fetch_v4(correlation_id: int, topic: str, max_wait_ms: int) -> bytes:
    partition = struct.pack(">iqi", 0, 0, 1024 * 1024)
    topics = struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + partition
    body = struct.pack(">iiiib", -1, max_wait_ms, 1, 1024 * 1024, 0) + topics
    return request(1, 4, correlation_id, body)


def requests_forwarded(g) -> int:
    for line in g.metrics().splitlines():
        if line.startswith("gatehouse_requests_forwarded_total "):
            return int(line.split()[1])
    return 0


def readiness(g) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(g.admin_url + "/health/ready", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def terminate(g) -> None:
    os.killpg(g.proc.pid, signal.SIGTERM)


def test_sigterm_answers_the_fetch_in_flight_then_exits_0(cluster):
    tansu = cluster.tansu()
    g = cluster.gatehouse([domain("d", tansu.bootstrap)], gateway={"drainTimeoutMs": 10000})
    topic = unique("drain")
    create_topic(g.bootstrap(), topic)
    deadline = time.time() + 10
    while readiness(g)[1]["checks"]["streamingDomain d"]["state"] != "ok" and time.time() < deadline:
        time.sleep(0.05)
    status, body = readiness(g)
    assert status == 200 and body["checks"]["streamingDomain d"] == {"state": "ok", "detail": "reachable"}, body
    assert body["checks"]["store"]["state"] == "ok", body
    s = connect(g.route_port(), timeout=10)
    s.sendall(metadata_v1(1))
    read_frame(s)
    # Tansu holds a Fetch on an empty partition for its whole max wait.
    forwarded = requests_forwarded(g)
    s.sendall(fetch_v4(2, topic, 1500))
    deadline = time.time() + 5
    while requests_forwarded(g) == forwarded and time.time() < deadline:
        time.sleep(0.01)
    sent_at = time.time()
    terminate(g)
    # The signal is handled on its own task: readiness turns once it has been.
    deadline = time.time() + 5
    status, body = readiness(g)
    while body["status"] != "draining" and time.time() < deadline:
        time.sleep(0.01)
        status, body = readiness(g)
    assert (status, body["status"]) == (503, "draining"), body
    answer = read_frame(s)
    assert struct.unpack(">i", answer[:4])[0] == 2, "the Fetch in flight is answered"
    assert time.time() - sent_at > 1.0, "answered by the broker after its wait, not cut short"
    assert s.recv(1) == b"", "then the connection closes"
    assert g.proc.wait(15) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", g.route_port()), timeout=1)
    log = g.log()
    assert "draining client connections" in log and "drained" in log


def test_a_drain_lets_the_bootstrap_port_go_before_the_broker_ports(cluster):
    tansu = cluster.tansu()
    g = cluster.gatehouse([domain("d", tansu.bootstrap)], gateway={"drainStepMs": 300})
    bootstrap = connect(g.route_port())
    bootstrap.sendall(metadata_v1(1))
    read_frame(bootstrap)
    node = connect(g.route_port() + 1)  # node 111, the domain's one node id
    node.sendall(metadata_v1(2))
    read_frame(node)
    terminate(g)
    assert bootstrap.recv(1) == b""
    closed_first = time.time()
    node.settimeout(10)
    assert node.recv(1) == b""
    assert time.time() - closed_first >= 0.25, "the broker port went one step later"
    assert g.proc.wait(15) == 0


HOSTS = "/etc/hosts"


@pytest.fixture
def shared_name():
    """A host name that resolves to 127.0.0.2 and 127.0.0.3, as a DNS name in front of two
    gateway nodes would (glibc returns both with `multi on`; librdkafka tries them in turn)."""
    if not os.access(HOSTS, os.W_OK):
        pytest.skip("needs a writable /etc/hosts (root)")
    name = f"gh-{uuid.uuid4().hex[:8]}.test"
    lines = f"127.0.0.2 {name}\n127.0.0.3 {name}\n"
    with open(HOSTS, "a") as f:
        f.write(lines)
    try:
        yield name
    finally:
        text = open(HOSTS).read().replace(lines, "")
        with open(HOSTS, "w") as f:
            f.write(text)


def test_a_rolling_restart_of_two_gateways_loses_and_duplicates_nothing(cluster, shared_name):
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    port = cluster.route_ports(d)
    gateways = []
    for i, ip in enumerate(["127.0.0.2", "127.0.0.3"]):
        r = route("shared", port, "d")
        r["endpoint"] = f"{shared_name}:{port}"
        r["bindHost"] = ip
        gateways.append(cluster.gatehouse([d], [r], name=f"gatehouse-{i}", start=False))
    for g in gateways:
        g.start(wait=False)
    for g, ip in zip(gateways, ["127.0.0.2", "127.0.0.3"]):
        wait_listening(ip, port, g)
    bootstrap = f"{shared_name}:{port}"
    topic = unique("rolling")
    create_topic(bootstrap, topic)

    sent, errors, stop = [], [], threading.Event()
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False, "acks": "all",
                         "linger.ms": 2, "retries": 1000, "retry.backoff.ms": 50,
                         "message.timeout.ms": 120000, "max.in.flight.requests.per.connection": 5})

    def produce_forever():
        # About 20,000 records a second, so that Produce requests are always in flight when a
        # gateway is told to stop: each one cut unanswered would be sent again, and written twice.
        seq = 0
        while not stop.is_set():
            for _ in range(20):
                producer.produce(topic, b"%d" % seq + b"." * 100,
                                 on_delivery=lambda err, msg: errors.append(err) if err else None)
                sent.append(seq)
                seq += 1
            producer.poll(0)
            time.sleep(0.001)

    t = threading.Thread(target=produce_forever)
    t.start()
    try:
        for g, ip in zip(gateways, ["127.0.0.2", "127.0.0.3"]):
            time.sleep(1.0)  # traffic through both before each restart
            terminate(g)
            assert g.proc.wait(30) == 0, g.log()[-2000:]
            g.start(wait=False)
            wait_listening(ip, port, g)
        time.sleep(1.0)
    finally:
        stop.set()
        t.join()
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    got = consume(bootstrap, topic, unique("check"), len(sent), timeout=120)
    values = [int(v.rstrip(b".")) for v in got]
    duplicates = len(values) - len(set(values))
    missing = set(sent) - set(values)
    assert (duplicates, len(missing)) == (0, 0), (
        f"{len(sent)} sent, {len(values)} read: {duplicates} duplicates, {len(missing)} missing")


def wait_listening(ip: str, port: int, g, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert g.alive(), g.log()[-2000:]
        try:
            socket.create_connection((ip, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{ip}:{port} never listened")
