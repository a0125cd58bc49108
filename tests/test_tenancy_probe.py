"""Protocol-level probes: tenant A sends every API key a tenant can use, naming tenant B's
upstream topics, groups, transactional ids and topic ids, and nothing of B's is seen or
changed (see crates/probe)."""
from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from confluent_kafka import Consumer, Producer

from clients import FAST_GROUP, consume, create_topic, produce
from harness import ROOT
from rawkafka import init_producer_id
from tenants import put_virtual_cluster, tenant_gateway

# What Tansu does wrong with these probes; the gateway forwards them correctly (the golden
# cases in crates/tenancy cover their mapping).
UPSTREAM_QUIRKS = {
    "CreateAcls": "Tansu's CreateAcls response has a null results array",
}


def probe_binary() -> Path:
    gatehouse = Path(os.environ.get("GATEHOUSE_BIN", ROOT / "target" / "release" / "gatehouse"))
    return gatehouse.with_name("gatehouse-probe")


def run_probe(*args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Runs gatehouse-probe; asserts it found no leak and hit no error beyond Tansu's quirks.
    Returns the process and its results (one per probe)."""
    out = subprocess.run([str(probe_binary()), *args], capture_output=True, text=True, timeout=180)
    assert out.returncode in (0, 1), out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    leaks = [r for r in results if r["outcome"] == "leak"]
    assert not leaks, json.dumps(leaks, indent=1)
    errors = [r for r in results if r["outcome"] == "error" and r["key"] not in UPSTREAM_QUIRKS]
    assert not errors, json.dumps(errors, indent=1)
    return out, results


def test_tenant_a_cannot_see_or_change_anything_of_tenant_b(cluster):
    g = tenant_gateway(cluster, {"a": "a", "b": "b", "raw": None})
    put_virtual_cluster(g, "a")
    put_virtual_cluster(g, "b")
    a, b, raw = g.bootstrap("a"), g.bootstrap("b"), g.bootstrap("raw")
    victim = {"client.id": "victim-b"}

    # B's state: a topic with records, a group with committed offsets, a transactional id.
    create_topic(a, "orders")
    create_topic(b, "orders")
    produce(b, "orders", [f"SECRET-B-{i}".encode() for i in range(10)], **victim)
    assert len(consume(b, "orders", "app", 10, **victim)) == 10
    tx = Producer({"bootstrap.servers": b, "transactional.id": "tx", **victim})
    tx.init_transactions(10)
    tx.begin_transaction()
    tx.produce("orders", b"SECRET-B-tx")
    tx.commit_transaction(10)
    # A producer id issued to another of B's transactional ids, for A to try to use.
    victim_pid = init_producer_id(g.route_port("b"), "tx-probe")

    # B's consumer stays in its group while A probes, so member data exists to leak.
    stop = threading.Event()

    def member():
        c = Consumer({"bootstrap.servers": b, "group.id": "live", "auto.offset.reset": "earliest",
                      **FAST_GROUP, **victim})
        c.subscribe(["orders"])
        while not stop.is_set():
            c.poll(0.2)
        c.close()

    t = threading.Thread(target=member)
    t.start()
    try:
        out, results = run_probe(
            "--tenant", a, "--raw", raw, "--victim-topic", "b.orders", "--victim-group", "b.app",
            "--victim-txn", "b.tx", "--victim-secret", "SECRET-B", "--victim-client-id", "victim-b",
            "--victim-producer-id", str(victim_pid))
    finally:
        stop.set()
        t.join()
    assert out.returncode == 0

    probed = {r["key"] for r in results if r["outcome"] == "ok"}
    # Everything Tansu implements was exercised live.
    for key in ["Metadata", "Produce", "Fetch", "ListOffsets", "OffsetCommit", "OffsetFetch", "FindCoordinator",
                "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup", "DescribeGroups", "ListGroups", "DeleteGroups",
                "CreateTopics", "DeleteTopics", "DescribeConfigs", "IncrementalAlterConfigs",
                "DescribeTopicPartitions", "InitProducerId", "AddPartitionsToTxn", "AddOffsetsToTxn",
                "TxnOffsetCommit", "DescribeAcls", "ConsumerGroupDescribe", "ElectLeaders", "DescribeLogDirs"]:
        assert key in probed, key
    # A's transactional requests with B's producer id were answered by the gateway (error 49).
    foreign = [r for r in results if "B's pid" in r["probe"]]
    assert len(foreign) == 8 and all(r["outcome"] == "ok" for r in foreign), json.dumps(foreign, indent=1)
    # B is intact and still served.
    assert sorted(consume(b, "orders", "app2", 11)) == sorted(
        [f"SECRET-B-{i}".encode() for i in range(10)] + [b"SECRET-B-tx"])
