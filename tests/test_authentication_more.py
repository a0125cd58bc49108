"""mTLS, SASL/OAUTHBEARER against a loopback OIDC provider, and KIP-368 re-authentication."""
from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import rawkafka
from authn import (TOKEN_SECRET_B64, OidcProvider, external_account, gateway_token, plain_client,
                   sasl_route)
from clients import consume, produce
from harness import domain, route
from pki import CertificateAuthority
from tenants import put_virtual_cluster


def topics(bootstrap: str, **conf) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap, **conf}).list_topics(timeout=10).topics)


def create(bootstrap: str, topic: str, conf: dict) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    for f in admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10).values():
        f.result(timeout=20)


def gateway_with(cluster, security: dict, extra_routes=()):
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    secured = route("secured", cluster.route_ports(d), "d")
    secured["security"] = security
    raw = route("raw", cluster.route_ports(d), "d")
    g = cluster.gatehouse([d], [secured, raw], env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    return g


# ---------------------------------------------------------------- mTLS

def test_mtls_subject_maps_through_the_rules_to_a_virtual_cluster(cluster):
    ca = CertificateAuthority(cluster.workdir)
    server_cert, server_key = ca.issue("gateway")
    client_cert, client_key = ca.issue("app1", subject="/O=Acme/OU=ServiceUsers/CN=App1")
    g = gateway_with(cluster, {
        "protocol": "SSL",
        "tls": {"certFile": str(server_cert), "keyFile": str(server_key), "clientAuth": "required",
                "caFile": str(ca.cert)},
        "principalMappingRules": "RULE:^CN=([^,]+),OU=ServiceUsers.*$/$1/L,DEFAULT",
    })
    put_virtual_cluster(g, "team-a")
    r = g.api("PUT", "service-account", external_account("app1", "team-a", ["app1"]))
    assert r.status == 200, r.raw
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(ca.cert),
            "ssl.certificate.location": str(client_cert), "ssl.key.location": str(client_key)}
    bs = g.bootstrap("secured")
    create(bs, "orders", conf)
    produce(bs, "orders", [b"over mtls"], **conf)
    assert consume(bs, "orders", "app", 1, **conf) == [b"over mtls"]
    assert "team-a.orders" in topics(g.bootstrap("raw"))

    # A certificate from another CA never gets past the handshake.
    other = CertificateAuthority(cluster.workdir, name="other-ca")
    bad_cert, bad_key = other.issue("intruder")
    errors = []
    p = Producer({"bootstrap.servers": bs, "security.protocol": "SSL", "ssl.ca.location": str(ca.cert),
                  "ssl.certificate.location": str(bad_cert), "ssl.key.location": str(bad_key),
                  "error_cb": lambda e: errors.append(e)})
    p.produce("orders", b"x")
    p.flush(5)
    assert errors
    assert 'gatehouse_connections_refused_total{reason="tls_handshake"}' in g.metrics()


# ---------------------------------------------------------------- OAUTHBEARER

@pytest.fixture
def oidc(cluster):
    provider = OidcProvider(cluster.ports.one())
    yield provider
    provider.close()


def oauth_client(token_fn) -> dict:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": lambda _config: (token_fn(), time.time() + 3600)}


def test_oauthbearer_tokens_from_the_provider_land_in_the_mapped_virtual_cluster(cluster, oidc):
    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT", "sasl": {"mechanisms": ["OAUTHBEARER", "PLAIN"]},
                               "oauth": {"issuer": oidc.issuer, "audiences": ["gatehouse"]}})
    put_virtual_cluster(g, "team-o")
    assert g.api("PUT", "service-account", external_account("svc", "team-o", ["svc-orders"])).status == 200
    bs = g.bootstrap("secured")
    conf = oauth_client(lambda: oidc.token("svc-orders"))
    create(bs, "orders", conf)
    produce(bs, "orders", [b"oauth"], **conf)
    assert consume(bs, "orders", "app", 1, **conf) == [b"oauth"]
    assert "team-o.orders" in topics(g.bootstrap("raw"))

    # Key rotation: a token signed by a key the gateway has not seen yet is accepted once the
    # provider publishes it (the gateway refetches the JWKS on an unknown kid).
    oidc.add_key("k2")
    produce(bs, "orders", [b"rotated"], **oauth_client(lambda: oidc.token("svc-orders", kid="k2")))

    for bad in (lambda: oidc.token("svc-orders", audience="someone-else"),
                lambda: oidc.token("svc-orders", issuer="http://evil.example"),
                lambda: oidc.token("svc-orders", lifetime=-60)):
        errors = []
        p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e), **oauth_client(bad)})
        p.produce("orders", b"x")
        p.flush(4)
        assert any("authentication" in e.str().lower() for e in errors), errors
    oidc.add_key("k3", publish=False)
    errors = []
    p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e),
                  **oauth_client(lambda: oidc.token("svc-orders", kid="k3"))})
    p.produce("orders", b"x")
    p.flush(4)
    assert any("unknown key" in e.str() for e in errors), errors
    assert oidc.token("svc-orders") not in g.log()


# ---------------------------------------------------------------- KIP-368

def test_clients_reauthenticate_within_the_session_lifetime(cluster):
    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT", "maxSessionLifetimeMs": 2000})
    put_virtual_cluster(g, "team-r")
    bs = g.bootstrap("secured")
    conf = plain_client("rita", gateway_token("rita", "team-r"))
    create(bs, "orders", conf)
    errors = []
    p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 5, "error_cb": lambda e: errors.append(e),
                  **conf})
    deadline = time.time() + 7
    n = 0
    while time.time() < deadline:
        p.produce("orders", b"r%d" % n)
        n += 1
        p.poll(0.05)
    assert p.flush(10) == 0
    assert len(consume(bs, "orders", "app", n, **conf)) == n
    assert "reauthentication=true" in g.log()


def sasl_plain_raw(port: int, username: str, password: str) -> tuple[object, int, int]:
    """Authenticates a raw socket with SaslHandshake v1 + SaslAuthenticate v1; returns
    (socket, error code, session lifetime ms)."""
    s = rawkafka.connect(port)
    mech = b"PLAIN"
    s.sendall(rawkafka.request(17, 1, 1, struct.pack(">h", len(mech)) + mech))
    rawkafka.read_frame(s)
    auth = b"\0" + username.encode() + b"\0" + password.encode()
    s.sendall(rawkafka.request(36, 1, 2, struct.pack(">i", len(auth)) + auth))
    f = rawkafka.read_frame(s)
    code = struct.unpack(">h", f[4:6])[0]
    at = 6
    (n,) = struct.unpack(">h", f[at:at + 2])
    at += 2 + max(n, 0)
    (n,) = struct.unpack(">i", f[at:at + 4])
    at += 4 + max(n, 0)
    (lifetime,) = struct.unpack(">q", f[at:at + 8])
    return s, code, lifetime


def test_a_client_that_does_not_reauthenticate_is_disconnected(cluster):
    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT", "maxSessionLifetimeMs": 1500})
    put_virtual_cluster(g, "team-r")
    port = g.route_port("secured")
    s, code, lifetime = sasl_plain_raw(port, "rita", gateway_token("rita", "team-r"))
    assert code == 0 and 0 < lifetime <= 1500
    s.sendall(rawkafka.request(3, 1, 3, struct.pack(">i", 0)))  # Metadata v1, no topics
    assert rawkafka.read_frame(s)  # served within the session
    time.sleep(lifetime / 1000 + 0.5)
    s.sendall(rawkafka.request(3, 1, 4, struct.pack(">i", 0)))
    assert rawkafka.closed_by_peer(s)
    assert "did not re-authenticate" in g.log()

    # The session lifetime never outlives the token.
    s, code, lifetime = sasl_plain_raw(port, "rita", gateway_token("rita", "team-r", lifetime=1))
    assert code == 0 and lifetime <= 1000


def test_requests_before_authentication_never_reach_the_upstream(cluster):
    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT"})
    port = g.route_port("secured")
    # SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE, then closed.
    s = rawkafka.connect(port)
    s.sendall(rawkafka.request(36, 1, 1, struct.pack(">i", 3) + b"abc"))
    f = rawkafka.read_frame(s)
    assert struct.unpack(">h", f[4:6])[0] == 34
    assert rawkafka.closed_by_peer(s)
    # Metadata before authenticating: closed, not forwarded.
    s = rawkafka.connect(port)
    s.sendall(rawkafka.request(3, 1, 1, struct.pack(">i", 0)))
    assert rawkafka.closed_by_peer(s)
    assert "gatehouse_requests_forwarded_total 0" in g.metrics()


def test_a_revoked_token_is_refused_by_every_gateway_on_the_store(cluster, postgres):
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    gateways = []
    for name in ("gw-1", "gw-2"):
        r = sasl_route(route("secured", cluster.route_ports(d), "d"))
        gateways.append(cluster.gatehouse([d], [r], name=name, store={"url": postgres.url},
                                          env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64}))
    g1, g2 = gateways
    put_virtual_cluster(g1, "team-v")
    token = gateway_token("vera", "team-v")
    time.sleep(1)  # gw-2 follows the store
    s, code, _ = sasl_plain_raw(g2.route_port("secured"), "vera", token)
    assert code == 0
    r = g1.api("POST", "token/revoke", {"token": token})
    assert r.status == 200, r.raw
    # The connection the token authenticated on gw-2 ends (gw-2 polls the store every 200 ms).
    start = time.time()
    assert rawkafka.closed_by_peer(s, timeout=3)
    assert time.time() - start < 3
    assert "was revoked" in g2.log()
    _, code, _ = sasl_plain_raw(g2.route_port("secured"), "vera", token)
    assert code == 58
    assert "token revoked" in g2.log()
    assert token not in g1.log() + g2.log()


def test_sasl_ssl_with_a_gateway_token_and_certificates_reloaded_without_a_restart(cluster):
    import shutil
    import socket
    import ssl

    ca = CertificateAuthority(cluster.workdir)
    cert, key = ca.issue("gateway")
    live_cert, live_key = cluster.workdir / "live.pem", cluster.workdir / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    g = gateway_with(cluster, {"protocol": "SASL_SSL",
                               "tls": {"certFile": str(live_cert), "keyFile": str(live_key)}})
    put_virtual_cluster(g, "team-s")
    bs = g.bootstrap("secured")
    conf = {**plain_client("sam", gateway_token("sam", "team-s"), "SASL_SSL"), "ssl.ca.location": str(ca.cert)}
    create(bs, "orders", conf)
    produce(bs, "orders", [b"over sasl_ssl"], **conf)
    assert consume(bs, "orders", "app", 1, **conf) == [b"over sasl_ssl"]

    def served_certificate() -> int:  # a fingerprint of the certificate the listener serves
        ctx = ssl.create_default_context(cafile=str(ca.cert))
        with socket.create_connection(("127.0.0.1", g.route_port("secured")), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return hash(s.getpeercert(True))

    before = served_certificate()
    new_cert, new_key = ca.issue("gateway-renewed")
    time.sleep(1.1)  # a newer modification time
    shutil.copy(new_key, live_key)
    shutil.copy(new_cert, live_cert)
    deadline = time.time() + 10
    while served_certificate() == before and time.time() < deadline:
        time.sleep(0.5)
    assert served_certificate() != before, "the renewed certificate was not picked up"
    assert "TLS certificate reloaded" in g.log()
    produce(bs, "orders", [b"after renewal"], **conf)


def test_a_revoked_token_ends_the_connection_it_authenticated(cluster):
    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT", "maxSessionLifetimeMs": 60000})
    put_virtual_cluster(g, "team-r")
    token = gateway_token("rita", "team-r")
    other = gateway_token("rita", "team-r")
    s, code, _ = sasl_plain_raw(g.route_port("secured"), "rita", token)
    assert code == 0
    kept, code, _ = sasl_plain_raw(g.route_port("secured"), "rita", other)
    assert code == 0
    assert g.api("POST", "token/revoke", {"token": token}).status == 200
    # Not at its next re-authentication (up to the session lifetime away): at once.
    assert rawkafka.closed_by_peer(s, timeout=3)
    # The connection of another token of the same principal goes on.
    assert not rawkafka.closed_by_peer(kept, timeout=0.5)


def test_the_gateway_logs_in_upstream_with_oauthbearer_client_credentials(cluster, oidc):
    """The upstream (a second Gatehouse) accepts OAUTHBEARER from the provider; the gateway
    under test gets its token by a client-credentials grant and serves a PLAINTEXT route."""
    from harness import TANSU_NODE_ID

    tansu = cluster.tansu()
    d_up = domain("tansu", tansu.bootstrap)
    up_route = route("oauth", cluster.route_ports(d_up), "tansu")
    up_route["security"] = {"protocol": "SASL_PLAINTEXT", "sasl": {"mechanisms": ["OAUTHBEARER"]},
                            "oauth": {"issuer": oidc.issuer, "audiences": ["gatehouse"]}}
    upstream = cluster.gatehouse([d_up], [up_route], name="upstream-gw")
    put_virtual_cluster(upstream, "team-c")
    assert upstream.api("PUT", "service-account",
                        external_account("gw", "team-c", ["gateway-client"])).status == 200
    oidc.clients["gateway-client"] = "s3cret"

    d = domain("secured", upstream.bootstrap("oauth"),
               node_ranges=[{"name": "up", "start": TANSU_NODE_ID, "end": TANSU_NODE_ID}])
    d["kafkaCluster"]["bootstrapServers"][0]["sasl"] = {
        "mechanism": "OAUTHBEARER", "tokenEndpoint": oidc.issuer + "/token", "clientId": "gateway-client",
        "clientSecret": "${GW_CLIENT_SECRET}"}
    g = cluster.gatehouse([d], [route("plain", cluster.route_ports(d), "secured")],
                          env={"GW_CLIENT_SECRET": "s3cret"})
    from clients import create_topic
    create_topic(g.bootstrap("plain"), "orders")
    produce(g.bootstrap("plain"), "orders", [b"as the gateway"])
    assert consume(g.bootstrap("plain"), "orders", "app", 1) == [b"as the gateway"]
    assert "team-c.orders" in set(AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics)
    assert oidc.grants >= 1
    assert "s3cret" not in g.log()


def test_requested_client_certificates_and_a_mandatory_virtual_cluster(cluster):
    ca = CertificateAuthority(cluster.workdir)
    server_cert, server_key = ca.issue("gateway")
    client_cert, client_key = ca.issue("app2", subject="/O=Acme/CN=app2")
    tansu = cluster.tansu()
    d = domain("d", tansu.bootstrap)
    tls_route = route("tls", cluster.route_ports(d), "d")
    tls_route["security"] = {"protocol": "SSL", "tls": {
        "certFile": str(server_cert), "keyFile": str(server_key), "clientAuth": "requested",
        "caFile": str(ca.cert)}, "principalMappingRules": "RULE:^CN=([^,]+),O=Acme$/$1/,DEFAULT"}
    sasl = sasl_route(route("sasl", cluster.route_ports(d), "d"))
    g = cluster.gatehouse([d], [tls_route, sasl], start=False, env={"GATEHOUSE_TOKEN_SECRET": TOKEN_SECRET_B64})
    g.config["auth"] = {"mandatoryVirtualCluster": True}
    g.start()
    put_virtual_cluster(g, "team-m")
    assert g.api("PUT", "service-account", external_account("app2", "team-m", ["app2"])).status == 200
    tls = {"security.protocol": "SSL", "ssl.ca.location": str(ca.cert)}
    # With its certificate the client is app2, in team-m.
    with_cert = {**tls, "ssl.certificate.location": str(client_cert), "ssl.key.location": str(client_key)}
    create(g.bootstrap("tls"), "orders", with_cert)
    produce(g.bootstrap("tls"), "orders", [b"app2"], **with_cert)
    # Without one the handshake succeeds (requested, not required), but an anonymous client
    # belongs to no virtual cluster, which this gateway refuses.
    errors = []
    p = Producer({"bootstrap.servers": g.bootstrap("tls"), "error_cb": lambda e: errors.append(e), **tls})
    p.produce("orders", b"x")
    p.flush(4)
    assert errors
    assert "anonymous client" in g.log()
    # A token without a virtual cluster is refused too, with the reason.
    _, code, _ = sasl_plain_raw(g.route_port("sasl"), "nobody", gateway_token("nobody", None))
    assert code == 58
    assert "not mapped to a virtual cluster" in g.log()


def test_kafka_python_with_oauthbearer(cluster, oidc):
    from kafka import KafkaProducer
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class Provider(AbstractTokenProvider):
        def token(self):
            return oidc.token("svc-py")

    g = gateway_with(cluster, {"protocol": "SASL_PLAINTEXT", "sasl": {"mechanisms": ["OAUTHBEARER"]},
                               "oauth": {"issuer": oidc.issuer, "audiences": ["gatehouse"]}})
    put_virtual_cluster(g, "team-py")
    assert g.api("PUT", "service-account", external_account("py", "team-py", ["svc-py"])).status == 200
    producer = KafkaProducer(bootstrap_servers=g.bootstrap("secured"), security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=Provider(), acks="all")
    producer.send("events", b"kafka-python over oauth").get(timeout=30)
    producer.close()
    assert "team-py.events" in topics(g.bootstrap("raw"))


def test_delegated_oauthbearer_learns_the_subject_the_upstream_accepted(cluster, oidc):
    from harness import TANSU_NODE_ID

    tansu = cluster.tansu()
    d_up = domain("tansu", tansu.bootstrap)
    up_route = route("oauth", cluster.route_ports(d_up), "tansu")
    up_route["security"] = {"protocol": "SASL_PLAINTEXT", "sasl": {"mechanisms": ["OAUTHBEARER"]},
                            "oauth": {"issuer": oidc.issuer, "audiences": ["gatehouse"]}}
    upstream = cluster.gatehouse([d_up], [up_route], name="upstream-gw")
    put_virtual_cluster(upstream, "team-d")
    assert upstream.api("PUT", "service-account", external_account("d", "team-d", ["svc-d"])).status == 200
    d = domain("secured", upstream.bootstrap("oauth"),
               node_ranges=[{"name": "up", "start": TANSU_NODE_ID, "end": TANSU_NODE_ID}])
    g = cluster.gatehouse([d], [sasl_route(route("delegated", cluster.route_ports(d), "secured"),
                                           "DELEGATED_SASL_PLAINTEXT")])
    conf = oauth_client(lambda: oidc.token("svc-d"))
    bs = g.bootstrap("delegated")
    create(bs, "orders", conf)
    produce(bs, "orders", [b"delegated oauth"], **conf)
    assert "principal=svc-d" in g.log() and "authenticated by the upstream" in g.log()
    assert "team-d.orders" in set(AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=10).topics)
    errors = []
    p = Producer({"bootstrap.servers": bs, "error_cb": lambda e: errors.append(e),
                  **oauth_client(lambda: oidc.token("svc-d", audience="elsewhere"))})
    p.produce("orders", b"x")
    p.flush(4)
    assert any("authentication" in e.str().lower() for e in errors), errors
