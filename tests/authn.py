"""Credentials for the authentication tests: gateway tokens minted the way the gateway mints
them (HS256 JWTs), a loopback OIDC provider, and route security blocks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

TOKEN_SECRET = b"an-end-to-end-test-key-of-at-least-32-bytes"
TOKEN_SECRET_B64 = base64.b64encode(TOKEN_SECRET).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def gateway_token(username: str, vcluster: str | None, lifetime: float = 3600, key: bytes = TOKEN_SECRET,
                  issued_at: float | None = None, jti: str | None = None) -> str:
    """A service-account token as `POST /gateway/v2/token` issues it."""
    now = int(issued_at if issued_at is not None else time.time())
    claims = {"sub": username, "iat": now, "exp": int(now + lifetime), "jti": jti or str(uuid.uuid4())}
    if vcluster:
        claims["vCluster"] = vcluster
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def sasl_route(route: dict, protocol: str = "SASL_PLAINTEXT", **extra) -> dict:
    route["security"] = {"protocol": protocol, **extra}
    return route


def plain_client(username: str, password: str, protocol: str = "SASL_PLAINTEXT") -> dict:
    return {"security.protocol": protocol, "sasl.mechanism": "PLAIN", "sasl.username": username,
            "sasl.password": password}


class OidcProvider:
    """An OpenID provider on loopback: discovery document and JWKS, RS256 keys made in the test."""

    def __init__(self, port: int) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = f"http://127.0.0.1:{port}"
        self.keys: dict[str, object] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.grants = 0
        self.clients: dict[str, str] = {}
        self.add_key("k1")
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/jwks"}
                elif self.path == "/jwks":
                    provider.fetches += 1
                    body = {"keys": [provider.jwk(k) for k in provider.published]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                # The client-credentials grant: the client id becomes the token's subject.
                from urllib.parse import parse_qs

                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                ok = (self.path == "/token" and form.get("grant_type") == "client_credentials"
                      and provider.clients.get(form.get("client_id")) == form.get("client_secret"))
                if not ok:
                    self.send_response(401)
                    self.end_headers()
                    return
                provider.grants += 1
                data = json.dumps({"access_token": provider.token(form["client_id"]), "token_type": "Bearer",
                                   "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._rsa = rsa
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = self._rsa.generate_private_key(public_exponent=65537, key_size=2048) \
            if hasattr(self, "_rsa") else __import__(
                "cryptography.hazmat.primitives.asymmetric.rsa", fromlist=["rsa"]).generate_private_key(
                public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict:
        import jwt

        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return jwk

    def token(self, subject: str, audience: str = "gatehouse", kid: str = "k1", lifetime: float = 3600,
              issuer: str | None = None) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": issuer or self.issuer, "sub": subject, "aud": audience, "iat": now,
                  "exp": now + int(lifetime)}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()


def external_account(name: str, vcluster: str, external_names: list[str]) -> dict:
    return {"apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": name, "vCluster": vcluster},
            "spec": {"type": "EXTERNAL", "externalNames": external_names}}
