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
