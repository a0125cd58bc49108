"""The admin API's gateway/v2 resources over HTTP against the release binary: auth, upsert
results, dry runs, round trips, validation and conflicts, the OpenAPI document, and where the
resources live (SQLite across restarts, PostgreSQL shared by two gateways)."""
import sqlite3
import subprocess
import time

from harness import ADMIN_PASSWORD, ADMIN_USER, domain, gatehouse_binary

# No test here talks Kafka: the upstream is only dialled when a client connects.
NO_BROKER = "127.0.0.1:9"


def vcluster(name, **spec):
    doc = {"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name}}
    if spec:
        doc["spec"] = spec
    return doc


def account(name, vcluster_name, external=None):
    spec = {"type": "EXTERNAL", "externalNames": external} if external else {"type": "LOCAL"}
    return {"apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": name, "vCluster": vcluster_name}, "spec": spec}


def gateway(cluster, **kwargs):
    return cluster.gatehouse([domain("kafka1", NO_BROKER)], **kwargs)


def test_unauthenticated_calls_are_refused_health_and_metrics_stay_open(cluster):
    gw = gateway(cluster)
    for auth in [None, (ADMIN_USER, "wrong"), ("someone", ADMIN_PASSWORD)]:
        for method, path, body in [("GET", "virtual-cluster", None), ("PUT", "virtual-cluster", vcluster("a")),
                                   ("DELETE", "virtual-cluster/a", None), ("GET", "openapi.json", None)]:
            r = gw.api(method, path, body, auth=auth)
            assert r.status == 401, (method, path, auth)
            assert r.headers["WWW-Authenticate"].startswith("Basic")
            assert r.json["title"] == "Unauthorized"
    assert gw.api("GET", "virtual-cluster").json == [], "nothing was created by refused calls"
    assert gw.api("GET", "/health/live", auth=None).status == 200
    assert gw.api("GET", "/metrics", auth=None).status == 200


def test_without_admin_users_the_v2_api_refuses_everything(cluster):
    gw = gateway(cluster, admin_users=[])
    r = gw.api("GET", "virtual-cluster", auth=("admin", ""))
    assert r.status == 401
    assert "no users" in r.json["msg"]
    assert gw.api("GET", "/health/ready", auth=None).status == 200


def test_admin_password_from_the_environment(cluster):
    gw = gateway(cluster, admin_users=[{"username": "ops", "password": "${OPS_PASSWORD}"}],
                 env={"OPS_PASSWORD": "from-env"})
    assert gw.api("GET", "virtual-cluster", auth=("ops", "from-env")).status == 200
    assert gw.api("GET", "virtual-cluster", auth=("ops", "${OPS_PASSWORD}")).status == 401


def test_put_answers_created_updated_not_changed(cluster):
    gw = gateway(cluster)
    r = gw.api("PUT", "virtual-cluster", vcluster("team-a"))
    assert r.status == 200
    assert r.json["upsertResult"] == "CREATED"
    assert r.json["resource"] == {
        "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "team-a"},
        "spec": {"prefix": "team-a.", "separator": ".", "aclEnabled": False, "superUsers": [], "type": "Standard"},
    }
    assert gw.api("PUT", "virtual-cluster", vcluster("team-a")).json["upsertResult"] == "NOT_CHANGED"
    r = gw.api("PUT", "virtual-cluster", vcluster("team-a", aclEnabled=True, superUsers=["boss"]))
    assert r.json["upsertResult"] == "UPDATED"
    assert gw.api("GET", "virtual-cluster/team-a").json["spec"]["superUsers"] == ["boss"]
    r = gw.api("PUT", "service-account", account("alice", "team-a"))
    assert (r.status, r.json["upsertResult"]) == (200, "CREATED")
    assert gw.api("GET", "service-account/alice?vCluster=team-a").json["metadata"] == {"name": "alice", "vCluster": "team-a"}
    assert gw.api("GET", "service-account/alice").status == 404, "default vCluster is passthrough"


def test_dry_mode_validates_and_saves_nothing(cluster):
    gw = gateway(cluster)
    r = gw.api("PUT", "virtual-cluster?dryMode=true", vcluster("team-a"))
    assert (r.status, r.json["upsertResult"]) == (200, "CREATED")
    assert gw.api("GET", "virtual-cluster/team-a").status == 404
    assert gw.api("GET", "virtual-cluster").json == []
    r = gw.api("PUT", "service-account?dryMode=true", account("alice", "team-a"))
    assert r.status == 400 and r.json["msg"].startswith("metadata.vCluster: "), r.json


def test_get_output_is_valid_put_input(cluster):
    gw = gateway(cluster)
    gw.api("PUT", "virtual-cluster", vcluster("team-a", separator="_"))
    gw.api("PUT", "service-account", account("bob", "team-a", ["CN=bob,O=partner"]))
    for path, listing in [("virtual-cluster/team-a", "virtual-cluster"),
                          ("service-account/bob?vCluster=team-a", "service-account")]:
        doc = gw.api("GET", path).json
        kind_path = listing
        r = gw.api("PUT", kind_path, doc)
        assert (r.status, r.json["upsertResult"], r.json["resource"]) == (200, "NOT_CHANGED", doc)
        assert gw.api("GET", listing).json == [doc]


def test_unknown_field_is_refused_naming_it(cluster):
    gw = gateway(cluster)
    r = gw.api("PUT", "virtual-cluster", vcluster("team-a", prefix="a.", colour="red"))
    assert r.status == 400
    assert r.json["msg"].startswith("spec.colour: unknown field `colour`"), r.json
    assert set(r.json) == {"title", "msg", "cause"}
    r = gw.api("PUT", "virtual-cluster", vcluster("team-a", prefix="has space"))
    assert r.status == 400 and r.json["msg"].startswith("spec.prefix: "), r.json
    assert gw.api("GET", "virtual-cluster").json == []


def test_overlapping_prefix_is_a_conflict_naming_the_other_vcluster(cluster):
    gw = gateway(cluster)
    assert gw.api("PUT", "virtual-cluster", vcluster("a", prefix="a.")).status == 200
    r = gw.api("PUT", "virtual-cluster", vcluster("ab", prefix="a.b."))
    assert r.status == 409
    assert "virtual cluster 'a'" in r.json["msg"], r.json
    r = gw.api("PUT", "virtual-cluster", vcluster("short", prefix="a"))
    assert r.status == 409
    assert gw.api("GET", "virtual-cluster/ab").status == 404


def test_passthrough_is_built_in(cluster):
    gw = gateway(cluster)
    r = gw.api("DELETE", "virtual-cluster/passthrough")
    assert r.status == 400 and "built-in" in r.json["msg"], r.json
    r = gw.api("PUT", "virtual-cluster", vcluster("passthrough", prefix="p."))
    assert r.status == 400 and r.json["msg"].startswith("metadata.name: "), r.json
    # Accounts may live in it without creating it.
    assert gw.api("PUT", "service-account", account("carol", "passthrough")).status == 200


def test_deleting_a_referenced_vcluster_is_refused_and_deletes_nothing(cluster):
    gw = gateway(cluster)
    gw.api("PUT", "virtual-cluster", vcluster("team-a"))
    gw.api("PUT", "service-account", account("alice", "team-a"))
    r = gw.api("DELETE", "virtual-cluster/team-a")
    assert r.status == 409
    assert "'alice'" in r.json["msg"], r.json
    assert gw.api("GET", "virtual-cluster/team-a").status == 200
    assert gw.api("GET", "service-account/alice?vCluster=team-a").status == 200
    assert gw.api("DELETE", "service-account/alice?vCluster=team-a").status == 200
    assert gw.api("DELETE", "virtual-cluster/team-a").status == 200
    assert gw.api("GET", "virtual-cluster/team-a").status == 404
    assert gw.api("DELETE", "virtual-cluster/team-a").status == 404


def test_unknown_kind_is_not_found(cluster):
    gw = gateway(cluster)
    r = gw.api("GET", "topics")
    assert r.status == 404 and "unknown resource kind 'topics'" in r.json["msg"]


def test_openapi_document_lists_every_path(cluster):
    gw = gateway(cluster)
    doc = gw.api("GET", "openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ["/gateway/v2/virtual-cluster", "/gateway/v2/virtual-cluster/{name}", "/gateway/v2/service-account",
                 "/gateway/v2/service-account/{name}", "/gateway/v2/apply", "/gateway/v2/openapi.json"]:
        assert path in doc["paths"], path
    for schema in ["VirtualCluster", "GatewayServiceAccount", "UpsertResponse", "Error"]:
        assert schema in doc["components"]["schemas"], schema


def test_sqlite_default_keeps_resources_across_a_restart(cluster):
    data_dir = cluster.workdir / "default-data"
    gw = gateway(cluster, own_store=False, env={"GATEHOUSE_DATA_DIR": str(data_dir)})
    assert "store" not in gw.config, "runs the default store"
    assert gw.api("PUT", "virtual-cluster", vcluster("team-a")).json["upsertResult"] == "CREATED"
    assert (data_dir / "gatehouse.db").exists()
    gw.stop()
    gw.start()
    assert gw.api("GET", "virtual-cluster/team-a").status == 200
    assert gw.api("PUT", "virtual-cluster", vcluster("team-a")).json["upsertResult"] == "NOT_CHANGED"


def test_a_schema_newer_than_the_binary_refuses_start(cluster):
    gw = gateway(cluster)
    gw.stop()
    db = sqlite3.connect(cluster.workdir / "gatehouse-data" / "gatehouse.db")
    db.execute("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
               "VALUES (9999, 'future', 1, x'00', 0)")
    db.commit()
    db.close()
    result = subprocess.run([str(gatehouse_binary()), "serve", "--config", str(gw.config_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "database schema version 9999 is newer than this gatehouse understands" in result.stderr, result.stderr


def test_an_unreachable_store_refuses_start(cluster):
    gw = gateway(cluster, store={"url": f"postgres://postgres@127.0.0.1:{cluster.ports.one()}/gatehouse"}, start=False)
    gw.config_path.write_text(__import__("yaml").safe_dump(gw.config))
    result = subprocess.run([str(gatehouse_binary()), "serve", "--config", str(gw.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "gatehouse: store: cannot open postgres://postgres@127.0.0.1:" in result.stderr, result.stderr


def test_two_gateways_sharing_postgresql_see_each_others_writes_within_a_second(cluster, postgres):
    a = gateway(cluster, name="gw-a", store={"url": postgres.url})
    b = gateway(cluster, name="gw-b", store={"url": postgres.url})
    assert a.api("PUT", "virtual-cluster", vcluster("shared")).json["upsertResult"] == "CREATED"
    started = time.monotonic()
    while b.api("GET", "virtual-cluster/shared").status != 200:
        assert time.monotonic() - started < 1.5, "not visible on the other gateway within ~1 s"
        time.sleep(0.05)
    # And back the other way, with a dependent resource.
    assert b.api("PUT", "service-account", account("dave", "shared")).status == 200
    started = time.monotonic()
    while a.api("GET", "service-account/dave?vCluster=shared").status != 200:
        assert time.monotonic() - started < 1.5, "gateway A did not learn of B's account within ~1 s"
        time.sleep(0.05)
    assert a.api("DELETE", "virtual-cluster/shared").status == 409
    assert b.api("GET", "virtual-cluster/shared").status == 200
