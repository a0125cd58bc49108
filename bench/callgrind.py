#!/usr/bin/env python3
"""Instructions the gateway spends per request, counted by valgrind's callgrind (a figure
that does not move with the machine's noise), for one or more gateway binaries: an A/B of the
request path.

Each binary runs under callgrind in front of a fresh Tansu (`null://` engine); the counters
are zeroed once it serves, then scenario (c)'s producer (100 B records, 10 per request,
linger 0) sends `--records` records through it, and the counters are dumped.

With `--route vcluster` the producer goes through the route bound to the virtual cluster
`bench`; with `--route acl` too, that virtual cluster enforcing ACLs (`aclEnabled`: an ALLOW
of WRITE on the topic for every principal, after `--acl-entries` - 1 entries for other
principals): what gateway-side ACLs cost per request, against the same binary without them.

Usage: .venv/bin/python bench/callgrind.py NEW [OLD ...] [--records N] [--route R] [--acl-entries N]
(scripts/bench builds rdkafka_performance; run it once first.)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as B  # noqa: E402
import harness  # noqa: E402
from clients import create_topic  # noqa: E402

# A gateway under valgrind takes longer than the harness's 10 s to listen.
harness.wait_for_port.__defaults__ = (180.0, None)


def totals(out: Path) -> int:
    """The Ir total of the last dump callgrind wrote for `out` (`out.1`, `out.2`, ...)."""
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:]))
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[-1]}")


def acl(principal: str, operation: str, name: str = "t") -> dict:
    return {"resourcePattern": {"resourceType": "TOPIC", "name": name, "patternType": "LITERAL"},
            "principal": principal, "host": "*", "operation": operation, "permissionType": "ALLOW"}


def measure(binary: Path, records: int, label: str, workdir: Path, route: str = "passthrough",
            acl_entries: int = 1) -> tuple[int, int]:
    """(instructions, requests) for `records` records through `binary`."""
    out = workdir / f"{label}.callgrind"
    for old in workdir.glob(out.name + "*"):
        old.unlink()
    wrapper = workdir / f"{label}.sh"
    wrapper.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out} {binary} \"$@\"\n")
    wrapper.chmod(0o755)
    ports = B.Ports()
    setup = B.Setup(ports, workdir, "null://sink", wrapper)
    try:
        topic = B.VC_PREFIX + "t" if route != "passthrough" else "t"
        create_topic(setup.broker.bootstrap, topic)
        if route == "acl":
            others = [acl(f"User:other-{i}", "READ", f"other-{i}") for i in range(acl_entries - 1)]
            B.put_virtual_cluster(setup.gateway, "bench", aclEnabled=True,
                                  acls=others + [acl("User:*", "WRITE")])
        pid = str(setup.gateway.proc.pid)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        req0 = setup.counter("gatehouse_requests_forwarded_total")
        scenario = {s.key: s for s in B.SCENARIOS}["c"]
        bootstrap = setup.bootstrap("gateway" if route == "passthrough" else "vcluster")
        run = B.perf(bootstrap,
                     B.produce_args(B.Scenario("c", "", scenario.size, records, scenario.extra), "t"),
                     timeout=900)
        requests = setup.counter("gatehouse_requests_forwarded_total") - req0
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        if not run.ok:
            raise RuntimeError("the producer did not deliver every record")
    finally:
        setup.close()
    return totals(out), requests


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+", type=Path)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--route", choices=["passthrough", "vcluster", "acl"], default="passthrough")
    ap.add_argument("--acl-entries", type=int, default=1)
    opts = ap.parse_args()
    workdir = B.BENCH_DIR / "callgrind"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, binary in enumerate(opts.binaries):
        ir, requests = measure(binary.resolve(), opts.records, f"g{i}", workdir, opts.route,
                               opts.acl_entries)
        rows.append((binary, ir, requests))
        print(f"{binary}: {ir:,} instructions, {requests:,} requests, {ir / max(requests, 1):,.0f} per request",
              flush=True)
    first = rows[0][1] / max(rows[0][2], 1)
    print("\n| binary | requests | instructions per request | ratio to the first |\n| --- | --- | --- | --- |")
    for binary, ir, requests in rows:
        per = ir / max(requests, 1)
        print(f"| {binary} | {requests:,} | {per:,.0f} | {per / first:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
