"""Virtual clusters for the end-to-end tests: gateways whose routes are bound to virtual
clusters, and virtual clusters applied through the admin API as an operator would."""
from __future__ import annotations

import time

from harness import ADMIN_PASSWORD, ADMIN_USER, Cluster, Gatehouse, domain, route

ADMIN = (ADMIN_USER, ADMIN_PASSWORD)


def tenant_gateway(cluster: Cluster, routes: dict[str, str | None], name: str = "gatehouse",
                   store: dict | None = None, start: bool = True) -> Gatehouse:
    """A gateway in front of one new Tansu with one route per entry of `routes`
    (route name → virtual cluster, None for passthrough)."""
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    rs = []
    for rname, vc in routes.items():
        r = route(rname, cluster.route_ports(d), "d")
        if vc:
            r["virtualCluster"] = vc
        rs.append(r)
    g = cluster.gatehouse([d], rs, name=name, store=store, start=start)
    g.tansu = tansu
    return g


def virtual_cluster(name: str, **spec) -> dict:
    return {"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name}, "spec": spec}


def put_virtual_cluster(g: Gatehouse, name: str, **spec) -> dict:
    r = g.api("PUT", "virtual-cluster", virtual_cluster(name, **spec))
    assert r.status == 200, (r.status, r.raw)
    return r.json


def refused_connections(g: Gatehouse) -> int:
    for line in g.metrics().splitlines():
        if line.startswith('gatehouse_connections_refused_total{reason="unknown_virtual_cluster"}'):
            return int(line.split()[-1])
    return 0


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
