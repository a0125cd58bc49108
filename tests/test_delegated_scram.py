"""Delegated SCRAM and the gateway's own SCRAM login, against a Tansu that checks SCRAM itself
(its libsql build, the only one that stores SCRAM users; scripts/setup-env installs it)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from confluent_kafka import Producer

from authn import sasl_route
from clients import consume, produce
from harness import ROOT, Tansu, domain, route, wait_for_port
from test_delegated_sasl import create_topic_with

SCRAM_TANSU = Path(os.environ.get("TANSU_SCRAM_BIN", ROOT / ".tools" / "tansu-scram" / "bin" / "tansu"))


class ScramTansu(Tansu):
    """Tansu on a sqlite store, with SCRAM authentication once users exist."""

    def start(self, authentication: bool = True) -> "ScramTansu":
        argv = [str(SCRAM_TANSU), "broker", "--cluster-id", self.cluster_id,
                "--listener-url", f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                # A relative sqlite URL names a file in the working directory.
                "--storage-engine", f"sqlite://scram-{self.port}.db"]
        if authentication:
            argv.append("--authentication")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_path.parent,
                                     start_new_session=True)
        wait_for_port(self.port, proc=self.proc)
        return self

    def add_user(self, name: str, password: str, mechanism: str) -> None:
        subprocess.run([str(SCRAM_TANSU), "user", "create", "--broker", f"tcp://127.0.0.1:{self.port}",
                        name, password, "--mechanism", mechanism], check=True, capture_output=True, timeout=30)


def scram_client(mechanism: str, username: str, password: str) -> dict:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": username, "sasl.password": password}


def test_delegated_scram_against_an_upstream_that_checks_it(cluster):
    assert SCRAM_TANSU.exists(), f"{SCRAM_TANSU} missing: run scripts/setup-env"
    tansu = ScramTansu(cluster.workdir, cluster.ports.one(), "scram")
    cluster.processes.append(tansu)
    tansu.start(authentication=False)
    tansu.add_user("alice", "alice-secret", "scram512")
    tansu.add_user("bob", "bob-secret", "scram256")
    tansu.add_user("svc", "svc-secret", "scram512")
    tansu.stop()
    tansu.start(authentication=True)

    d = domain("scram", tansu.bootstrap)
    # The gateway's own connections (discovery) log in as svc with SCRAM-SHA-512.
    d["kafkaCluster"]["bootstrapServers"][0]["sasl"] = {"mechanism": "SCRAM-SHA-512", "username": "svc",
                                                        "password": "${SVC_PASSWORD}"}
    delegated = sasl_route(route("delegated", cluster.route_ports(d), "scram"), "DELEGATED_SASL_PLAINTEXT")
    g = cluster.gatehouse([d], [delegated], env={"SVC_PASSWORD": "svc-secret"})
    bs = g.bootstrap("delegated")

    # SCRAM-SHA-512 and SCRAM-SHA-256, each checked by the broker; the gateway learns the name.
    alice = scram_client("SCRAM-SHA-512", "alice", "alice-secret")
    create_topic_with(bs, "orders", alice)
    produce(bs, "orders", [b"from alice"], **alice)
    bob = scram_client("SCRAM-SHA-256", "bob", "bob-secret")
    produce(bs, "orders", [b"from bob"], **bob)
    assert sorted(consume(bs, "orders", "app", 2, **alice)) == [b"from alice", b"from bob"]
    log = g.log()
    assert "principal=alice" in log and "principal=bob" in log, log[-2000:]

    # A wrong password is refused by the broker, and nothing of the client's gets through.
    errors = []
    p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e),
                  **scram_client("SCRAM-SHA-512", "alice", "wrong")})
    p.produce("orders", b"x")
    p.flush(4)
    assert any("authentic" in e.str().lower() for e in errors), errors
    assert "svc-secret" not in g.log() and "alice-secret" not in g.log()
