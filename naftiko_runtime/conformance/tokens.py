"""What the conformance runner needs to test exposed authentication on any runtime: an
authorization server inside the stub (RFC 8414 metadata and a JWK set) and access tokens signed
from a case's claims, good or deliberately bad.

A step's ``token`` (REST ``request`` or ``mcp``) is sent as ``Authorization: Bearer``::

    token: {claims: {aud: https://gateway.example, scope: items.read}, sign: stub}

``claims`` go over the defaults ``iss`` (the stub, which is the issuer when a capability's
``authorizationServerUri`` is ``{stub}``), ``iat`` = now and ``exp`` = now + 300; a ``null`` claim
is left out. ``exp``/``nbf``/``iat`` given as strings ``+N``/``-N`` are seconds from now. ``sign``:
``stub`` (the stub's published RS256 key, the default), ``other`` (a key of the same ``kid`` that the
stub does not publish), ``none`` (``alg: none``, no signature) or ``hs256`` (HMAC keyed with the
stub's public key PEM: the HS/RS confusion).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

KID = "conformance-1"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
SIGNERS = ("stub", "other", "none", "hs256")


@functools.cache
def key(which: str) -> RSAKey:
    """The stub's key (``stub``) and an impostor with the same ``kid`` (``other``), made once."""
    return RSAKey.generate_key(2048, parameters={"kid": KID}, private=True)


def authorization_server(path: str, issuer: str) -> dict[str, Any] | None:
    """The stub's answer for the authorization server's documents; ``None`` for any other path."""
    if path == METADATA_PATH:
        return {"issuer": issuer, "jwks_uri": issuer + JWKS_PATH}
    if path == JWKS_PATH:
        return {"keys": [key("stub").as_dict(private=False)]}
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(spec: dict[str, Any], issuer: str) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "iat": now, "exp": now + 300}
    claims.update(spec.get("claims") or {})
    for name in ("exp", "nbf", "iat"):
        if isinstance(claims.get(name), str) and claims[name][:1] in "+-":
            claims[name] = now + int(claims[name])
    return {name: value for name, value in claims.items() if value is not None}


def token(spec: dict[str, Any], issuer: str) -> str:
    claims, sign = _claims(spec, issuer), spec.get("sign", "stub")
    if sign in ("stub", "other"):
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key(sign))
    payload = _b64(json.dumps(claims).encode())
    if sign == "none":
        return f"{_b64(json.dumps({'alg': 'none'}).encode())}.{payload}."
    if sign == "hs256":
        signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': KID}).encode())}.{payload}"
        mac = hmac.new(key("stub").as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"
    raise ValueError(f"token sign must be one of {', '.join(SIGNERS)}, got {sign!r}")
