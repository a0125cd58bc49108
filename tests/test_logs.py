"""Logs (issue 12, defect 9): a warning that repeats for every reconnecting client is written
once per interval with the count of those left out; no colour codes in a file; one JSON
object per line with GATEHOUSE_LOG_FORMAT=json."""
import json
import os
import struct

from harness import domain
from rawkafka import closed_by_peer, connect, metadata_v1, read_frame


def test_an_outage_logs_one_line_per_interval_with_the_count_left_out(cluster):
    broker = cluster.tansu()
    # Without the harness's NO_COLOR: the gateway itself must see that its log is no terminal.
    g = cluster.gatehouse([domain("d", broker.bootstrap)], env={"NO_COLOR": ""})
    s = connect(g.route_port())
    s.sendall(metadata_v1(1))
    read_frame(s)
    broker.kill()
    assert closed_by_peer(s)
    for i in range(30):  # thirty clients reconnecting during the outage
        c = connect(g.route_port())
        c.sendall(metadata_v1(i))
        assert closed_by_peer(c)
    log = g.log()
    lines = [line for line in log.splitlines() if "upstream unavailable" in line]
    assert 1 <= len(lines) <= 2, "\n".join(lines)
    # The next line after the interval carries the count; the first says none were left out.
    assert "suppressed=0" in lines[0], lines[0]
    assert "\x1b[" not in log, "no colour codes in a file"


def test_json_log_format(cluster):
    broker = cluster.tansu()
    g = cluster.gatehouse([domain("d", broker.bootstrap)], env={"GATEHOUSE_LOG_FORMAT": "json"})
    s = connect(g.route_port())
    s.sendall(struct.pack(">i", 2 << 20))  # a first frame over the limit: one warning
    assert closed_by_peer(s)
    records = []
    for line in g.log().splitlines():
        if line.startswith("gatehouse: route"):
            continue  # the bootstrap line scripts read on standard output
        records.append(json.loads(line))
    assert any(r["fields"].get("message", "").startswith("route listening") for r in records)
    warning = next(r for r in records if r["level"] == "WARN")
    assert "maxUnauthenticatedFrameBytes" in warning["fields"]["message"], warning
    assert {"timestamp", "level", "target"} <= warning.keys()


def test_an_unknown_log_format_is_refused_with_what_to_write(cluster):
    broker = cluster.tansu()
    g = cluster.gatehouse([domain("d", broker.bootstrap)], env={"GATEHOUSE_LOG_FORMAT": "yaml"},
                          start=False)
    g.start(wait=False)
    assert g.proc.wait(10) != 0
    assert "GATEHOUSE_LOG_FORMAT: 'yaml' is not a log format (text or json)" in g.log()
    assert not os.path.exists(g.config["store"]["dataDir"] + "/gatehouse.db")
