#!/usr/bin/env python3
"""Gatehouse benchmark.

Runs librdkafka's rdkafka_performance directly against a Tansu broker and through Gatehouse
(release build) in front of the same broker, interleaved, for several rounds, and prints
medians and the ratio gateway/direct per scenario. Also reports the gateway's CPU per GB and
per 1000 requests (from /proc), added produce latency (librdkafka's own request round-trip
statistics), RSS with 10 000 idle client connections, and heap allocations per forwarded
request (a build with a counting allocator). Nothing here asserts a timing: it measures.

With --buffered, a second gateway in front of the same broker, with splice forwarding off,
runs each throughput scenario too (column "passthrough, buffered"): an A/B of zero-copy
forwarding within one run.

Usage: scripts/bench [--rounds N] [--quick] [--only a,b,...] [--buffered]
                     [--gateway BIN] [--baseline PREVIOUS_BIN]

With --baseline, a third gateway (the previous binary, same passthrough and virtual-cluster routes) runs each
throughput scenario too; the report adds its ratio and "this / previous".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from clients import create_topic  # noqa: E402
from harness import Gatehouse, Ports, Tansu, domain  # noqa: E402
from tenants import ADMIN, put_virtual_cluster  # noqa: E402

BENCH_DIR = ROOT / "target" / "bench"
PERF = BENCH_DIR / "librdkafka" / "examples" / "rdkafka_performance"
GATEWAY = ROOT / "target" / "release" / "gatehouse"
COUNTING_GATEWAY = ROOT / "target" / "bench-alloc" / "release" / "gatehouse"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- building the tools

def build(counting: bool) -> None:
    if not PERF.exists():
        manifest = ROOT / "bench" / "librdkafka-src" / "Cargo.toml"
        subprocess.run(["cargo", "fetch", "--locked", "--manifest-path", str(manifest)], check=True)
        meta = json.loads(subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--manifest-path", str(manifest)],
            check=True, capture_output=True).stdout)
        sys_pkg = next(p for p in meta["packages"] if p["name"] == "rdkafka-sys")
        src = Path(sys_pkg["manifest_path"]).parent / "librdkafka"
        dst = PERF.parent.parent
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        log(f"building rdkafka_performance from {src}")
        for cmd in (["./configure", "--disable-gssapi", "--disable-curl"],
                    ["make", "-j2", "-C", "src", "librdkafka.a"],
                    ["make", "-C", "examples", "rdkafka_performance"]):
            subprocess.run(cmd, cwd=dst, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "gatehouse"], cwd=ROOT, check=True)
    if counting:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "gatehouse", "--features", "count-allocations",
                        "--target-dir", str(ROOT / "target" / "bench-alloc")], cwd=ROOT, check=True)


# ---------------------------------------------------------------- processes

# The virtual cluster of the "vcluster" column: its names live upstream under this prefix.
VC_PREFIX = "bench."


class Setup:
    """A fresh Tansu broker and a gateway in front of it, with two routes: `bench` (passthrough)
    and `bench-vc` (bound to the virtual cluster `bench`, prefix `bench.`)."""

    def __init__(self, ports: Ports, workdir: Path, storage: str, binary: Path = GATEWAY,
                 buffered: bool = False, baseline: Path | None = None) -> None:
        self.broker = Tansu(workdir, ports.one(), "bench", storage=storage).start()
        os.environ["GATEHOUSE_BIN"] = str(binary)
        port = ports.block(2)
        config = {
            "gateway": {"maxInFlightRequests": 1000},
            "admin": {"listen": f"127.0.0.1:{ports.one()}",
                      "users": [{"username": ADMIN[0], "password": ADMIN[1]}]},
            "store": {"url": f"sqlite://{workdir}/gatehouse-{port}.db?mode=rwc"},
            "streamingDomains": [domain("bench", self.broker.bootstrap)],
        }
        vc_port = ports.block(2)
        config["routes"] = [
            {"name": "bench", "endpoint": f"127.0.0.1:{port}",
             "streamingDomain": {"name": "bench", "bootstrapServerId": "main"}},
            {"name": "bench-vc", "endpoint": f"127.0.0.1:{vc_port}", "virtualCluster": "bench",
             "streamingDomain": {"name": "bench", "bootstrapServerId": "main"}},
        ]
        self.gateway = Gatehouse(workdir, config, name=f"gatehouse-{port}")
        self.gateway.start()
        put_virtual_cluster(self.gateway, "bench")
        # The same passthrough route on a gateway that never splices.
        self.buffered = None
        if buffered:
            port = ports.block(2)
            config = {**config, "gateway": {**config["gateway"], "spliceForwarding": False},
                      "admin": {**config["admin"], "listen": f"127.0.0.1:{ports.one()}"},
                      "store": {"url": f"sqlite://{workdir}/gatehouse-{port}.db?mode=rwc"},
                      "routes": [{**config["routes"][0], "endpoint": f"127.0.0.1:{port}"}]}
            self.buffered = Gatehouse(workdir, config, name=f"gatehouse-{port}")
            self.buffered.start()
        # The same two routes on another gateway binary (the previous release).
        self.baseline = None
        if baseline:
            port, vc_port = ports.block(2), ports.block(2)
            config = {**config, "admin": {**config["admin"], "listen": f"127.0.0.1:{ports.one()}"},
                      "store": {"url": f"sqlite://{workdir}/gatehouse-{port}.db?mode=rwc"},
                      "routes": [{**config["routes"][0], "endpoint": f"127.0.0.1:{port}"},
                                 {**config["routes"][1], "endpoint": f"127.0.0.1:{vc_port}"}]}
            os.environ["GATEHOUSE_BIN"] = str(baseline)
            self.baseline = Gatehouse(workdir, config, name=f"gatehouse-{port}")
            self.baseline.start()
            put_virtual_cluster(self.baseline, "bench")
            os.environ["GATEHOUSE_BIN"] = str(binary)

    def bootstrap(self, which: str) -> str:
        """Where a client of `which` (direct, gateway, vcluster, buffered) bootstraps."""
        if which == "buffered":
            return self.buffered.bootstrap("bench")
        if which == "baseline":
            return self.baseline.bootstrap("bench")
        if which == "baseline_vc":
            return self.baseline.bootstrap("bench-vc")
        return {"direct": self.broker.bootstrap, "gateway": self.gateway.bootstrap("bench"),
                "vcluster": self.gateway.bootstrap("bench-vc")}[which]

    @staticmethod
    def upstream_topic(which: str, topic: str) -> str:
        return VC_PREFIX + topic if which in ("vcluster", "baseline_vc") else topic

    def cpu_seconds(self, which: str = "gateway") -> float:
        gw = {"buffered": self.buffered, "baseline": self.baseline}.get(which, self.gateway)
        fields = Path(f"/proc/{gw.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.gateway.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def counter(self, name: str, which: str = "gateway") -> int:
        gw = {"buffered": self.buffered, "baseline": self.baseline}.get(which, self.gateway)
        with urllib.request.urlopen(gw.admin_url + "/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return int(line.split()[1])
        return 0

    def close(self) -> None:
        self.gateway.stop()
        if self.buffered:
            self.buffered.stop()
        if self.baseline:
            self.baseline.stop()
        self.broker.stop()


# ---------------------------------------------------------------- rdkafka_performance

PRODUCED = re.compile(r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset \d+, (\d+) failed\) "
                      r"in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s")
CONSUMED = re.compile(r"% (\d+) messages \((\d+) bytes\) consumed in (\d+)ms: (\d+) msgs/s \(([\d.]+) MB/s\)")


@dataclass
class Run:
    msgs_per_s: float
    mb_per_s: float
    bytes: int
    ok: bool


def perf(bootstrap: str, args: list[str], timeout: float = 300, wrapper: Sequence[str] = ()) -> Run:
    """One rdkafka_performance run; `wrapper` goes in front of it (e.g. `taskset -c 1`)."""
    cmd = [*wrapper, str(PERF), "-b", bootstrap, "-q", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    m = None
    for m in PRODUCED.finditer(out):
        pass
    if m:
        produced, nbytes, delivered, failed, _, rate, mbs = m.groups()
        return Run(float(rate), float(mbs), int(nbytes), int(delivered) == int(produced) and int(failed) == 0)
    for m in CONSUMED.finditer(out):
        pass
    if m:
        count, nbytes, _, rate, mbs = m.groups()
        return Run(float(rate), float(mbs), int(nbytes), True)
    raise RuntimeError(f"no summary in rdkafka_performance output: {out[-500:]}")


@dataclass
class Scenario:
    key: str
    title: str
    size: int
    count: int
    extra: list[str]
    consume: bool = False


BIG_BATCHES = ["-X", "linger.ms=5", "-X", "batch.size=1000000", "-X", "enable.idempotence=false"]
SCENARIOS = [
    Scenario("a", "produce 100 B, large batches, acks=all", 100, 3_000_000, BIG_BATCHES),
    Scenario("b", "produce 1 KiB, acks=all", 1024, 1_000_000, BIG_BATCHES),
    Scenario("c", "produce 100 B, 10 records/request, linger 0", 100, 300_000,
             ["-X", "linger.ms=0", "-X", "batch.num.messages=10", "-X", "enable.idempotence=false"]),
    Scenario("d", "consume 1 KiB, fetch wait 10 ms", 1024, 500_000, ["-X", "fetch.wait.max.ms=10"], consume=True),
]


@dataclass
class Result:
    scenario: Scenario
    storage: str
    direct: list[Run] = field(default_factory=list)
    gateway: list[Run] = field(default_factory=list)
    vcluster: list[Run] = field(default_factory=list)
    buffered: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)
    baseline_vc: list[Run] = field(default_factory=list)
    cpu_s: float = 0.0
    baseline_cpu_s: float = 0.0
    baseline_requests: int = 0
    buffered_cpu_s: float = 0.0
    buffered_bytes: int = 0
    gw_bytes: int = 0
    gw_requests: int = 0

    def median(self, runs: list[Run]) -> float:
        good = [r.msgs_per_s for r in runs if r.ok]
        return statistics.median(good) if good else float("nan")

    @property
    def ratio(self) -> float:
        return self.median(self.gateway) / self.median(self.direct)

    @property
    def ratio_vc(self) -> float:
        return self.median(self.vcluster) / self.median(self.direct)

    @property
    def ratio_baseline(self) -> float:
        return self.median(self.baseline) / self.median(self.direct)

    @property
    def ratio_buffered(self) -> float:
        return self.median(self.buffered) / self.median(self.direct)

    def spread(self, runs: list[Run]) -> str:
        """Lowest and highest ratio of one round (same broker, back to back): how far the
        host moves a ratio between rounds, against which to read the median's."""
        pairs = [g.msgs_per_s / d.msgs_per_s for g, d in zip(runs, self.direct) if g.ok and d.ok]
        return f"{min(pairs):.2f}–{max(pairs):.2f}" if pairs else "–"


def produce_args(s: Scenario, topic: str) -> list[str]:
    return ["-P", "-t", topic, "-s", str(s.size), "-c", str(s.count), "-a", "-1", *s.extra]


def run_scenario(s: Scenario, storage: str, rounds: int, ports: Ports, workdir: Path,
                 buffered: bool = False, binary: Path = GATEWAY, baseline: Path | None = None) -> Result:
    res = Result(s, storage)
    setup = None
    try:
        for i in range(rounds):
            if s.consume:
                if setup is None:  # preload once; consuming does not change the data
                    setup = Setup(ports, workdir, storage, binary, buffered=buffered, baseline=baseline)
                    for topic in ("consume", VC_PREFIX + "consume"):
                        create_topic(setup.broker.bootstrap, topic)
                        perf(setup.broker.bootstrap, produce_args(Scenario("", "", s.size, s.count, BIG_BATCHES), topic))
                args = ["-C", "-t", "consume", "-p", "0", "-o", "beginning", "-c", str(s.count), *s.extra]
            else:
                setup = Setup(ports, workdir, storage, binary, buffered=buffered,
                              baseline=baseline)  # a fresh broker every round
            # Rotate the order so no variant always runs first (or last) in a round.
            variants = (["direct", "gateway", "vcluster"] + (["buffered"] if buffered else [])
                        + (["baseline", "baseline_vc"] if baseline else []))
            k = i % len(variants)
            order = variants[k:] + variants[:k]
            for which in order:
                if not s.consume:
                    topic = f"t-{which}-{i}"
                    # The null engine does not auto-create: create the upstream topic first.
                    create_topic(setup.broker.bootstrap, setup.upstream_topic(which, topic))
                    args = produce_args(s, topic)
                if which == "gateway":
                    cpu0, req0 = setup.cpu_seconds(), setup.counter("gatehouse_requests_forwarded_total")
                if which == "buffered":
                    cpu0 = setup.cpu_seconds("buffered")
                if which == "baseline":
                    cpu0 = setup.cpu_seconds("baseline")
                    req0 = setup.counter("gatehouse_requests_forwarded_total", "baseline")
                r = perf(setup.bootstrap(which), args)
                if which == "baseline":
                    res.baseline_cpu_s += setup.cpu_seconds("baseline") - cpu0
                    res.baseline_requests += setup.counter("gatehouse_requests_forwarded_total", "baseline") - req0
                if which == "buffered":
                    res.buffered_cpu_s += setup.cpu_seconds("buffered") - cpu0
                    res.buffered_bytes += r.bytes
                if which == "gateway":
                    res.cpu_s += setup.cpu_seconds() - cpu0
                    res.gw_requests += setup.counter("gatehouse_requests_forwarded_total") - req0
                    res.gw_bytes += r.bytes
                getattr(res, which).append(r)
                log(f"  ({s.key}) {storage:>8} round {i + 1} {which:>8}: {r.msgs_per_s:>10.0f} msgs/s {r.mb_per_s:8.2f} MB/s"
                    + ("" if r.ok else "  [incomplete delivery: not counted]"))
            if not s.consume:
                setup.close()
                setup = None
    finally:
        if setup:
            setup.close()
    return res


# ---------------------------------------------------------------- latency (e)

def rtt_percentiles(bootstrap: str, seconds: float, rate: int) -> tuple[float, float]:
    """p50/p99 produce round trip (µs) from librdkafka's statistics, at a fixed rate."""
    from confluent_kafka import Producer

    stats: list[dict] = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": False,
                  "statistics.interval.ms": int(seconds * 1000), "stats_cb": lambda s: stats.append(json.loads(s))})
    p.produce("latency", b"warm-up")
    p.flush(10)
    stats.clear()
    # Paced with sleeps, not a busy loop: on two cores a spinning driver would starve the
    # broker and the gateway and measure the scheduler instead.
    start = time.monotonic()
    for n in range(int((seconds + 0.5) * rate)):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        p.produce("latency", b"x" * 100)
        p.poll(0)
    p.flush(10)
    for s in stats:
        for b in s["brokers"].values():
            if b["nodeid"] >= 0 and b["rtt"]["cnt"] > 0:
                return b["rtt"]["p50"], b["rtt"]["p99"]
    raise RuntimeError("no round-trip statistics")


def run_latency(rounds: int, seconds: float, ports: Ports, workdir: Path, binary: Path = GATEWAY,
                baseline: Path | None = None) -> dict:
    setup = Setup(ports, workdir, "memory://tansu/", binary, baseline=baseline)
    create_topic(setup.broker.bootstrap, "latency")
    create_topic(setup.broker.bootstrap, VC_PREFIX + "latency")
    samples: dict[str, list] = {"direct": [], "gateway": [], "vcluster": []}
    if baseline:
        samples["baseline"] = []
    variants = list(samples)
    try:
        for i in range(rounds):
            k = i % len(variants)
            for which in variants[k:] + variants[:k]:
                p50, p99 = rtt_percentiles(setup.bootstrap(which), seconds, 1000)
                samples[which].append((p50, p99))
                log(f"  (e) round {i + 1} {which:>8}: p50 {p50 / 1000:.3f} ms  p99 {p99 / 1000:.3f} ms")
    finally:
        setup.close()
    med = lambda xs, k: statistics.median(x[k] for x in xs) / 1000  # noqa: E731
    return {f"{which}_{p}_ms": med(xs, k) for which, xs in samples.items() for k, p in ((0, "p50"), (1, "p99"))}


# ---------------------------------------------------------------- idle connections, allocations

def idle_connections(n: int, ports: Ports, workdir: Path) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the gateway inherits it
    setup = Setup(ports, workdir, "memory://tansu/")
    socks = []
    try:
        before = setup.rss_kib()
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", setup.gateway.route_port()), timeout=10))
        deadline = time.time() + 10
        while setup.counter("gatehouse_connections_active") < n and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        after = setup.rss_kib()
        active = setup.counter("gatehouse_connections_active")
    finally:
        for s in socks:
            s.close()
        setup.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"connections": active, "rss_mib": after / 1024, "rss_before_mib": before / 1024,
            "kib_per_connection": (after - before) / max(active, 1)}


def allocations(ports: Ports, workdir: Path, quick: bool) -> dict:
    """Heap allocations split into what a connection costs once and what each request adds.

    Each rdkafka_performance run is a new client connection, whose buffers grow to the size of
    its largest frames once. Dividing one run's total by its requests would spread that over
    however few requests the run made, so each case runs twice, short and ten times longer,
    on fresh connections: the difference per extra request is what a request allocates.
    """
    out = {}
    scale = 0.25 if quick else 1.0
    for label, size, count, consume, which in (("produce 100 B", 100, 200_000, False, "gateway"),
                                               ("produce 1 KiB", 1024, 50_000, False, "gateway"),
                                               ("fetch 1 KiB", 1024, 40_000, True, "gateway"),
                                               ("produce 100 B, virtual cluster", 100, 200_000, False, "vcluster"),
                                               ("fetch 1 KiB, virtual cluster", 1024, 40_000, True, "vcluster")):
        short, long = int(count * scale), int(count * scale) * 10
        setup = Setup(ports, workdir, "memory://tansu/", binary=COUNTING_GATEWAY)
        try:
            for topic in ("c", "p", "warm"):
                create_topic(setup.broker.bootstrap, setup.upstream_topic(which, topic))
            if consume:
                perf(setup.broker.bootstrap, ["-P", "-t", setup.upstream_topic(which, "c"), "-s", str(size),
                                              "-c", str(long), "-a", "-1", *BIG_BATCHES])
            # Warm up metadata and the upstream's ApiVersions first.
            perf(setup.bootstrap(which), ["-P", "-t", "warm", "-s", "10", "-c", "10", "-a", "-1"])
            runs = []
            for n in (short, long):
                if consume:
                    args = ["-C", "-t", "c", "-p", "0", "-o", "beginning", "-c", str(n), "-X", "fetch.wait.max.ms=10"]
                else:
                    args = ["-P", "-t", "p", "-s", str(size), "-c", str(n), "-a", "-1", *BIG_BATCHES]
                names = ("gatehouse_heap_allocations_total", "gatehouse_heap_allocated_bytes_total",
                         "gatehouse_requests_forwarded_total")
                before = [setup.counter(c) for c in names]
                run = perf(setup.bootstrap(which), args)
                allocs, nbytes, requests = (setup.counter(c) - b for c, b in zip(names, before))
                runs.append((allocs, nbytes, max(requests, 1), run.bytes))
            (a0, b0, r0, d0), (a1, b1, r1, d1) = runs
            extra = max(r1 - r0, 1)
            out[label] = {"requests": [r0, r1],
                          "allocations_per_request": (a1 - a0) / extra,
                          "allocated_bytes_per_request": (b1 - b0) / extra,
                          "record_bytes_per_request": (d1 - d0) / extra,
                          "bytes_per_connection": b0 - r0 * (b1 - b0) / extra}
            log(f"  allocations, {label}: {out[label]}")
        finally:
            setup.close()
    return out


# ---------------------------------------------------------------- report

def report(results: list[Result], latency: dict | None, idle: dict | None, allocs: dict | None) -> str:
    lines = [f"Gatehouse benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, {cpu_model()}", ""]
    buffered = any(r.buffered for r in results)
    baseline = any(r.baseline for r in results)
    if results:
        extra = " passthrough, buffered msgs/s | ratio | rounds | buffered CPU s/GB |" if buffered else ""
        if baseline:
            extra += (" previous binary msgs/s | ratio | rounds | this / previous "
                      "| previous CPU s/1000 req | this / previous CPU per req "
                      "| previous virtual cluster msgs/s | virtual cluster this / previous |")
        lines += ["| scenario | storage | direct msgs/s | passthrough msgs/s | ratio | rounds "
                  "| virtual cluster msgs/s | ratio | rounds "
                  f"| gateway CPU s/GB | gateway CPU s/1000 req |{extra}",
                  "| --- " * (11 + 4 * buffered + 8 * baseline) + "|"]
    for r in results:
        gb = r.gw_bytes / 1e9
        bgb = r.buffered_bytes / 1e9
        extra = (f" {r.median(r.buffered):,.0f} | **{r.ratio_buffered:.2f}** | {r.spread(r.buffered)} | "
                 f"{r.buffered_cpu_s / bgb if bgb else 0:.2f} |") if buffered else ""
        if baseline:
            per_req = 1000 * r.cpu_s / max(r.gw_requests, 1)
            base_per_req = 1000 * r.baseline_cpu_s / max(r.baseline_requests, 1)
            extra += (f" {r.median(r.baseline):,.0f} | **{r.ratio_baseline:.2f}** | {r.spread(r.baseline)} | "
                      f"**{r.median(r.gateway) / r.median(r.baseline):.2f}** | {base_per_req:.3f} | "
                      f"**{per_req / base_per_req if base_per_req else float('nan'):.2f}** | "
                      f"{r.median(r.baseline_vc):,.0f} | **{r.median(r.vcluster) / r.median(r.baseline_vc):.2f}** |")
        lines.append(f"| ({r.scenario.key}) {r.scenario.title} | {r.storage} | {r.median(r.direct):,.0f} | "
                     f"{r.median(r.gateway):,.0f} | **{r.ratio:.2f}** | {r.spread(r.gateway)} | "
                     f"{r.median(r.vcluster):,.0f} | **{r.ratio_vc:.2f}** | {r.spread(r.vcluster)} | "
                     f"{r.cpu_s / gb if gb else 0:.2f} | "
                     f"{1000 * r.cpu_s / max(r.gw_requests, 1):.3f} |{extra}")
    if latency:
        lines += ["", "| (e) produce at 1000 msgs/s, acks=all | p50 ms | p99 ms |", "| --- | --- | --- |",
                  f"| direct | {latency['direct_p50_ms']:.3f} | {latency['direct_p99_ms']:.3f} |",
                  f"| passthrough | {latency['gateway_p50_ms']:.3f} | {latency['gateway_p99_ms']:.3f} |",
                  f"| virtual cluster | {latency['vcluster_p50_ms']:.3f} | {latency['vcluster_p99_ms']:.3f} |",
                  f"| added, passthrough | {latency['gateway_p50_ms'] - latency['direct_p50_ms']:.3f} | "
                  f"**{latency['gateway_p99_ms'] - latency['direct_p99_ms']:.3f}** |",
                  f"| added, virtual cluster | {latency['vcluster_p50_ms'] - latency['direct_p50_ms']:.3f} | "
                  f"**{latency['vcluster_p99_ms'] - latency['direct_p99_ms']:.3f}** |"]
        if "baseline_p50_ms" in latency:
            lines += [f"| previous binary, passthrough | {latency['baseline_p50_ms']:.3f} | {latency['baseline_p99_ms']:.3f} |",
                      f"| added, previous binary | {latency['baseline_p50_ms'] - latency['direct_p50_ms']:.3f} | "
                      f"**{latency['baseline_p99_ms'] - latency['direct_p99_ms']:.3f}** |"]
    if idle:
        lines += ["", f"Idle connections: {idle['connections']} open, gateway RSS **{idle['rss_mib']:.1f} MiB** "
                      f"(from {idle['rss_before_mib']:.1f} MiB; {idle['kib_per_connection']:.1f} KiB per connection)."]
    if allocs:
        lines += ["", "| heap allocations (gateway) | allocations per request | bytes per request "
                      "| record bytes per request | bytes once per connection | requests (short, long run) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for k, v in allocs.items():
            lines.append(f"| {k} | {v['allocations_per_request']:.2f} | {v['allocated_bytes_per_request']:,.0f} | "
                         f"{v['record_bytes_per_request']:,.0f} | {v['bytes_per_connection']:,.0f} | "
                         f"{v['requests'][0]}, {v['requests'][1]} |")
    return "\n".join(lines)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke run: one round, small counts")
    ap.add_argument("--only", default="a,b,c,d,e,idle,alloc", help="comma-separated parts to run")
    ap.add_argument("--buffered", action="store_true",
                    help="also run each throughput scenario through a gateway with splice forwarding off")
    ap.add_argument("--gateway", type=Path, help="the gateway binary to measure (default: build the release one)")
    ap.add_argument("--baseline", type=Path,
                    help="also run each throughput scenario through this gateway binary (the previous release)")
    opts = ap.parse_args()
    parts = set(opts.only.split(","))
    rounds = 1 if opts.quick else opts.rounds
    if opts.gateway is None:
        build(counting="alloc" in parts)
    binary = opts.gateway.resolve() if opts.gateway else GATEWAY
    baseline = opts.baseline.resolve() if opts.baseline else None
    workdir = BENCH_DIR / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ports = Ports()
    # Latency first: right after the throughput scenarios, brokers releasing gigabytes still
    # disturb a two-core machine and the tail measures that instead of the gateway.
    latency = (run_latency(max(rounds, 3), 2 if opts.quick else 5, ports, workdir, binary, baseline)
               if "e" in parts else None)
    results = []
    for s in SCENARIOS:
        if s.key not in parts:
            continue
        if opts.quick:
            s.count = max(s.count // 50, 10_000)
        storages = ["memory://tansu/"] if s.consume else ["null://sink", "memory://tansu/"]
        for storage in storages:
            log(f"scenario ({s.key}) {s.title} [{storage}]")
            results.append(run_scenario(s, storage, rounds, ports, workdir, opts.buffered, binary, baseline))
    idle = idle_connections(1000 if opts.quick else 10_000, ports, workdir) if "idle" in parts else None
    allocs = allocations(ports, workdir, opts.quick) if "alloc" in parts else None
    text = report(results, latency, idle, allocs)
    (BENCH_DIR / "report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
