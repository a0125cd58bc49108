"""Hand-built Kafka frames for probing what no client library sends."""
from __future__ import annotations

import socket
import struct


def request(api_key: int, version: int, correlation_id: int, body: bytes = b"", client_id: bytes | None = b"probe",
            flexible_header: bool = False) -> bytes:
    header = struct.pack(">hhi", api_key, version, correlation_id)
    header += struct.pack(">h", -1) if client_id is None else struct.pack(">h", len(client_id)) + client_id
    if flexible_header:
        header += b"\x00"  # no tagged fields
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def api_versions_v3(correlation_id: int) -> bytes:
    body = b"\x06probe" + b"\x041.0" + b"\x00"  # compact strings + no tagged fields
    return request(18, 3, correlation_id, body, flexible_header=True)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def read_frame(s: socket.socket) -> bytes:
    (n,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, n)


def closed_by_peer(s: socket.socket, timeout: float = 5.0) -> bool:
    """True when the peer closes (EOF or reset) within the timeout without sending anything."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def uvarint(b: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = b[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def parse_api_versions(frame: bytes, version: int) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(correlation id, error code, {api key: (min, max)}) of an ApiVersions response."""
    corr, error = struct.unpack(">ih", frame[:6])
    at = 6
    keys = {}
    if version >= 3:
        n, at = uvarint(frame, at)
        n -= 1
    else:
        (n,) = struct.unpack(">i", frame[at:at + 4])
        at += 4
    for _ in range(n):
        k, lo, hi = struct.unpack(">hhh", frame[at:at + 6])
        at += 6
        if version >= 3:
            _, at = uvarint(frame, at)  # tagged fields
        keys[k] = (lo, hi)
    return corr, error, keys


def string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def record_batch(values: list[bytes], producer_id: int = -1, transactional: bool = False) -> bytes:
    """One uncompressed v2 record batch holding `values` (of a producer, in a transaction)."""
    import time

    from kafka.record.memory_records import MemoryRecordsBuilder

    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=sum(len(v) + 64 for v in values) + 1024,
                             transactional=transactional, producer_id=producer_id,
                             producer_epoch=0 if producer_id >= 0 else -1,
                             base_sequence=0 if producer_id >= 0 else -1)
    now = int(time.time() * 1000)
    for v in values:
        b.append(timestamp=now, key=None, value=v, headers=[])
    b.close()
    return bytes(b.buffer())


def produce_v3(correlation_id: int, topics: dict[str, list[tuple[int, bytes]]], acks: int = -1,
               timeout_ms: int = 10_000, transactional_id: str | None = None) -> bytes:
    """Produce v3 of record batches to partitions of topics: {topic: [(partition, batch)]}."""
    txn = struct.pack(">h", -1) if transactional_id is None else string(transactional_id)
    body = txn + struct.pack(">hi", acks, timeout_ms)
    body += struct.pack(">i", len(topics))
    for topic, partitions in topics.items():
        body += string(topic) + struct.pack(">i", len(partitions))
        for index, records in partitions:
            body += struct.pack(">ii", index, len(records)) + records
    return request(0, 3, correlation_id, body)


def parse_produce_v3(frame: bytes) -> tuple[int, list[tuple[str, int, int]]]:
    """(correlation id, [(topic, partition, error code)]) of a Produce v3 response."""
    (corr, topics) = struct.unpack(">ii", frame[:8])
    at, out = 8, []
    for _ in range(topics):
        (n,) = struct.unpack(">h", frame[at:at + 2])
        name = frame[at + 2:at + 2 + n].decode()
        at += 2 + n
        (parts,) = struct.unpack(">i", frame[at:at + 4])
        at += 4
        for _ in range(parts):
            index, error = struct.unpack(">ih", frame[at:at + 6])
            at += 4 + 2 + 8 + 8  # index, error, base offset, log append time
            out.append((name, index, error))
    return corr, out


def metadata_v1(correlation_id: int) -> bytes:
    """Metadata v1 for no topics: brokers and controller only."""
    return request(3, 1, correlation_id, struct.pack(">i", 0))


def init_producer_id(port: int, txn: str) -> int:
    """InitProducerId v4 for transactional id `txn`; the producer id issued."""
    b = txn.encode()
    body = bytes([len(b) + 1]) + b + struct.pack(">iqh", 60_000, -1, -1) + b"\x00"
    s = connect(port)
    s.sendall(request(22, 4, 7, body, flexible_header=True))
    frame = read_frame(s)
    s.close()
    # Flexible response header: correlation id, then no tagged fields.
    corr, _tags, _throttle, error, producer_id, _epoch = struct.unpack(">iBihqh", frame[:21])
    assert (corr, error) == (7, 0), error
    return producer_id
