"""`gatehouse apply | get | delete` against a running gateway's admin API."""
from harness import domain

NO_BROKER = "127.0.0.1:9"

# The account comes first: apply must still create its virtual cluster before it.
RESOURCES = """\
apiVersion: gateway/v2
kind: GatewayServiceAccount
metadata:
  name: alice
  vCluster: team-a
spec:
  type: EXTERNAL
  externalNames: ["CN=alice,O=example"]
---
apiVersion: gateway/v2
kind: VirtualCluster
metadata:
  name: team-a
---
apiVersion: gateway/v2
kind: VirtualCluster
metadata:
  name: partner-x
spec:
  prefix: px-
  type: Partner
  aclEnabled: true
  superUsers: [px-admin]
"""


def gateway(cluster):
    return cluster.gatehouse([domain("kafka1", NO_BROKER)])


def names(gw, kind):
    return sorted(r["metadata"]["name"] for r in gw.api("GET", kind).json)


def test_apply_a_multi_document_file_in_dependency_order(cluster):
    gw = gateway(cluster)
    f = cluster.workdir / "resources.yaml"
    f.write_text(RESOURCES)
    r = gw.cli("apply", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "VirtualCluster/team-a: CREATED",
        "VirtualCluster/partner-x: CREATED",
        "GatewayServiceAccount/alice (vCluster team-a): CREATED",
    ]
    assert names(gw, "virtual-cluster") == ["partner-x", "team-a"]
    assert gw.api("GET", "virtual-cluster/partner-x").json["spec"]["prefix"] == "px-"
    assert gw.api("GET", "service-account/alice?vCluster=team-a").status == 200
    r = gw.cli("apply", "-f", str(f))
    assert r.stdout.count("NOT_CHANGED") == 3, r.stdout


def test_dry_run_changes_nothing(cluster):
    gw = gateway(cluster)
    f = cluster.workdir / "resources.yaml"
    f.write_text(RESOURCES)
    r = gw.cli("apply", "-f", str(f), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "VirtualCluster/team-a: CREATED (dry run)" in r.stdout.splitlines()
    assert names(gw, "virtual-cluster") == []
    assert names(gw, "service-account") == []


def test_one_invalid_document_applies_nothing(cluster):
    gw = gateway(cluster)
    d = cluster.workdir / "dir"
    d.mkdir()
    (d / "a.yaml").write_text(RESOURCES)
    (d / "b.yml").write_text(
        "apiVersion: gateway/v2\nkind: VirtualCluster\nmetadata: {name: team-b}\nspec: {prefix: team-b., colour: red}\n")
    (d / "notes.txt").write_text("not a resource")
    r = gw.cli("apply", "-f", str(d))
    assert r.returncode != 0
    assert "spec.colour: unknown field `colour`" in r.stderr, r.stderr
    assert "b.yml (document 1)" in r.stderr, r.stderr
    assert "Invalid resource (INVALID_RESOURCE" in r.stderr, r.stderr
    assert names(gw, "virtual-cluster") == []
    assert names(gw, "service-account") == []

    # A conflict between two documents of the same apply also applies nothing.
    (d / "b.yml").write_text("apiVersion: gateway/v2\nkind: VirtualCluster\nmetadata: {name: team-b}\nspec: {prefix: team-a.x.}\n")
    r = gw.cli("apply", "-f", str(d))
    assert r.returncode != 0 and "Conflict" in r.stderr, r.stderr
    assert names(gw, "virtual-cluster") == []


def test_get_yaml_output_reapplies_as_not_changed(cluster):
    gw = gateway(cluster)
    f = cluster.workdir / "resources.yaml"
    f.write_text(RESOURCES)
    assert gw.cli("apply", "-f", str(f)).returncode == 0
    exported = cluster.workdir / "exported"
    exported.mkdir()
    for kind in ["virtual-cluster", "service-account"]:
        r = gw.cli("get", kind)
        assert r.returncode == 0, r.stderr
        (exported / f"{kind}.yaml").write_text(r.stdout)
    one = gw.cli("get", "VirtualCluster", "team-a", "-o", "json")
    assert one.returncode == 0 and '"prefix": "team-a."' in one.stdout
    (exported / "one.yaml").write_text(one.stdout)
    r = gw.cli("apply", "-f", str(exported))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all(line.endswith(": NOT_CHANGED") for line in lines), lines


def test_delete_and_errors(cluster):
    gw = gateway(cluster)
    f = cluster.workdir / "resources.yaml"
    f.write_text(RESOURCES)
    assert gw.cli("apply", "-f", str(f)).returncode == 0
    r = gw.cli("delete", "virtual-cluster", "team-a")
    assert r.returncode != 0
    assert "Conflict (CONFLICT, HTTP 409)" in r.stderr and "'alice'" in r.stderr, r.stderr
    r = gw.cli("delete", "service-account", "alice", "--vcluster", "team-a")
    assert (r.returncode, r.stdout.strip()) == (0, "GatewayServiceAccount/alice (vCluster team-a): DELETED"), r.stderr
    r = gw.cli("delete", "virtual-cluster", "team-a")
    assert (r.returncode, r.stdout.strip()) == (0, "VirtualCluster/team-a: DELETED"), r.stderr
    r = gw.cli("get", "virtual-cluster", "team-a")
    assert r.returncode != 0 and "Not found (NOT_FOUND, HTTP 404)" in r.stderr, r.stderr
    r = gw.cli("get", "virtual-cluster", password="wrong")
    assert r.returncode != 0 and "Unauthorized" in r.stderr, r.stderr
    r = gw.cli("get", "topics")
    assert r.returncode != 0 and "unknown kind 'topics'" in r.stderr
