"""The admin API under attack and audit (issue 12, defects 7 and 8), against the gateway
binary: wrong logins slowed per client address and counted, header and body deadlines, the
change log, TLS with reloadable certificates and client certificates, credentials on
/metrics, readiness and drain, and one name rule everywhere (documents, paths, tokens, CLI)."""
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

from harness import ADMIN_PASSWORD, ADMIN_USER, domain, gatehouse_binary
from pki import CertificateAuthority

NO_BROKER = "127.0.0.1:9"
TOKEN_SECRET = base64.b64encode(b"an e2e test token secret 32 byte").decode()


def gateway(cluster, admin_extra=None, start=True, **kwargs):
    gw = cluster.gatehouse([domain("kafka1", NO_BROKER)], start=False, **kwargs)
    gw.config["admin"].update(admin_extra or {})
    return gw.start() if start else gw


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(gw, method, path, body=None, auth=(ADMIN_USER, ADMIN_PASSWORD), source="127.0.0.1", timeout=10):
    """One request from the client address `source`; (status, body bytes, seconds taken)."""
    host, port = gw.config["admin"]["listen"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = basic(*auth)
    data = None if body is None else json.dumps(body).encode()
    started = time.monotonic()
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    taken = time.monotonic() - started
    conn.close()
    return r.status, raw, taken


def poll(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def vcluster(name):
    return {"apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name}}


def account(name, vc="passthrough"):
    return {"apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": name, "vCluster": vc}, "spec": {"type": "LOCAL"}}


# ---------------------------------------------------------------- defect 7: brute force

def test_wrong_passwords_are_slowed_per_address_counted_and_logged(cluster):
    gw = gateway(cluster, {"loginFailureMaxDelayMs": 400})
    times = []
    for _ in range(20):
        status, _, taken = call(gw, "GET", "/gateway/v2/virtual-cluster", auth=(ADMIN_USER, "wrong"))
        assert status == 401
        times.append(taken)
    # The first few are free; from then on every attempt from this address waits (100 ms,
    # doubling, at most 400 ms here); an unslowed request takes milliseconds.
    assert all(t < 0.3 for t in times[:3]), times
    assert all(t >= 0.38 for t in times[6:]), times
    # Another address is not slowed, wrong or right.
    status, _, taken = call(gw, "GET", "/gateway/v2/virtual-cluster", source="127.0.0.2")
    assert status == 200 and taken < 0.3, taken
    status, _, taken = call(gw, "GET", "/gateway/v2/virtual-cluster", auth=(ADMIN_USER, "wrong"),
                            source="127.0.0.3")
    assert status == 401 and taken < 0.3, taken
    # The right password from the guessing address works (after that address's wait) and
    # forgets its failures.
    status, _, taken = call(gw, "GET", "/gateway/v2/virtual-cluster")
    assert status == 200 and taken < 2, taken
    status, _, taken = call(gw, "GET", "/gateway/v2/virtual-cluster")
    assert status == 200 and taken < 0.3, taken
    metrics = call(gw, "GET", "/metrics", auth=None)[1].decode()
    assert metric(metrics, "gatehouse_admin_auth_failures_total") == 21
    lines = [l for l in gw.log().splitlines() if "admin API: wrong username or password" in l]
    assert lines, gw.log()[-3000:]
    # Logged, but not once per attempt: one line per address per 10 s.
    assert len([l for l in lines if "client=127.0.0.1 " in l]) == 1, lines
    assert any("client=127.0.0.3 " in l for l in lines), lines


def test_guessing_in_parallel_is_no_faster(cluster):
    gw = gateway(cluster, {"loginFailureMaxDelayMs": 200})
    for _ in range(4):
        call(gw, "GET", "/gateway/v2/virtual-cluster", auth=(ADMIN_USER, "wrong"))
    socks = []
    started = time.monotonic()
    port = int(gw.config["admin"]["listen"].rsplit(":", 1)[1])
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /gateway/v2/virtual-cluster HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Authorization: " + basic(ADMIN_USER, "wrong").encode() + b"\r\n\r\n")
        socks.append(s)
    for s in socks:
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 401"), answer[:100]
        s.close()
    # Eight attempts from one address, one at a time, at least 200 ms each.
    assert time.monotonic() - started >= 8 * 0.19


# ---------------------------------------------------------------- defect 7: slow clients

def test_half_sent_requests_are_closed_after_the_header_timeout(cluster):
    gw = gateway(cluster, {"headerTimeoutMs": 300, "bodyTimeoutMs": 400})
    port = int(gw.config["admin"]["listen"].rsplit(":", 1)[1])

    def closed_within(sock, seconds):
        sock.settimeout(seconds)
        started = time.monotonic()
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except socket.timeout:
            raise AssertionError(f"still open after {seconds}s (got {data[:80]!r})")
        return time.monotonic() - started, data

    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
    silent = socket.create_connection(("127.0.0.1", port))
    taken, _ = closed_within(half, 5)
    assert taken < 3, taken
    closed_within(silent, 5)
    # A keep-alive connection waiting for its next request is closed the same way.
    idle = socket.create_connection(("127.0.0.1", port))
    idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    _, data = closed_within(idle, 5)
    assert data.startswith(b"HTTP/1.1 200"), data
    # A body that stops arriving: answered 408 and cut.
    body = socket.create_connection(("127.0.0.1", port))
    body.sendall(b"PUT /gateway/v2/virtual-cluster HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: " + basic(ADMIN_USER, ADMIN_PASSWORD).encode() + b"\r\n"
                 b"Content-Length: 100\r\n\r\n{\"apiVersion\"")
    taken, data = closed_within(body, 5)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"admin.bodyTimeoutMs" in data, data
    # The listener still serves.
    assert call(gw, "GET", "/health/live", auth=None)[0] == 200
    for s in (half, silent, idle, body):
        s.close()


# ---------------------------------------------------------------- defect 7: change log

def test_every_change_is_logged_with_user_method_resource_and_result(cluster):
    gw = gateway(cluster, admin_users=[{"username": "ops-alice", "password": "pw-a"}],
                 env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET})
    me = ("ops-alice", "pw-a")
    assert call(gw, "PUT", "/gateway/v2/virtual-cluster", vcluster("team-a"), auth=me)[0] == 200
    assert call(gw, "PUT", "/gateway/v2/service-account", account("svc", "team-a"), auth=me)[0] == 200
    assert call(gw, "PUT", "/gateway/v2/virtual-cluster", vcluster("bad name"), auth=me)[0] == 400
    status, raw, _ = call(gw, "POST", "/gateway/v2/token",
                          {"username": "svc", "vCluster": "team-a", "lifeTimeSeconds": 60}, auth=me)
    assert status == 200, raw
    token_id = json.loads(raw)["id"]
    assert call(gw, "POST", "/gateway/v2/token/revoke", {"id": token_id}, auth=me)[0] == 200
    assert call(gw, "DELETE", "/gateway/v2/service-account/svc?vCluster=team-a", auth=me)[0] == 200

    def lines():
        return [l for l in gw.log().splitlines() if "admin change" in l]

    poll(lambda: len(lines()) >= 6, what="six change log lines")
    log = "\n".join(lines())
    expected = [
        'user="ops-alice" method=PUT path=/gateway/v2/virtual-cluster resource="VirtualCluster/team-a" result="CREATED" status=200',
        'user="ops-alice" method=PUT path=/gateway/v2/service-account '
        'resource="GatewayServiceAccount/svc (vCluster team-a)" result="CREATED" status=200',
        'user="ops-alice" method=PUT path=/gateway/v2/virtual-cluster result="REFUSED" status=400 error="metadata.name:',
        f'user="ops-alice" method=POST path=/gateway/v2/token resource="token {token_id} for svc (vCluster team-a)" '
        'result="ISSUED" status=200',
        f'user="ops-alice" method=POST path=/gateway/v2/token/revoke resource="token {token_id}" result="REVOKED"',
        'user="ops-alice" method=DELETE path=/gateway/v2/service-account/svc?vCluster=team-a '
        'resource="GatewayServiceAccount/svc (vCluster team-a)" result="DELETED" status=200',
    ]
    for e in expected:
        assert e in log, f"{e}\nnot in\n{log}"
    # The token itself is never logged.
    assert "eyJ" not in gw.log()


# ---------------------------------------------------------------- defect 7: TLS

def tls_gateway(cluster, cert, key, **tls):
    gw = gateway(cluster, {"tls": {"certFile": str(cert), "keyFile": str(key), **tls}})
    return gw, "https://" + gw.config["admin"]["listen"]


def cli(*args, env=None, timeout=30):
    e = dict(os.environ, GATEHOUSE_USER=ADMIN_USER, GATEHOUSE_PASSWORD=ADMIN_PASSWORD, NO_COLOR="1")
    e.pop("GATEHOUSE_CA", None)
    e.update(env or {})
    return subprocess.run([str(gatehouse_binary()), *args], capture_output=True, text=True, env=e, timeout=timeout)


def test_admin_api_over_tls_with_the_cli(cluster):
    ca = CertificateAuthority(cluster.workdir)
    cert, key = ca.issue("admin-server")
    gw, url = tls_gateway(cluster, cert, key)
    r = cli("apply", "--server", url, "--ca", str(ca.cert), "-f", str(write(cluster, "vc.yaml", vcluster("team-tls"))))
    assert r.returncode == 0, r.stderr
    r = cli("get", "virtual-cluster", "team-tls", "--server", url, "--ca", str(ca.cert))
    assert r.returncode == 0 and "team-tls" in r.stdout, r.stderr
    # Without the CA: refused, saying which option is missing.
    r = cli("get", "virtual-cluster", "--server", url)
    assert r.returncode != 0
    assert "--ca" in r.stderr and "not signed by a CA this command trusts" in r.stderr, r.stderr
    # Plain HTTP to a TLS listener gets nothing.
    r = cli("get", "virtual-cluster", "--server", url.replace("https", "http"))
    assert r.returncode != 0


def write(cluster, name, doc):
    path = cluster.workdir / name
    path.write_text(json.dumps(doc))
    return path


def test_client_certificates_required(cluster):
    ca = CertificateAuthority(cluster.workdir)
    cert, key = ca.issue("admin-server")
    client_cert, client_key = ca.issue("operator")
    other = CertificateAuthority(cluster.workdir, "other-ca")
    rogue_cert, rogue_key = other.issue("rogue")
    gw, url = tls_gateway(cluster, cert, key, clientAuth="required", caFile=str(ca.cert))
    r = cli("get", "virtual-cluster", "--server", url, "--ca", str(ca.cert))
    assert r.returncode != 0
    assert "requires a client certificate" in r.stderr and "--cert" in r.stderr, r.stderr
    r = cli("get", "virtual-cluster", "--server", url, "--ca", str(ca.cert),
            "--cert", str(rogue_cert), "--key", str(rogue_key))
    assert r.returncode != 0, r.stdout
    r = cli("get", "virtual-cluster", "--server", url, "--ca", str(ca.cert),
            "--cert", str(client_cert), "--key", str(client_key))
    assert r.returncode == 0, r.stderr


def test_a_certificate_replaced_on_disk_is_served(cluster):
    ca = CertificateAuthority(cluster.workdir)
    cert, key = ca.issue("admin-server")
    gw, url = tls_gateway(cluster, cert, key)
    new_ca = CertificateAuthority(cluster.workdir, "new-ca")
    new_cert, new_key = new_ca.issue("admin-server-2")
    port = int(gw.config["admin"]["listen"].rsplit(":", 1)[1])

    def handshake(ca_file):
        ctx = ssl.create_default_context(cafile=str(ca_file))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                    return True
        except ssl.SSLError:
            return False

    assert handshake(ca.cert) and not handshake(new_ca.cert)
    # Key first, then certificate, each replaced whole (as a certificate manager does).
    for src, dst in ((new_key, key), (new_cert, cert)):
        tmp = dst.with_suffix(".tmp")
        shutil.copy(src, tmp)
        os.replace(tmp, dst)
    poll(lambda: handshake(new_ca.cert), timeout=15, what="the new certificate to be served")
    r = cli("get", "virtual-cluster", "--server", url, "--ca", str(new_ca.cert))
    assert r.returncode == 0, r.stderr
    assert "TLS certificate reloaded" in gw.log()


# ---------------------------------------------------------------- defect 7: /metrics

def test_metrics_credentials_when_asked_for(cluster):
    gw = gateway(cluster, {"metricsAuth": True})
    status, raw, _ = call(gw, "GET", "/metrics", auth=None)
    assert status == 401 and b"authentication required" in raw
    assert call(gw, "GET", "/metrics", auth=(ADMIN_USER, "wrong"))[0] == 401
    status, raw, _ = call(gw, "GET", "/metrics")
    assert status == 200 and b"gatehouse_admin_auth_failures_total 1" in raw
    # Health stays open for load balancers.
    assert call(gw, "GET", "/health/live", auth=None)[0] == 200
    assert call(gw, "GET", "/health/ready", auth=None)[0] == 200


# ---------------------------------------------------------------- readiness and drain

def test_readiness_says_what_it_is_and_drain_turns_it_off(cluster):
    gw = gateway(cluster)
    status, raw, _ = call(gw, "GET", "/health/ready", auth=None)
    assert status == 200
    body = json.loads(raw)
    assert body["status"] == "ready" and isinstance(body["checks"], dict), body
    env = {"GATEHOUSE_SERVER": gw.admin_url}
    r = cli("drain", env={**env, "GATEHOUSE_PASSWORD": "wrong"})
    assert r.returncode != 0 and "401" in r.stderr, r.stderr
    r = cli("drain", env=env)
    assert r.returncode == 0, r.stderr
    assert "draining" in r.stdout, r.stdout
    if gw.alive():
        try:
            status, raw, _ = call(gw, "GET", "/health/ready", auth=None)
        except OSError:
            return  # drained and gone already
        assert status == 503 and json.loads(raw)["status"] == "draining", raw


# ---------------------------------------------------------------- defect 8: names

BAD_NAMES = [".", "..", "admin\u202enimda", "a\u0007b", "alice ", "a" * 600]


def test_one_name_rule_for_documents_paths_tokens_and_cli(cluster):
    gw = gateway(cluster, env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET})
    for name in BAD_NAMES:
        for doc, kind in ((vcluster(name), "VirtualCluster"), (account(name), "GatewayServiceAccount")):
            path = "/gateway/v2/" + ("virtual-cluster" if kind == "VirtualCluster" else "service-account")
            status, raw, _ = call(gw, "PUT", path, doc)
            assert status == 400, (name, raw)
            msg = json.loads(raw)["msg"]
            assert msg.startswith("metadata.name: ") and f"a {kind} name is" in msg, msg
        status, raw, _ = call(gw, "POST", "/gateway/v2/token",
                              {"username": name, "vCluster": "passthrough", "lifeTimeSeconds": 60})
        assert status == 400, (name, raw)
        msg = json.loads(raw)["msg"]
        assert msg.startswith("username: ") and "GatewayServiceAccount name is" in msg, msg
    assert json.loads(call(gw, "GET", "/gateway/v2/virtual-cluster")[1]) == []
    # The CLI refuses them before asking, with the same rule.
    env = {"GATEHOUSE_SERVER": gw.admin_url}
    for args in (["get", "virtual-cluster", ".."], ["delete", "virtual-cluster", "."],
                 ["get", "service-account", "admin\u202enimda"], ["delete", "service-account", "alice "],
                 ["token", "create", "--vcluster", "passthrough", "--username", "a" * 600, "--lifetime", "1m"]):
        r = cli(*args, env=env)
        assert r.returncode != 0, args
        assert "name is" in r.stderr and ("NAME: " in r.stderr or "--username: " in r.stderr), r.stderr
        assert "HTTP" not in r.stderr, r.stderr
    # A name the rule allows still works end to end.
    assert call(gw, "PUT", "/gateway/v2/service-account", account("CN=ops,O=Example"))[0] == 200
    r = cli("get", "service-account", "CN=ops,O=Example", env=env)
    assert r.returncode == 0 and "CN=ops,O=Example" in r.stdout, r.stderr
