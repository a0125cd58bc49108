"""Gateway-side ACLs against the release binary, a real Tansu and real clients: managed through
the Kafka API (confluent-kafka's AdminClient, kafka-python's admin client) by a virtual
cluster's super user and answered by the gateway, enforced per principal with Kafka's error
codes (READ, DENY over ALLOW, PREFIXED, group ACLs, listings), another tenant's ACLs never
listed or matched, and a change made through one gateway reaching another on the same
PostgreSQL."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, ResourcePatternType, ResourceType)

from authn import TOKEN_SECRET_B64, plain_client, sasl_route
from clients import FAST_GROUP, produce
from harness import domain, route
from tenants import put_virtual_cluster, wait_until

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


def acl_gateway(cluster, store=None, tansu=None, name="gatehouse"):
    tansu = tansu or cluster.tansu()
    d = domain("d", tansu.bootstrap)
    secured = sasl_route(route("sasl", cluster.route_ports(d), "d"))
    g = cluster.gatehouse([d], [secured], name=name, store=store,
                          env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    g.tansu = tansu
    return g


def token(g, username: str, vcluster: str) -> dict:
    r = g.api("POST", "token", {"username": username, "vCluster": vcluster, "lifeTimeSeconds": 3600})
    assert r.status == 200, r.raw
    return plain_client(username, r.json["token"])


def admin_client(g, who: dict) -> AdminClient:
    return AdminClient({"bootstrap.servers": g.bootstrap("sasl"), **who})


def done(futures: dict, timeout: float = 20):
    return {k: f.result(timeout=timeout) for k, f in futures.items()}


def binding(principal: str, rtype, name: str, op, permission=ALLOW, pattern=LITERAL) -> AclBinding:
    return AclBinding(rtype, name, pattern, f"User:{principal}", "*", op, permission)


ANY_ACL = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                           AclOperation.ANY, AclPermissionType.ANY)


def read_one(g, who: dict, topic: str, group: str, timeout: float = 20) -> bytes | KafkaError:
    """The first record of `topic` read with consumer group `group`, or the error the
    consumer got instead (an authorization error is fatal to the read)."""
    c = Consumer({"bootstrap.servers": g.bootstrap("sasl"), "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_GROUP, **who})
    c.subscribe([topic])
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() in (KafkaError._PARTITION_EOF,):
                    continue
                return m.error()
            return m.value()
    finally:
        c.close()
    raise AssertionError(f"nothing read from {topic} in {timeout}s")


def seeded(g, admin: dict, *topics: str) -> None:
    from confluent_kafka.admin import NewTopic
    a = admin_client(g, admin)  # (referenced until its futures are done)
    done(a.create_topics([NewTopic(t, 1, 1) for t in topics], operation_timeout=10))
    for t in topics:
        produce(g.bootstrap("sasl"), t, [f"record of {t}".encode()], **admin)


@pytest.fixture
def acme(cluster):
    g = acl_gateway(cluster)
    put_virtual_cluster(g, "acme", aclEnabled=True, superUsers=["admin"])
    admin = token(g, "admin", "acme")
    seeded(g, admin, "orders", "returns", "reports")
    return g, admin


def test_acls_through_confluent_kafka_admin_decide_what_a_principal_reads(acme):
    g, admin = acme
    alice = token(g, "alice", "acme")
    a = admin_client(g, admin)

    # Deny by default: nothing is allowed, not even to see a topic.
    assert set(admin_client(g, alice).list_topics(timeout=10).topics) == set()
    assert set(a.list_topics(timeout=10).topics) >= {"orders", "returns", "reports"}

    done(a.create_acls([
        binding("alice", TOPIC, "orders", AclOperation.READ),
        binding("alice", GROUP, "app", AclOperation.READ),
        binding("alice", TOPIC, "re", AclOperation.READ, pattern=PREFIXED),
        binding("alice", TOPIC, "returns", AclOperation.READ, permission=DENY),
    ]))
    described = a.describe_acls(ANY_ACL).result(timeout=20)
    assert {(b.name, b.restype, b.permission_type) for b in described} == {
        ("orders", TOPIC, ALLOW), ("app", GROUP, ALLOW), ("re", TOPIC, ALLOW), ("returns", TOPIC, DENY)}
    # The ACLs are the gateway's, in the virtual cluster's document (tenant names).
    vc = g.api("GET", "virtual-cluster/acme").json
    assert {e["resourcePattern"]["name"] for e in vc["spec"]["acls"]} == {"orders", "app", "re", "returns"}

    def read_allowed():
        return read_one(g, alice, "orders", "app")
    assert wait_until(lambda: read_allowed() == b"record of orders", what="alice reads orders")
    # PREFIXED grants `reports`; the DENY beats it on `returns`.
    assert read_one(g, alice, "reports", "app") == b"record of reports"
    refused = read_one(g, alice, "returns", "app")
    assert isinstance(refused, KafkaError) and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
    # A group it may not READ.
    refused = read_one(g, alice, "orders", "other-group")
    assert isinstance(refused, KafkaError) and refused.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused
    # Listings show what alice may DESCRIBE (READ implies it; a DENY of READ leaves DESCRIBE).
    assert set(admin_client(g, alice).list_topics(timeout=10).topics) == {"orders", "reports", "returns"}

    # A non-super user may not manage ACLs (the client kept referenced while it answers).
    as_alice = admin_client(g, alice)
    with pytest.raises(KafkaException) as e:
        done(as_alice.create_acls([binding("alice", TOPIC, "*", AclOperation.ALL)]))
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # (librdkafka drops DescribeAcls' top-level error and answers no ACLs: nothing is shown.
    # kafka-python reports the error itself, see test_acls_through_kafka_python_admin.)
    assert as_alice.describe_acls(ANY_ACL).result(timeout=20) == []

    # Deleting the ALLOW on orders takes it away again: the connection that had it ends,
    # and the next one is refused.
    deleted = done(a.delete_acls([AclBindingFilter(TOPIC, "orders", LITERAL, None, None,
                                                   AclOperation.ANY, AclPermissionType.ANY)]))
    assert [b.name for fs in deleted.values() for b in fs] == ["orders"]

    def refused_now():
        r = read_one(g, alice, "orders", "app")
        return isinstance(r, KafkaError) and r.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert wait_until(refused_now, what="orders refused once its ACL is deleted")
    assert g.alive()


def test_a_produce_needs_write(acme):
    g, admin = acme
    bob = token(g, "bob", "acme")
    as_admin = admin_client(g, admin)
    done(as_admin.create_acls([
        binding("bob", TOPIC, "orders", AclOperation.WRITE),
        binding("bob", TOPIC, "returns", AclOperation.READ),
    ]))
    produce(g.bootstrap("sasl"), "orders", [b"bob was here"], **bob)
    from confluent_kafka import Producer
    errors = []
    p = Producer({"bootstrap.servers": g.bootstrap("sasl"), "acks": "all", **bob})
    p.produce("returns", b"no", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors
    # The record bob wrote is there (read by the super user).
    assert read_one(g, admin, "orders", "check") in (b"record of orders", b"bob was here")


def test_another_tenants_acls_are_never_listed_or_matched(acme, cluster):
    g, admin = acme
    # Tenant beta has a principal named alice too, and an ACL letting her read its orders.
    put_virtual_cluster(g, "beta", aclEnabled=True, superUsers=["root"], acls=[{
        "resourcePattern": {"resourceType": "TOPIC", "name": "orders", "patternType": "LITERAL"},
        "principal": "User:alice", "host": "*", "operation": "READ", "permissionType": "ALLOW"}])
    root = token(g, "root", "beta")
    seeded(g, root, "orders")
    alice_acme = token(g, "alice", "acme")
    as_admin, as_root = admin_client(g, admin), admin_client(g, root)
    assert as_admin.describe_acls(ANY_ACL).result(timeout=20) == []
    assert len(as_root.describe_acls(ANY_ACL).result(timeout=20)) == 1
    # beta's ACL does not let acme's alice read acme's orders.
    refused = read_one(g, alice_acme, "orders", "app")
    assert isinstance(refused, KafkaError) and refused.code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED), refused


def test_acls_through_kafka_python_admin(acme):
    from kafka import KafkaAdminClient
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourcePatternFilter)
    from kafka.admin import ResourceType as KpResourceType
    from kafka.errors import ClusterAuthorizationFailedError

    g, admin = acme
    client = KafkaAdminClient(bootstrap_servers=g.bootstrap("sasl"), security_protocol="SASL_PLAINTEXT",
                              sasl_mechanism="PLAIN", sasl_plain_username="admin",
                              sasl_plain_password=admin["sasl.password"], request_timeout_ms=20000)
    try:
        acl = ACL(principal="User:carol", host="*", operation=ACLOperation.READ,
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(KpResourceType.TOPIC, "orders"))
        result = client.create_acls([acl])
        assert result["failed"] == [] and len(result["succeeded"]) == 1, result
        any_filter = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(KpResourceType.ANY, None,
                                                                      ACLResourcePatternType.ANY))
        found, error = client.describe_acls(any_filter)
        assert error.errno == 0 and [a.principal for a in found] == ["User:carol"], (found, error)
        deleted = client.delete_acls([any_filter])
        assert len(deleted[0][1]) == 1, deleted
        found, _ = client.describe_acls(any_filter)
        assert found == []
    finally:
        client.close()

    # carol is no super user: the gateway refuses her with CLUSTER_AUTHORIZATION_FAILED.
    carol = token(g, "carol", "acme")
    client = KafkaAdminClient(bootstrap_servers=g.bootstrap("sasl"), security_protocol="SASL_PLAINTEXT",
                              sasl_mechanism="PLAIN", sasl_plain_username="carol",
                              sasl_plain_password=carol["sasl.password"], request_timeout_ms=20000)
    try:
        with pytest.raises(ClusterAuthorizationFailedError, match="super users"):
            client.describe_acls(any_filter)
        result = client.create_acls([acl])
        assert result["succeeded"] == [] and len(result["failed"]) == 1, result
    finally:
        client.close()


def test_a_change_through_one_gateway_reaches_another_on_the_same_postgresql(cluster, postgres):
    tansu = cluster.tansu()
    a = acl_gateway(cluster, store={"url": postgres.url}, tansu=tansu, name="gw-a")
    b = acl_gateway(cluster, store={"url": postgres.url}, tansu=tansu, name="gw-b")
    put_virtual_cluster(a, "acme", aclEnabled=True, superUsers=["admin"])
    admin = token(a, "admin", "acme")
    seeded(a, admin, "orders")
    dave = token(a, "dave", "acme")
    assert set(admin_client(b, dave).list_topics(timeout=10).topics) == set()
    as_admin = admin_client(a, admin)
    done(as_admin.create_acls([binding("dave", TOPIC, "orders", AclOperation.DESCRIBE)]))
    start = time.time()
    wait_until(lambda: set(admin_client(b, dave).list_topics(timeout=10).topics) == {"orders"},
               timeout=5, what="the ACL made through gw-a in force on gw-b")
    assert time.time() - start < 3


def test_bad_acl_documents_are_refused_with_the_field_named(acme):
    g, _ = acme
    r = g.api("PUT", "virtual-cluster", {
        "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "acme"},
        "spec": {"aclEnabled": True, "superUsers": ["admin"], "acls": [{
            "resourcePattern": {"resourceType": "TOPIC", "name": "orders"},
            "principal": "User:alice", "operation": "READS", "permissionType": "ALLOW"}]}})
    assert r.status == 400 and "spec.acls[0].operation" in r.raw.decode(), r.raw
    # Nothing was half-applied: acme's ACLs are as they were.
    assert "acls" not in g.api("GET", "virtual-cluster/acme").json["spec"]
