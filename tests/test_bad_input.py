"""Malformed and hostile input: the offending connection is closed (or answered as a broker
would), nothing large is allocated, and everyone else keeps being served."""
import struct
import time

import pytest

from clients import consume, create_topic, produce, unique
from harness import domain
from rawkafka import api_versions_v3, closed_by_peer, connect, parse_api_versions, read_frame, request

UNSUPPORTED_VERSION = 35


@pytest.fixture
def gw(cluster):
    broker = cluster.tansu()
    return cluster.gatehouse([domain("kafka1", broker.bootstrap)], gateway={"maxFrameBytes": 1048576})


def rss_kib(gw) -> int:
    for line in open(f"/proc/{gw.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def still_serves(gw) -> None:
    topic = unique("after")
    create_topic(gw.bootstrap(), topic)
    produce(gw.bootstrap(), topic, [b"ok"] * 20)
    assert len(consume(gw.bootstrap(), topic, unique("g"), 20)) == 20
    assert gw.alive()


def wait_for_log(gw, text: str, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in gw.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"log never said {text!r}:\n{gw.log()[-3000:]}")


@pytest.mark.parametrize(
    "prefix, logged",
    [
        (struct.pack(">i", -1), "frame length -1 is negative"),
        (struct.pack(">i", 0), "frame length is zero"),
        (struct.pack(">i", 2 * 1048576), "a frame of 2097152 bytes is over gateway.maxFrameBytes (1048576)"),
        (struct.pack(">i", 0x7FFFFFFF), "is over gateway.maxFrameBytes"),
    ],
    ids=["negative", "zero", "over-limit", "i32-max"],
)
def test_bad_frame_lengths_close_the_connection_without_allocating(gw, prefix, logged):
    bystander = connect(gw.route_port())  # another client, connected throughout
    before = rss_kib(gw)
    s = connect(gw.route_port())
    # A client's first request is small (the limit before it is maxUnauthenticatedFrameBytes,
    # see test_client_limits.py): say hello first, then the bad prefix.
    s.sendall(api_versions_v3(1))
    read_frame(s)
    s.sendall(prefix)  # only the prefix: the gateway must not wait for (or reserve) the body
    assert closed_by_peer(s), "connection should be closed"
    wait_for_log(gw, logged)
    assert rss_kib(gw) - before < 8 * 1024, "no buffer sized by the declared length"
    bystander.sendall(api_versions_v3(1))
    corr, error, _ = parse_api_versions(read_frame(bystander), 3)
    assert (corr, error) == (1, 0)
    still_serves(gw)
    assert "gatehouse_client_protocol_errors_total{reason=\"frame\"}" in gw.metrics()


def test_huge_array_count_in_a_tiny_frame_allocates_nothing(gw):
    """The kafka-protocol #152 pattern: Metadata v12 whose topics array claims 2^31 entries."""
    before = rss_kib(gw)
    for _ in range(20):
        s = connect(gw.route_port())
        s.sendall(request(3, 12, 7, b"\xff\xff\xff\xff\x07", flexible_header=True))
        s.settimeout(5)
        try:
            s.recv(65536)  # whatever the broker makes of it; the gateway must not care
        except OSError:
            pass
        s.close()
    assert rss_kib(gw) - before < 16 * 1024
    still_serves(gw)


@pytest.mark.parametrize(
    "frame, logged",
    [
        (struct.pack(">i", 3) + b"\x00\x03\x00", "request header truncated: 3 bytes"),
        (struct.pack(">i", 12) + b"GARBAGE-BYTE", "unknown API key 18241"),
        (request(1234, 0, 1), "unknown API key 1234"),
        (request(3, 99, 1), "Metadata v99 is not supported"),
        (request(52, 0, 1), "Vote is not available through the gateway"),
        # Metadata v1 whose client id claims 300 bytes the frame does not have.
        (struct.pack(">i", 11) + struct.pack(">hhih", 3, 1, 1, 300) + b"x", "client id length 300 exceeds"),
        # Produce v9 cut off right after its header.
        (request(0, 9, 1, b"", flexible_header=True), "request body truncated"),
    ],
    ids=["truncated-header", "garbage", "unknown-key", "unsupported-version", "inter-broker-key",
         "client-id-overrun", "truncated-produce"],
)
def test_malformed_requests_close_only_their_connection(gw, frame, logged):
    s = connect(gw.route_port())
    s.sendall(frame)
    assert closed_by_peer(s)
    wait_for_log(gw, logged)
    still_serves(gw)


def test_api_versions_newer_than_the_gateway_gets_v0_unsupported_version(gw):
    s = connect(gw.route_port())
    s.sendall(request(18, 99, 42))
    corr, error, keys = parse_api_versions(read_frame(s), 0)
    assert (corr, error) == (42, UNSUPPORTED_VERSION)
    assert keys[18] == (0, 4), "our own ApiVersions range is listed so the client can retry"
    # The connection stays usable, as with a broker: retry at a version both know.
    s.sendall(api_versions_v3(43))
    corr, error, keys = parse_api_versions(read_frame(s), 3)
    assert (corr, error) == (43, 0)
    assert 52 not in keys, "inter-broker APIs are not advertised"
    assert keys[3][1] <= 13 and keys[0][0] >= 3, "ranges narrowed to what the gateway forwards"


def test_pipelined_requests_are_answered_in_order_with_their_correlation_ids(gw):
    s = connect(gw.route_port())
    s.sendall(b"".join(api_versions_v3(100 + i) for i in range(200)) + request(18, 99, 999))
    ids = [parse_api_versions(read_frame(s), 3)[0] for _ in range(200)]
    assert ids == [100 + i for i in range(200)]
    assert parse_api_versions(read_frame(s), 0)[:2] == (999, UNSUPPORTED_VERSION)
