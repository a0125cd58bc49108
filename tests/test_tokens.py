"""Gateway tokens against the release binary: issuing through the admin API and `gatehouse token
create` (stdout is the token alone, signed with the configured key), refusals (unknown vCluster,
no key, a short key), the key from GATEHOUSE_TOKEN_SECRET, revocation by token and by id through
the CLI, a second gateway on the same PostgreSQL seeing the revocation, and no secret in the log."""
import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid

import yaml

from harness import domain, gatehouse_binary

NO_BROKER = "127.0.0.1:9"
SECRET = "a token secret for the tests, 32+ bytes long"
ENV_SECRET = bytes(range(32))


def gateway(cluster, secret=SECRET, env=None, **kwargs):
    g = cluster.gatehouse([domain("kafka1", NO_BROKER)], start=False, env=env, **kwargs)
    if secret is not None:
        g.config["auth"] = {"tokenSecret": secret}
    return g.start()


def b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims(token: str, key: bytes) -> dict:
    """The payload of an HS256 JWT whose signature `key` verifies."""
    header, payload, signature = token.split(".")
    assert json.loads(b64url(header))["alg"] == "HS256"
    expected = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(expected, b64url(signature)), "signature does not verify with the key"
    return json.loads(b64url(payload))


def add_vcluster(g, name):
    r = g.api("PUT", "virtual-cluster", {"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                                         "metadata": {"name": name}})
    assert r.status == 200, r.raw


def test_create_through_the_api_and_the_cli(cluster):
    g = gateway(cluster)
    add_vcluster(g, "team-a")
    before = int(time.time())
    r = g.api("POST", "token", {"username": "svc-a", "vCluster": "team-a", "lifeTimeSeconds": 600})
    assert r.status == 200, r.raw
    c = claims(r.json["token"], SECRET.encode())
    assert (c["sub"], c["vCluster"], c["jti"]) == ("svc-a", "team-a", r.json["id"])
    assert c["exp"] - c["iat"] == 600 and before <= c["iat"] <= int(time.time())
    assert r.json["expiresAt"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["exp"]))
    uuid.UUID(c["jti"])

    out = g.cli("token", "create", "--vcluster", "team-a", "--username", "svc-b", "--lifetime", "1h")
    assert out.returncode == 0, out.stderr
    token = out.stdout.removesuffix("\n")
    assert out.stdout == token + "\n" and "\n" not in token, "stdout is the token alone"
    c = claims(token, SECRET.encode())
    assert (c["sub"], c["vCluster"], c["exp"] - c["iat"]) == ("svc-b", "team-a", 3600)
    assert c["jti"] in out.stderr, "the id goes to stderr"
    for lifetime, secs in [("30s", 30), ("15m", 900), ("7d", 604800)]:
        out = g.cli("token", "create", "--vcluster", "passthrough", "--username", "svc", "--lifetime", lifetime)
        assert out.returncode == 0, out.stderr
        c = claims(out.stdout.strip(), SECRET.encode())
        assert c["exp"] - c["iat"] == secs and c["vCluster"] == "passthrough"

    log = g.log()
    assert "gateway token issued" in log
    assert token not in log and r.json["token"] not in log and SECRET not in log


def test_refusals(cluster):
    g = gateway(cluster)
    r = g.api("POST", "token", {"username": "svc", "vCluster": "nope", "lifeTimeSeconds": 60})
    assert r.status == 400 and r.json["msg"].startswith("vCluster: no virtual cluster named 'nope'"), r.raw
    out = g.cli("token", "create", "--vcluster", "nope", "--username", "svc", "--lifetime", "1h")
    assert out.returncode == 1 and out.stdout == ""
    assert "vCluster: no virtual cluster named 'nope'" in out.stderr, out.stderr
    r = g.api("POST", "token", {"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 400 * 86400})
    assert r.status == 400 and r.json["msg"].startswith("lifeTimeSeconds: "), r.raw
    out = g.cli("token", "create", "--vcluster", "passthrough", "--username", "svc", "--lifetime", "1 week")
    assert out.returncode != 0 and out.stdout == "" and "30s, 15m, 1h or 7d" in out.stderr, out.stderr
    out = g.cli("token", "revoke", "garbage")
    assert out.returncode == 1 and "neither a token nor a token id" in out.stderr, out.stderr


def test_without_a_key_tokens_cannot_be_issued(cluster):
    g = gateway(cluster, secret=None)
    r = g.api("POST", "token", {"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 60})
    assert r.status == 503 and r.json["cause"] == "NO_TOKEN_KEY", r.raw
    assert "auth.tokenSecret" in r.json["msg"] and "GATEHOUSE_TOKEN_SECRET" in r.json["msg"]
    out = g.cli("token", "create", "--vcluster", "passthrough", "--username", "svc", "--lifetime", "1h")
    assert out.returncode == 1 and out.stdout == ""
    assert "NO_TOKEN_KEY" in out.stderr and "auth.tokenSecret" in out.stderr, out.stderr


def test_key_from_the_environment_and_short_keys(cluster):
    env = {"GATEHOUSE_TOKEN_SECRET": base64.b64encode(ENV_SECRET).decode()}
    g = gateway(cluster, secret=None, env=env, name="from-env")
    r = g.api("POST", "token", {"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 60})
    assert r.status == 200, r.raw
    claims(r.json["token"], ENV_SECRET)
    assert env["GATEHOUSE_TOKEN_SECRET"] not in g.log()
    # The file's secret wins over the environment's.
    g2 = gateway(cluster, env=env, name="file-wins")
    r = g2.api("POST", "token", {"username": "svc", "vCluster": "passthrough", "lifeTimeSeconds": 60})
    claims(r.json["token"], SECRET.encode())

    # A key under 256 bits: the gateway refuses to start and names where the key came from.
    for secret, env, where in [("only 31 bytes of secret text...", {}, "auth.tokenSecret"),
                               (None, {"GATEHOUSE_TOKEN_SECRET": base64.b64encode(b"x" * 16).decode()},
                                "GATEHOUSE_TOKEN_SECRET")]:
        bad = cluster.gatehouse([domain("kafka1", NO_BROKER)], start=False, name="short")
        if secret:
            bad.config["auth"] = {"tokenSecret": secret}
        bad.config_path.write_text(yaml.safe_dump(bad.config))
        result = subprocess.run([str(gatehouse_binary()), "serve", "--config", str(bad.config_path)],
                                capture_output=True, text=True, timeout=60,
                                env={"PATH": "/usr/bin:/bin", **env})
        assert result.returncode != 0
        assert f"{where}: " in result.stderr and "token secret is" in result.stderr, result.stderr
        assert "at least 32 bytes (256 bits)" in result.stderr, result.stderr
        if secret:
            assert secret not in result.stderr


def test_revoke_through_the_cli_by_token_and_by_id(cluster):
    g = gateway(cluster)
    tokens = [g.cli("token", "create", "--vcluster", "passthrough", "--username", f"svc{i}", "--lifetime", "1h")
              .stdout.strip() for i in range(2)]
    ids = [claims(t, SECRET.encode())["jti"] for t in tokens]
    out = g.cli("token", "revoke", tokens[0], "--reason", "leaked")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"token {ids[0]}: REVOKED\n"
    out = g.cli("token", "revoke", ids[1].upper())
    assert (out.returncode, out.stdout) == (0, f"token {ids[1]}: REVOKED\n"), out.stderr
    assert g.cli("token", "revoke", ids[1]).returncode == 0, "idempotent"
    listed = {r["id"]: r for r in g.api("GET", "token/revoked").json}
    assert set(listed) == set(ids)
    assert listed[ids[0]]["reason"] == "leaked" and "expiresAt" in listed[ids[0]]
    assert "expiresAt" not in listed[ids[1]]
    log = g.log()
    assert "gateway token revoked" in log and ids[0] in log
    assert not any(t in log for t in tokens) and SECRET not in log


def test_a_second_gateway_on_the_same_postgresql_sees_the_revocation(cluster, postgres):
    a = gateway(cluster, name="gw-a", store={"url": postgres.url})
    b = gateway(cluster, name="gw-b", store={"url": postgres.url})
    token = a.cli("token", "create", "--vcluster", "passthrough", "--username", "svc", "--lifetime", "1h").stdout.strip()
    token_id = claims(token, SECRET.encode())["jti"]
    assert b.api("GET", "token/revoked").json == []
    assert a.cli("token", "revoke", token).returncode == 0
    started = time.monotonic()
    while token_id not in [r["id"] for r in b.api("GET", "token/revoked").json]:
        assert time.monotonic() - started < 1.5, "revocation not visible on the other gateway within ~1 s"
        time.sleep(0.05)
    for g in (a, b):
        assert token not in g.log() and SECRET not in g.log()
