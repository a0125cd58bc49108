"""The control-plane store failing under a running gateway (issue 12, defect 6): the SQLite store
made unwritable while clients produce and consume through librdkafka. The gateway must not die
(it did, of SIGBUS, when the WAL index file it had memory-mapped became unwritable), traffic
goes on with the last snapshot, a PUT answers 503 saying why, and writes work again once the
file does.

Tests run as root, for whom permission bits change nothing: the fault is `chattr +i`
(immutable: even root's writes, through descriptors already open, fail with EPERM)."""
import subprocess
import threading
import time
from pathlib import Path

from confluent_kafka import Producer

from clients import consume, create_topic, unique
from harness import domain


def vcluster(name):
    return {"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name}}


def set_immutable(paths: list[Path], on: bool) -> None:
    for p in paths:
        subprocess.run(["chattr", "+i" if on else "-i", str(p)], check=True, capture_output=True)


class ProducerThread:
    """Produces one record about every 10 ms until stopped; remembers what was delivered."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic, self.delivered, self.errors = topic, [], []
        self.stopping = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                                  "message.timeout.ms": 15000})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_delivery(self, err, msg) -> None:
        (self.errors if err else self.delivered).append(err or msg.value())

    def _run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            self.producer.produce(self.topic, f"r-{i}".encode(), on_delivery=self._on_delivery)
            self.producer.poll(0.01)
            i += 1
        self.producer.flush(30)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while len(self.delivered) < count:
            assert time.time() < deadline, f"only {len(self.delivered)} of {count} records delivered"
            assert not self.errors, self.errors[:3]
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)


def test_an_unwritable_store_refuses_writes_with_503_and_traffic_goes_on(cluster):
    broker = cluster.tansu()
    store_dir = cluster.workdir / "store"
    # No `?mode=rwc`: a SQLite URL naming a file that does not exist yet creates it.
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap)], store={"url": f"sqlite://{store_dir}/gh.db"})
    assert gw.api("PUT", "virtual-cluster", vcluster("before")).status == 200
    # No store file is memory-mapped (WAL's -shm index was, and a fault in it was SIGBUS).
    maps = Path(f"/proc/{gw.proc.pid}/maps").read_text()
    assert str(store_dir) not in maps, [line for line in maps.splitlines() if str(store_dir) in line]
    topic = unique("faults")
    create_topic(gw.bootstrap(), topic)
    traffic = ProducerThread(gw.bootstrap(), topic)
    frozen = [store_dir, *store_dir.iterdir()]
    try:
        traffic.wait_for(50)
        set_immutable(frozen, True)
        r = gw.api("PUT", "virtual-cluster", vcluster("during"))
        assert r.status == 503, (r.status, r.raw)
        msg = r.json["msg"]
        assert msg.startswith("store unavailable: cannot save the change: ") and "revision" in msg, msg
        assert gw.alive(), gw.log()[-3000:]
        # Traffic goes on: the running producer, and a new consumer group on new connections.
        at_fault = len(traffic.delivered)
        traffic.wait_for(at_fault + 100)
        got = consume(gw.bootstrap(), topic, unique("g"), at_fault + 100, timeout=30)
        assert set(traffic.delivered[: at_fault + 100]) <= set(got)
        assert gw.alive(), gw.log()[-3000:]
        assert gw.api("GET", "virtual-cluster/before").status == 200, "reads are served from the snapshot"
        assert gw.api("GET", "virtual-cluster/during").status == 404
    finally:
        set_immutable(frozen, False)
    # Once the file is writable again, so is the store (no restart).
    deadline = time.time() + 10
    while (r := gw.api("PUT", "virtual-cluster", vcluster("after"))).status != 200:
        assert time.time() < deadline, (r.status, r.raw)
        time.sleep(0.1)
    traffic.stop()
    assert not traffic.errors, traffic.errors[:3]
    assert gw.alive()
    # Nothing that failed was saved; everything acknowledged was.
    gw.stop()
    gw.start()
    assert gw.api("GET", "virtual-cluster/before").status == 200
    assert gw.api("GET", "virtual-cluster/after").status == 200
    assert gw.api("GET", "virtual-cluster/during").status == 404
