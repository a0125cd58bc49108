"""Upstream trouble and upstream TLS: the gateway rides out broker outages by itself and
speaks TLS (with an optional client certificate) to brokers that require it."""
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from clients import consume, create_topic, produce, unique
from harness import domain
from pki import CertificateAuthority
from rawkafka import api_versions_v3, closed_by_peer, connect


def test_upstream_down_at_start_then_up_needs_no_gateway_restart(cluster):
    broker = cluster.tansu(start=False)  # port reserved, nothing listening yet
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap)])

    s = connect(gw.route_port())
    s.sendall(api_versions_v3(1))
    assert closed_by_peer(s), "with the upstream down the client is disconnected (retriable)"
    assert "upstream unavailable" in gw.log()

    topic = unique("late")
    delivered = []
    p = Producer({"bootstrap.servers": gw.bootstrap(), "message.timeout.ms": 60000,
                  "reconnect.backoff.max.ms": 500})
    for i in range(100):
        p.produce(topic, f"v{i}".encode(), on_delivery=lambda e, m: delivered.append(e))
    time.sleep(2)  # the client retries against a gateway whose upstream is down
    broker.start()
    assert p.flush(45) == 0
    assert delivered.count(None) == 100
    assert len(consume(gw.bootstrap(), topic, unique("g"), 100)) == 100
    assert gw.alive() and "panicked" not in gw.log()
    assert "gatehouse_upstream_connect_failures_total{domain=\"kafka1\"}" in gw.metrics()


def test_upstream_killed_mid_stream_and_restarted(cluster):
    broker = cluster.tansu()
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap)])
    topic = unique("outage")
    create_topic(gw.bootstrap(), topic)

    results: list = []
    stop = threading.Event()

    def keep_producing():
        p = Producer({"bootstrap.servers": gw.bootstrap(), "acks": "all", "message.timeout.ms": 60000,
                      "reconnect.backoff.max.ms": 500, "linger.ms": 5})
        i = 0
        while not stop.is_set():
            p.produce(topic, f"m{i}".encode(), on_delivery=lambda e, m: results.append(e))
            p.poll(0.002)
            i += 1
        results.append(("left", p.flush(50)))

    t = threading.Thread(target=keep_producing)
    t.start()
    time.sleep(2)
    delivered_before = results.count(None)
    broker.kill()  # mid-stream, no goodbye
    time.sleep(2)
    broker.start()  # same port; memory storage starts empty and auto-creates the topic
    time.sleep(8)
    stop.set()
    t.join(70)

    assert delivered_before > 0
    assert results[-1] == ("left", 0), "every buffered record was delivered or failed, none stuck"
    errors = [e for e in results[:-1] if e is not None]
    assert not errors, f"records failed instead of being retried: {errors[:3]}"
    assert results.count(None) > delivered_before, "production resumed after the restart"
    assert gw.alive() and "panicked" not in gw.log()
    # New clients work without restarting the gateway.
    produce(gw.bootstrap(), topic, [b"after"] * 10)


def _tls_setup(cluster, client_ca=None):
    ca = CertificateAuthority(cluster.workdir)
    server_cert, server_key = ca.issue("broker")
    tls_port = cluster.ports.one()
    broker = cluster.tansu(advertised_port=tls_port)  # metadata names the TLS front
    front = cluster.stunnel(broker.port, server_cert, server_key, port=tls_port,
                            client_ca=ca.cert if client_ca else None)
    return ca, broker, front


def test_upstream_tls_with_a_private_ca(cluster):
    ca, broker, front = _tls_setup(cluster)
    gw = cluster.gatehouse([domain("secure", f"127.0.0.1:{front.port}", ssl={"caFile": str(ca.cert)})])
    topic = unique("tls")
    create_topic(gw.bootstrap(), topic)
    produce(gw.bootstrap(), topic, [f"s{i}".encode() for i in range(1000)])
    assert len(consume(gw.bootstrap(), topic, unique("g"), 1000)) == 1000
    md = AdminClient({"bootstrap.servers": gw.bootstrap()}).list_topics(timeout=10)
    assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", gw.route_port() + 1)]

    # A gateway that does not trust the broker's CA must not talk to it.
    other_ca = CertificateAuthority(cluster.workdir, "other-ca")
    untrusting = cluster.gatehouse([domain("secure", f"127.0.0.1:{front.port}", ssl={"caFile": str(other_ca.cert)})],
                                   name="untrusting")
    s = connect(untrusting.route_port())
    s.sendall(api_versions_v3(1))
    assert closed_by_peer(s)
    assert "upstream unavailable" in untrusting.log()


def test_upstream_mtls_presents_the_client_certificate(cluster):
    ca, broker, front = _tls_setup(cluster, client_ca=True)
    cert, key = ca.issue("gateway-client", san="DNS:gatehouse")
    gw = cluster.gatehouse([domain("mtls", f"127.0.0.1:{front.port}",
                                   ssl={"caFile": str(ca.cert), "certFile": str(cert), "keyFile": str(key)})])
    topic = unique("mtls")
    create_topic(gw.bootstrap(), topic)
    produce(gw.bootstrap(), topic, [b"m"] * 100)
    assert len(consume(gw.bootstrap(), topic, unique("g"), 100)) == 100

    # Without the certificate the broker's TLS front refuses the gateway.
    anonymous = cluster.gatehouse([domain("mtls", f"127.0.0.1:{front.port}", ssl={"caFile": str(ca.cert)})],
                                  name="anonymous")
    s = connect(anonymous.route_port())
    s.sendall(api_versions_v3(1))
    assert closed_by_peer(s)
