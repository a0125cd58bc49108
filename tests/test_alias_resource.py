"""The AliasTopic resource and VirtualCluster.spec.homeDomain through the admin API and
`gatehouse apply | get | delete`: upsert results, dry runs, dependency order, every refusal
answered with the field named and nothing written, and a second gateway on the same PostgreSQL
store seeing an alias within about a second. (What the data plane does with aliases is tested
with real brokers elsewhere; no test here talks Kafka.)"""
import time

from harness import domain

# The upstream is only dialled when a client connects.
NO_BROKER = "127.0.0.1:9"

PARTNER = """\
apiVersion: gateway/v2
kind: AliasTopic
metadata: {name: orders, vCluster: partner-a}
spec: {physicalName: sales.orders}
---
apiVersion: gateway/v2
kind: AliasTopic
metadata: {name: returns, vCluster: partner-a}
spec: {physicalName: returns, physicalCluster: d2, access: READ}
---
apiVersion: gateway/v2
kind: AliasTopic
metadata: {name: feedback, vCluster: partner-a}
spec: {physicalName: partner-feedback, access: WRITE}
---
apiVersion: gateway/v2
kind: VirtualCluster
metadata: {name: partner-a}
spec: {homeDomain: d1}
"""


def gateway(cluster, **kwargs):
    """A gateway with two streaming domains, d1 and d2."""
    return cluster.gatehouse([domain("d1", NO_BROKER), domain("d2", NO_BROKER)], **kwargs)


def vcluster(name, **spec):
    return {"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name}, "spec": spec}


def alias(name, physical, vc="partner-a", **spec):
    return {"apiVersion": "gateway/v2", "kind": "AliasTopic", "metadata": {"name": name, "vCluster": vc},
            "spec": {"physicalName": physical, **spec}}


def aliases(gw, vc=None):
    path = "alias-topic" + (f"?vCluster={vc}" if vc else "")
    r = gw.api("GET", path)
    assert r.status == 200, r.raw
    return sorted(a["metadata"]["name"] for a in r.json)


def apply_partner(cluster, gw):
    f = cluster.workdir / "partner.yaml"
    f.write_text(PARTNER)
    return gw.cli("apply", "-f", str(f)), f


def test_apply_a_virtual_cluster_and_its_aliases_in_dependency_order(cluster):
    gw = gateway(cluster)
    r, f = apply_partner(cluster, gw)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "VirtualCluster/partner-a: CREATED",
        "AliasTopic/orders (vCluster partner-a): CREATED",
        "AliasTopic/returns (vCluster partner-a): CREATED",
        "AliasTopic/feedback (vCluster partner-a): CREATED",
    ]
    assert aliases(gw) == ["feedback", "orders", "returns"]
    assert gw.api("GET", "virtual-cluster/partner-a").json["spec"]["homeDomain"] == "d1"
    # Defaults are written out; an unset physicalCluster stays unset (the home domain).
    assert gw.api("GET", "alias-topic/orders?vCluster=partner-a").json == {
        "apiVersion": "gateway/v2", "kind": "AliasTopic",
        "metadata": {"name": "orders", "vCluster": "partner-a"},
        "spec": {"physicalName": "sales.orders", "access": "READ"},
    }
    r = gw.cli("apply", "-f", str(f))
    assert r.returncode == 0 and r.stdout.count("NOT_CHANGED") == 4, (r.stdout, r.stderr)


def test_put_get_delete_and_dry_run_through_the_admin_api(cluster):
    gw = gateway(cluster)
    assert gw.api("PUT", "virtual-cluster", vcluster("partner-a", homeDomain="d1")).status == 200
    r = gw.api("PUT", "alias-topic?dryMode=true", alias("orders", "sales.orders"))
    assert (r.status, r.json["upsertResult"]) == (200, "CREATED"), r.raw
    assert aliases(gw) == [], "a dry run saves nothing"
    r = gw.api("PUT", "alias-topic", alias("orders", "sales.orders"))
    assert (r.status, r.json["upsertResult"]) == (200, "CREATED"), r.raw
    assert gw.api("PUT", "alias-topic", alias("orders", "sales.orders")).json["upsertResult"] == "NOT_CHANGED"
    r = gw.api("PUT", "alias-topic", alias("orders", "sales.orders", access="WRITE"))
    assert r.json["upsertResult"] == "UPDATED"
    doc = gw.api("GET", "alias-topic/orders?vCluster=partner-a").json
    assert doc["spec"]["access"] == "WRITE"
    # GET output is valid PUT input; the kind name works as a path too.
    assert gw.api("PUT", "AliasTopic", doc).json["upsertResult"] == "NOT_CHANGED"
    assert gw.api("GET", "alias-topic?vCluster=team-b").json == []
    # A virtual cluster with aliases cannot be deleted.
    r = gw.api("DELETE", "virtual-cluster/partner-a")
    assert r.status == 409 and "alias topics 'orders'" in r.json["msg"], r.raw
    # Deleting is scoped: passthrough (the default vCluster) has no alias 'orders'.
    assert gw.api("DELETE", "alias-topic/orders").status == 404
    r = gw.api("DELETE", "alias-topic/orders?vCluster=partner-a")
    assert r.status == 200 and r.json["resource"] == doc, r.raw
    assert gw.api("GET", "alias-topic/orders?vCluster=partner-a").status == 404
    assert gw.api("DELETE", "virtual-cluster/partner-a").status == 200
    # The OpenAPI document describes the kind.
    spec = gw.api("GET", "openapi.json").json
    assert "/gateway/v2/alias-topic/{name}" in spec["paths"]
    assert set(spec["components"]["schemas"]["AliasTopic"]["properties"]["spec"]["properties"]) == {
        "physicalName", "physicalCluster", "access"}
    assert "homeDomain" in spec["components"]["schemas"]["VirtualCluster"]["properties"]["spec"]["properties"]


def test_cli_get_and_delete(cluster):
    gw = gateway(cluster)
    r, _ = apply_partner(cluster, gw)
    assert r.returncode == 0, r.stderr
    r = gw.cli("get", "alias-topic", "returns", "--vcluster", "partner-a")
    assert r.returncode == 0, r.stderr
    assert "physicalCluster: d2" in r.stdout and "physicalName: returns" in r.stdout, r.stdout
    exported = cluster.workdir / "exported.yaml"
    r = gw.cli("get", "alias-topic", "--vcluster", "partner-a")
    assert r.returncode == 0 and r.stdout.count("kind: AliasTopic") == 3, r.stdout
    exported.write_text(r.stdout)
    r = gw.cli("apply", "-f", str(exported))
    assert r.returncode == 0 and r.stdout.count("NOT_CHANGED") == 3, (r.stdout, r.stderr)
    r = gw.cli("delete", "virtual-cluster", "partner-a")
    assert r.returncode != 0 and "Conflict (CONFLICT, HTTP 409)" in r.stderr, r.stderr
    r = gw.cli("delete", "AliasTopic", "orders", "--vcluster", "partner-a")
    assert (r.returncode, r.stdout.strip()) == (0, "AliasTopic/orders (vCluster partner-a): DELETED"), r.stderr
    assert aliases(gw) == ["feedback", "returns"]
    r = gw.cli("get", "alias-topic", "a/b", "--vcluster", "partner-a")
    assert r.returncode != 0 and "NAME: " in r.stderr and "topic name" in r.stderr, r.stderr


# Each refusal: the document, the HTTP status, the field the message starts with (after the
# batch prefix, for the CLI).
REFUSALS = [
    # An alias of an alias, either way round.
    (alias("x", "orders"), 409, "spec.physicalName"),
    (alias("sales.orders", "y"), 409, "metadata.name"),
    # One of the tenant's own topics, seen under another name.
    (alias("mine", "partner-a.inbox"), 409, "spec.physicalName"),
    # A second name for one topic of one domain (physicalCluster d1 is the home domain).
    (alias("again", "sales.orders", physicalCluster="d1"), 409, "spec.physicalName"),
    # WRITE off the home domain, and WRITE naming a domain where none is declared.
    (alias("w", "w", access="WRITE", physicalCluster="d2"), 409, "spec.physicalCluster"),
    (alias("w", "w", vc="team-b", access="WRITE", physicalCluster="d1"), 409, "spec.physicalCluster"),
    # Unknown domains.
    (alias("z", "z", physicalCluster="d9"), 400, "spec.physicalCluster"),
    (vcluster("team-c", homeDomain="d9"), 400, "spec.homeDomain"),
    # Changing an alias's domain (delete and recreate), directly or by moving the home domain.
    (alias("orders", "sales.orders", physicalCluster="d2"), 409, "spec.physicalCluster"),
    (vcluster("partner-a", homeDomain="d2"), 409, "spec.homeDomain"),
    # Physical names and alias names that are not Kafka topic names.
    (alias("bad", "has space"), 400, "spec.physicalName"),
    (alias("bad", ".."), 400, "spec.physicalName"),
    (alias("bad", "x" * 250), 400, "spec.physicalName"),
    (alias("a/b", "ok"), 400, "metadata.name"),
    # Passthrough has no aliases; the virtual cluster must exist.
    (alias("p", "p", vc="passthrough"), 400, "metadata.vCluster"),
    (alias("p", "p", vc="nowhere"), 400, "metadata.vCluster"),
]


def state(gw):
    return (gw.api("GET", "alias-topic").json, gw.api("GET", "virtual-cluster").json)


def test_every_refusal_names_the_field_and_writes_nothing(cluster):
    gw = gateway(cluster)
    r, _ = apply_partner(cluster, gw)
    assert r.returncode == 0, r.stderr
    assert gw.api("PUT", "virtual-cluster", vcluster("team-b")).status == 200
    before = state(gw)
    for doc, status, field in REFUSALS:
        kind = "alias-topic" if doc["kind"] == "AliasTopic" else "virtual-cluster"
        for query in ["?dryMode=true", ""]:
            r = gw.api("PUT", kind + query, doc)
            assert r.status == status, (doc, query, r.status, r.raw)
            assert r.json["msg"].startswith(field + ": "), (doc, r.json)
        # In a batch, after a document that would succeed: the batch fails and names both.
        r = gw.api("POST", "apply", {"resources": [alias("fine", "fine.topic"), doc]})
        assert r.status == status, (doc, r.raw)
        assert r.json["msg"].startswith("resources[1]"), r.json
        assert f"{field}: " in r.json["msg"], r.json
    assert state(gw) == before, "nothing was written"


def test_a_failing_multi_document_apply_leaves_nothing_written(cluster):
    gw = gateway(cluster)
    f = cluster.workdir / "partner.yaml"
    # A valid virtual cluster and alias, then a WRITE alias off the home domain.
    f.write_text(PARTNER + """\
---
apiVersion: gateway/v2
kind: AliasTopic
metadata: {name: upload, vCluster: partner-a}
spec: {physicalName: uploads, physicalCluster: d2, access: WRITE}
""")
    r = gw.cli("apply", "-f", str(f))
    assert r.returncode != 0
    assert "spec.physicalCluster: a WRITE alias must be on virtual cluster 'partner-a''s home domain 'd1'" in r.stderr, r.stderr
    assert "partner.yaml (document 5)" in r.stderr, r.stderr
    assert aliases(gw) == [] and gw.api("GET", "virtual-cluster").json == []
    r = gw.cli("apply", "-f", str(f), "--dry-run")
    assert r.returncode != 0 and "spec.physicalCluster" in r.stderr, r.stderr
    # An unknown domain in a file is named the same way.
    f.write_text(PARTNER.replace("homeDomain: d1", "homeDomain: d7"))
    r = gw.cli("apply", "-f", str(f))
    assert r.returncode != 0 and "spec.homeDomain: no streaming domain named 'd7'" in r.stderr, r.stderr
    assert "partner.yaml (document 4)" in r.stderr, r.stderr
    assert aliases(gw) == [] and gw.api("GET", "virtual-cluster").json == []


def test_a_second_gateway_on_the_same_postgresql_sees_an_alias_within_a_second(cluster, postgres):
    a = gateway(cluster, name="gw-a", store={"url": postgres.url})
    b = gateway(cluster, name="gw-b", store={"url": postgres.url})
    assert a.api("PUT", "virtual-cluster", vcluster("partner-a", homeDomain="d1")).status == 200
    r = a.api("PUT", "alias-topic", alias("returns", "returns", physicalCluster="d2"))
    assert r.status == 200, r.raw
    started = time.monotonic()
    while b.api("GET", "alias-topic/returns?vCluster=partner-a").status != 200:
        assert time.monotonic() - started < 1.5, "the alias did not reach the other gateway within ~1 s"
        time.sleep(0.05)
    assert b.api("GET", "alias-topic/returns?vCluster=partner-a").json == r.json["resource"]
    # The other gateway refuses against the shared state: the alias cannot move domains there.
    r = b.api("PUT", "alias-topic", alias("returns", "returns"))
    assert r.status == 409 and r.json["msg"].startswith("spec.physicalCluster: "), r.raw
    assert a.api("DELETE", "alias-topic/returns?vCluster=partner-a").status == 200
    started = time.monotonic()
    while b.api("GET", "alias-topic/returns?vCluster=partner-a").status != 404:
        assert time.monotonic() - started < 1.5, "the delete did not reach the other gateway within ~1 s"
        time.sleep(0.05)
