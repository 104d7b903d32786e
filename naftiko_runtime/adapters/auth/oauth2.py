"""An exposed ``oauth2`` adapter as an OAuth 2.1 resource server: JWT access tokens checked locally
against the authorization server's published keys (RFC 9068, RFC 8414, RFC 9728 for MCP).

A token is admitted only if its header names an asymmetric algorithm from ``ALGORITHMS`` (so
``alg: none`` and HS256 signed with a public key are refused before any key is touched), its
signature verifies with the key its ``kid`` names in the JWK set, its ``iss`` is the configured
authorization server, its ``aud`` contains the audience (``audience``, else ``resource``), ``exp``
is in the future and ``nbf`` past (within ``token_leeway``), and it carries every configured scope
(403 ``insufficient_scope`` otherwise). The key set is fetched on first use, kept
``jwks_max_age`` seconds, and refetched when a token names an unknown ``kid`` (key rotation), at
most once per ``jwks_min_refresh`` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.types import Scope

from ...settings import Settings
from ...spec.model import OAuth2
from .gates import REALM, Refusal, authorization

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_PATH = "/.well-known/oauth-protected-resource"


class KeysUnavailable(Exception):
    """The authorization server's metadata or key set could not be fetched or read."""


def metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 section 3 (the well-known suffix inserted before the issuer's path), then OIDC's."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return [
        urlunsplit((parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")),
        urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", "")),
    ]


@dataclass
class JwksCache:
    issuer: str
    settings: Settings
    keys: KeySet | None = None
    fetched_at: float = float("-inf")
    jwks_uri: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key_set(self, kid: str | None) -> KeySet:
        """The current key set, refetched when stale or when it lacks ``kid`` (not too often)."""
        now = time.monotonic()
        age = now - self.fetched_at
        if self.keys is not None and age < self.settings.jwks_max_age and (kid is None or self._has(kid)):
            return self.keys
        async with self.lock:
            age = time.monotonic() - self.fetched_at
            stale = self.keys is None or age >= self.settings.jwks_max_age
            if stale or (kid is not None and not self._has(kid) and age >= self.settings.jwks_min_refresh):
                self.keys = await self._fetch()
                self.fetched_at = time.monotonic()
        assert self.keys is not None
        return self.keys

    def _has(self, kid: str) -> bool:
        return self.keys is not None and any(key.kid == kid for key in self.keys.keys)

    async def _fetch(self) -> KeySet:
        timeout = httpx.Timeout(self.settings.total_timeout, connect=self.settings.connect_timeout)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            try:
                if self.jwks_uri is None:
                    self.jwks_uri = await self._discover(client)
                reply = await client.get(self.jwks_uri)
                reply.raise_for_status()
                return KeySet.import_key_set(reply.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                reason = type(exc).__name__
                raise KeysUnavailable(f"the authorization server's keys are unavailable ({reason})") from exc

    async def _discover(self, client: httpx.AsyncClient) -> str:
        for url in metadata_urls(self.issuer):
            reply = await client.get(url)
            if reply.status_code == 200:
                uri = reply.json().get("jwks_uri")
                if isinstance(uri, str):
                    return uri
        raise ValueError("no jwks_uri in the authorization server's metadata")


def _token_header(token: bytes) -> dict[str, Any] | None:
    head = token.split(b".", 1)[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def granted_scopes(claims: dict[str, Any]) -> set[str]:
    """``scope`` (RFC 9068: space-separated) or ``scp`` (a list, as some servers send)."""
    scope, scp = claims.get("scope"), claims.get("scp")
    found = set(scope.split()) if isinstance(scope, str) else set()
    if isinstance(scp, list):
        found.update(str(s) for s in scp)
    return found


@dataclass
class OAuth2Gate:
    policy: OAuth2
    settings: Settings
    cache: JwksCache
    credential_headers: frozenset[bytes] = frozenset({b"authorization"})
    credential_query: str | None = None

    @classmethod
    def of(cls, policy: OAuth2, settings: Settings) -> OAuth2Gate:
        return cls(policy, settings, JwksCache(policy.authorization_server, settings))

    @property
    def audience(self) -> str:
        return self.policy.audience or self.policy.resource or ""

    def challenge(self, scope: Scope, error: str | None = None) -> str:
        """RFC 6750 + RFC 9728: where the caller finds which authorization server to ask."""
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "localhost")
        scheme = scope.get("scheme", "http")
        parts = [f'Bearer realm="{REALM}"', f'resource_metadata="{scheme}://{host}{METADATA_PATH}"']
        if error:
            parts.append(f'error="{error}"')
        if self.policy.scopes:
            parts.append(f'scope="{" ".join(self.policy.scopes)}"')
        return ", ".join(parts)

    def metadata(self) -> dict[str, Any]:
        """The RFC 9728 protected-resource metadata document of this adapter."""
        document: dict[str, Any] = {
            "resource": self.policy.resource or self.audience,
            "authorization_servers": [self.policy.authorization_server],
            "bearer_methods_supported": ["header"],
        }
        if self.policy.scopes:
            document["scopes_supported"] = list(self.policy.scopes)
        return document

    async def admit(self, scope: Scope) -> Refusal | None:
        token = authorization(scope, b"bearer")
        if token is None:
            return Refusal(401, "a bearer access token is required", self.challenge(scope))
        invalid = self.challenge(scope, "invalid_token")
        header = _token_header(token)
        if header is None or header.get("alg") not in ALGORITHMS:
            return Refusal(401, "the access token is not a JWT signed with an accepted algorithm", invalid)
        kid = header.get("kid")
        try:
            keys = await self.cache.key_set(kid if isinstance(kid, str) else None)
            claims = jwt.decode(token, keys, algorithms=[str(header["alg"])]).claims
            jwt.JWTClaimsRegistry(
                leeway=self.settings.token_leeway,
                iss={"essential": True, "value": self.policy.authorization_server},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(claims)
        except KeysUnavailable as exc:
            return Refusal(503, str(exc), None)
        except (JoseError, ValueError, TypeError):
            return Refusal(401, "the access token is not valid", invalid)
        missing = set(self.policy.scopes) - granted_scopes(claims)
        if missing:
            detail = f"the access token lacks the scope(s) {', '.join(sorted(missing))}"
            return Refusal(403, detail, self.challenge(scope, "insufficient_scope"))
        return None
