"""An upstream that accepts connections and never answers (a "black hole"): every exchange the
gateway starts itself (ApiVersions for SASL routes, broker discovery) ends within the upstream
request timeout, clients waiting on it are answered or closed promptly and all at once (not one
after another), and the gateway keeps serving a healthy route meanwhile."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from authn import TOKEN_SECRET_B64
from clients import consume, produce, unique
from harness import TANSU_NODE_ID, domain, route
from rawkafka import api_versions_v3, connect

# The bound the test configures (the connect timeout stays at its default: a black hole accepts).
TIMEOUT_S = 1.0
GATEWAY = {"upstreamRequestTimeoutMs": int(TIMEOUT_S * 1000)}
CLIENTS = 8


class BlackHole:
    """Accepts every connection and never sends a byte, nor closes (until the test ends)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", port), backlog=64)
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(s)
            self.accepted += 1

    def close(self) -> None:
        self.listener.close()
        for s in self.held:
            s.close()


def answered_or_closed_in(port: int, limit: float) -> float:
    """Sends ApiVersions and returns how long until the gateway answered or closed."""
    s = connect(port, timeout=limit)
    started = time.monotonic()
    s.sendall(api_versions_v3(1))
    try:
        s.recv(1)  # an answer's first byte, or b"" when closed
    except ConnectionResetError:
        pass
    except socket.timeout:
        return float("inf")
    finally:
        s.close()
    return time.monotonic() - started


def all_at_once(port: int, limit: float) -> tuple[list[float], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        waits = list(pool.map(lambda _: answered_or_closed_in(port, limit), range(CLIENTS)))
    return waits, time.monotonic() - started


def gateway_with_black_hole(cluster, dead_route: dict, hole: BlackHole):
    tansu = cluster.tansu()
    healthy = domain("ok", tansu.bootstrap)
    dead = domain("dead", hole.endpoint)
    routes = [dead_route, route("ok", cluster.route_ports(healthy), "ok")]
    return cluster.gatehouse([dead, healthy], routes, gateway=GATEWAY,
                             env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})


def check_clients_and_healthy_route(g, port: int) -> None:
    results: dict = {}
    waiters = threading.Thread(target=lambda: results.update(r=all_at_once(port, 10 * TIMEOUT_S)))
    waiters.start()
    # Meanwhile, the healthy route serves a producer and a consumer.
    topic = unique("healthy")
    produce(g.bootstrap("ok"), topic, [b"a", b"b"])
    assert len(consume(g.bootstrap("ok"), topic, unique("g"), 2)) == 2
    waiters.join(30)
    waits, total = results["r"]
    assert all(w < 3 * TIMEOUT_S for w in waits), f"clients left hanging: {waits}"
    # One after another would take CLIENTS × the timeout.
    assert total < 3 * TIMEOUT_S, f"clients were served one after another: {total:.2f}s"
    assert g.alive() and "panicked" not in g.log()
    assert "did not answer" in g.log()


def test_sasl_route_clients_are_closed_within_the_timeout_when_the_broker_never_answers(cluster):
    hole = BlackHole(cluster.ports.one())
    try:
        dead = route("dead", cluster.ports.block(2), "dead")
        dead["security"] = {"protocol": "SASL_PLAINTEXT"}
        g = gateway_with_black_hole(cluster, dead, hole)
        # The gateway answers ApiVersions on SASL routes from what it asks the upstream.
        check_clients_and_healthy_route(g, g.route_port("dead"))
        assert hole.accepted >= 1
    finally:
        hole.close()


def test_broker_port_clients_are_closed_within_the_timeout_when_discovery_gets_no_answer(cluster):
    hole = BlackHole(cluster.ports.one())
    try:
        dead = route("dead", cluster.ports.block(2), "dead")
        g = gateway_with_black_hole(cluster, dead, hole)
        # A client on a virtual broker port the gateway has not seen yet (it restarted while the
        # client kept its metadata) makes the gateway ask the bootstrap server where it is.
        broker_port = g.route_port("dead") + 1
        assert TANSU_NODE_ID == 111  # the domain's only node id, on the first broker port
        check_clients_and_healthy_route(g, broker_port)
    finally:
        hole.close()
