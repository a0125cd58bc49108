#!/usr/bin/env python3
"""The floor under any proxy on this host: scenario (c)'s CPU per 1000 requests and scenario
(e)'s added p99, through a bare TCP relay (`bench/relay`: tokio's copy_bidirectional, nothing
parsed) beside the gateway, in the same rounds.

The relay sits in front of its own broker, which advertises the relay's port, so a client's
every connection goes through it (a relay in front of the gateway's broker would be bypassed
after the first Metadata). Per round the variants run in rotating order: direct, relay, the
gateway's passthrough route, and with `--baseline` a previous gateway binary.

What the gateway costs above the relay is its own work (framing, the pipeline, the sequencer);
what the relay costs is the loopback TCP stack, the syscalls and the wakeups of two more hops,
which no proxy on this host avoids. It measures; it asserts nothing.

Usage: .venv/bin/python bench/floor.py [--rounds N] [--only c,e] [--gateway BIN] [--baseline BIN]
(scripts/bench builds rdkafka_performance and the gateway; this builds the relay.)
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as B  # noqa: E402
from clients import create_topic  # noqa: E402
from harness import Tansu  # noqa: E402

RELAY_MANIFEST = B.ROOT / "bench" / "relay" / "Cargo.toml"
RELAY_TARGET = B.ROOT / "target" / "bench-relay"
RELAY = RELAY_TARGET / "release" / "gatehouse-bench-relay"


def build_relay() -> None:
    subprocess.run(["cargo", "build", "--release", "--locked", "--manifest-path", str(RELAY_MANIFEST),
                    "--target-dir", str(RELAY_TARGET)], check=True)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / B.CLK_TCK


class Relayed:
    """A broker of its own behind the relay; every connection to it goes through the relay."""

    def __init__(self, ports: B.Ports, workdir: Path, storage: str) -> None:
        self.port, broker_port = ports.one(), ports.one()
        self.broker = Tansu(workdir, broker_port, f"floor-{broker_port}", advertised_port=self.port,
                            storage=storage).start()
        self.proc = subprocess.Popen([str(RELAY), f"127.0.0.1:{self.port}", f"127.0.0.1:{broker_port}"])
        self.bootstrap = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.broker.stop()


def throughput(rounds: int, ports: B.Ports, workdir: Path, binary: Path, baseline: Path | None) -> None:
    s = {s.key: s for s in B.SCENARIOS}["c"]
    variants = ["direct", "relay", "gateway"] + (["baseline"] if baseline else [])
    rates: dict[str, list[float]] = {v: [] for v in variants}
    per_1000: dict[str, list[float]] = {v: [] for v in variants if v != "direct"}
    for i in range(rounds):
        # A fresh broker each round, as run.py does: Tansu's null storage still grows.
        setup = B.Setup(ports, workdir, "null://sink", binary, baseline=baseline)
        relayed = Relayed(ports, workdir, "null://sink")
        try:
            k = i % len(variants)
            for which in variants[k:] + variants[:k]:
                topic = f"t-{which}-{i}"
                if which == "relay":
                    create_topic(relayed.broker.bootstrap, topic)
                    c0 = cpu_s(relayed.proc.pid)
                    r = B.perf(relayed.bootstrap, B.produce_args(s, topic))
                    # No counter in the relay: the scenario's requests are its records over
                    # its records per request (the gateway's counter agrees to within 0.1 %).
                    per_1000[which].append(1e6 * (cpu_s(relayed.proc.pid) - c0) / (s.count / 10))
                else:
                    create_topic(setup.broker.bootstrap, topic)
                    if which == "direct":
                        r = B.perf(setup.broker.bootstrap, B.produce_args(s, topic))
                    else:
                        gw = "gateway" if which == "gateway" else "baseline"
                        c0, q0 = setup.cpu_seconds(gw), setup.counter("gatehouse_requests_forwarded_total", gw)
                        r = B.perf(setup.bootstrap(gw), B.produce_args(s, topic))
                        q = setup.counter("gatehouse_requests_forwarded_total", gw) - q0
                        per_1000[which].append(1e6 * (setup.cpu_seconds(gw) - c0) / max(q, 1))
                rates[which].append(r.msgs_per_s)
                cost = f"  {per_1000[which][-1]:5.1f} ms CPU / 1000 requests" if which in per_1000 else ""
                B.log(f"  (c) round {i + 1} {which:>8}: {r.msgs_per_s:9,.0f} msgs/s{cost}")
        finally:
            relayed.close()
            setup.close()
    med = statistics.median
    print(f"(c) medians over {rounds} rounds: " + ", ".join(f"{v} {med(rates[v]):,.0f} msgs/s" for v in variants))
    for v, xs in per_1000.items():
        print(f"    {v:>8}: {med(xs):.1f} ms CPU per 1000 requests "
              f"(x{med(xs) / med(per_1000['relay']):.2f} the relay's; rounds {min(xs):.1f}-{max(xs):.1f})")


def latency(rounds: int, seconds: float, ports: B.Ports, workdir: Path, binary: Path, baseline: Path | None) -> None:
    setup = B.Setup(ports, workdir, "memory://tansu/", binary, baseline=baseline)
    relayed = Relayed(ports, workdir, "memory://tansu/")
    variants = ["direct", "relay", "gateway"] + (["baseline"] if baseline else [])
    samples: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    try:
        create_topic(setup.broker.bootstrap, "latency")
        create_topic(relayed.broker.bootstrap, "latency")
        for i in range(rounds):
            k = i % len(variants)
            for which in variants[k:] + variants[:k]:
                where = {"direct": setup.broker.bootstrap, "relay": relayed.bootstrap}.get(which) \
                    or setup.bootstrap(which)
                p50, p99 = B.rtt_percentiles(where, seconds, 1000)
                samples[which].append((p50 / 1000, p99 / 1000))
                B.log(f"  (e) round {i + 1} {which:>8}: p50 {p50 / 1000:.3f} ms  p99 {p99 / 1000:.3f} ms")
    finally:
        relayed.close()
        setup.close()
    med = statistics.median
    direct99 = med(x[1] for x in samples["direct"])
    print(f"(e) medians over {rounds} rounds at 1000 msgs/s: direct p99 {direct99:.3f} ms")
    for v in variants[1:]:
        p99 = med(x[1] for x in samples[v])
        print(f"    {v:>8}: p50 {med(x[0] for x in samples[v]):.3f} ms, p99 {p99:.3f} ms, added p99 {p99 - direct99:.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="c,e")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each latency sample")
    ap.add_argument("--gateway", type=Path, default=B.GATEWAY)
    ap.add_argument("--baseline", type=Path, help="a previous gateway binary, in the same rounds")
    opts = ap.parse_args()
    build_relay()
    ports, workdir = B.Ports(), B.BENCH_DIR / "floor"
    workdir.mkdir(parents=True, exist_ok=True)
    only = opts.only.split(",")
    if "c" in only:
        throughput(opts.rounds, ports, workdir, opts.gateway, opts.baseline)
    if "e" in only:
        latency(opts.rounds, opts.seconds, ports, workdir, opts.gateway, opts.baseline)


if __name__ == "__main__":
    main()
