"""Start-up: configuration errors stop the gateway with the file, field and reason; brokers
outside the configured node id ranges are reported instead of silently breaking clients."""
import subprocess
import urllib.request

import struct

from harness import domain, gatehouse_binary, route
from rawkafka import connect, read_frame, request


def run_serve(config_path, timeout=10):
    return subprocess.run([str(gatehouse_binary()), "serve", "--config", str(config_path)],
                          capture_output=True, text=True, timeout=timeout)


def test_invalid_configuration_refuses_to_start_naming_file_field_and_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "streamingDomains:\n"
        "  - name: a\n"
        "    kafkaCluster:\n"
        "      bootstrapServers: [{id: main, endpoint: '127.0.0.1:9092'}]\n"
        "      nodeIdRanges: [{name: p, start: 0, end: 0}]\n"
        "routes:\n"
        "  - name: r\n"
        "    endpoint: '127.0.0.1:39092'\n"
        "    streamingDomain: {name: missing, bootstrapServerId: main}\n"
    )
    result = run_serve(bad)
    assert result.returncode != 0
    assert f"{bad}: routes[0].streamingDomain.name: no streaming domain named 'missing'" in result.stderr

    bad.write_text(bad.read_text().replace("name: missing", "name: a").replace("  - name: a\n", "  - name: a\n    flavour: x\n"))
    result = run_serve(bad)
    assert result.returncode != 0
    assert "streamingDomains[0].flavour: unknown field `flavour`" in result.stderr


def test_a_port_already_in_use_stops_start_up_naming_the_route(cluster):
    broker = cluster.tansu()
    first = cluster.gatehouse([domain("kafka1", broker.bootstrap)], admin=False)
    clash = cluster.gatehouse([domain("kafka1", broker.bootstrap)], admin=False, name="clash",
                              routes=[route("clashing", first.route_port(), "kafka1")], start=False)
    clash.config_path.write_text(__import__("yaml").safe_dump(clash.config))
    result = run_serve(clash.config_path)
    assert result.returncode != 0
    assert f"route 'clashing': cannot listen on 127.0.0.1:{first.route_port()}" in result.stderr


def test_broker_outside_every_node_id_range_is_hidden_logged_and_counted(cluster):
    broker = cluster.tansu()  # node id 111
    gw = cluster.gatehouse([domain("kafka1", broker.bootstrap, node_ranges=[{"name": "p", "start": 0, "end": 2}])])
    s = connect(gw.route_port())
    s.sendall(request(3, 1, 5, struct.pack(">i", 0)))  # Metadata v1, no topics
    frame = read_frame(s)
    corr, broker_count = struct.unpack(">ii", frame[:8])
    assert (corr, broker_count) == (5, 0), "no real address leaks; the broker is simply not offered"
    assert "broker id is outside every nodeIdRange" in gw.log() and "node_id=111" in gw.log()
    assert 'gatehouse_unmapped_node_ids_total{domain="kafka1",node_id="111"}' in gw.metrics()
    with urllib.request.urlopen(gw.admin_url + "/health/ready", timeout=5) as r:
        assert r.status == 200
