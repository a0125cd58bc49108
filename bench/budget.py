#!/usr/bin/env python3
"""Where the cores go in one benchmark scenario: direct, through the gateway (passthrough and
virtual cluster), and through a gateway with splice forwarding off.

For each run it samples /proc before and after: the machine's busy cores and softirq time,
the CPU of the client (rdkafka_performance), the broker and the gateway (user and kernel),
and the broker's context switches. Per MB of records, these show which process bounds the
rate and what the gateway adds to it. It measures; it asserts nothing.

With `--pin BROKER/GATEWAY/CLIENT` (CPU lists for `taskset`, e.g. `--pin 0/1/1`) each process
is held to its CPUs, to see what the scenario does when the gateway's work cannot land on the
broker's core.

Usage: .venv/bin/python bench/budget.py a|b|c|d [--rounds N] [--partitions N] [--pin B/G/C] [--gateway BIN]
                                        [-X key=value ...]
(scripts/bench builds what this needs; run that once first.)
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as B  # noqa: E402
from clients import create_topic  # noqa: E402


def machine() -> tuple[int, int, int]:
    """(busy, total, irq + softirq) jiffies of all cores."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(f) - f[3] - f[4], sum(f), f[5] + f[6]


def cpu(pid: int) -> tuple[float, float]:
    """(user, kernel) seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / B.CLK_TCK, int(fields[12]) / B.CLK_TCK


def switches(pid: int) -> int:
    n = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                n += int(line.split()[1])
    return n


def measure(setup: B.Setup, which: str, args: list[str], wrapper: list[str]) -> str:
    gw = setup.buffered if which == "buffered" else setup.gateway
    broker = setup.broker.proc.pid
    m0, g0, k0, s0 = machine(), cpu(gw.proc.pid), sum(cpu(broker)), switches(broker)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    r = B.perf(setup.bootstrap(which), args, wrapper=wrapper)
    wall = time.time() - start
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m1, g1, k1, s1 = machine(), cpu(gw.proc.pid), sum(cpu(broker)), switches(broker)
    n, mb = os.cpu_count() or 1, r.mb_per_s * wall
    span = m1[1] - m0[1]
    client = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    gw_user, gw_kernel = (0.0, 0.0) if which == "direct" else (g1[0] - g0[0], g1[1] - g0[1])
    return (f"{which:>8}: {r.mb_per_s:7.1f} MB/s | cores busy {(m1[0] - m0[0]) / span * n:4.2f}, "
            f"softirq {(m1[2] - m0[2]) / span * n:4.2f}, client {client / wall:4.2f}, "
            f"broker {(k1 - k0) / wall:4.2f}, gateway {(gw_user + gw_kernel) / wall:4.2f} | per MB: "
            f"broker {(k1 - k0) * 1000 / mb:.2f} ms, {(s1 - s0) / mb:.1f} switches; "
            f"gateway user {gw_user * 1000 / mb:.2f} ms, kernel {gw_kernel * 1000 / mb:.2f} ms")


def pin(pid: int, cpus: str) -> None:
    """Holds every thread of a running process to `cpus`; threads it starts later inherit it."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=[s.key for s in B.SCENARIOS if s.key != "e"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--storage", default=None, help="Tansu storage (default: null for produce, memory for consume)")
    ap.add_argument("--pin", metavar="B/G/C", help="CPU lists (taskset) for broker, gateways and client")
    ap.add_argument("--gateway", type=Path, default=B.GATEWAY,
                    help="the gateway binary (default: the release build), e.g. a previous release for an A/B")
    ap.add_argument("-X", dest="extra", action="append", default=[], help="librdkafka property for the client")
    opts = ap.parse_args()
    s = {s.key: s for s in B.SCENARIOS}[opts.scenario]
    extra = [a for kv in opts.extra for a in ("-X", kv)]
    storage = opts.storage or ("memory://tansu/" if s.consume else "null://sink")
    ports, workdir = B.Ports(), B.BENCH_DIR / "budget"
    workdir.mkdir(parents=True, exist_ok=True)
    setup = B.Setup(ports, workdir, storage, buffered=True, binary=opts.gateway)
    wrapper: list[str] = []
    try:
        if opts.pin:
            broker, gateway, client = opts.pin.split("/")
            pin(setup.broker.proc.pid, broker)
            pin(setup.gateway.proc.pid, gateway)
            pin(setup.buffered.proc.pid, gateway)
            wrapper = ["taskset", "-c", client]
        if s.consume:
            create_topic(setup.broker.bootstrap, "consume", partitions=opts.partitions)
            load = B.Scenario("", "", s.size, s.count, B.BIG_BATCHES)
            B.perf(setup.broker.bootstrap, B.produce_args(load, "consume"))
            args = ["-C", "-t", "consume", "-p", "0", "-o", "beginning", "-c", str(s.count), *s.extra, *extra]
        for i in range(opts.rounds):
            for which in ("direct", "gateway", "vcluster", "buffered"):
                if s.consume and which == "vcluster":
                    continue  # the preloaded topic is outside the virtual cluster
                if not s.consume:
                    topic = f"t-{which}-{i}"
                    upstream = setup.upstream_topic(which, topic)
                    create_topic(setup.broker.bootstrap, upstream, partitions=opts.partitions)
                    args = B.produce_args(s, topic) + extra
                print(f"round {i + 1} {measure(setup, which, args, wrapper)}", flush=True)
    finally:
        setup.close()


if __name__ == "__main__":
    main()
