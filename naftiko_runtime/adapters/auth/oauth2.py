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

With ``tokenValidation: introspection`` the token is instead sent, on every request, to the
authorization server's RFC 7662 ``introspection_endpoint`` (from its metadata), authenticated with
the gateway's own client (``NAFTIKO_OAUTH_CLIENT_ID``/``_SECRET``, D91); it must come back
``active`` with the audience, and ``iss``, ``exp``, ``nbf`` and scopes are checked as for a JWT.

``joserfc`` (and the ``cryptography`` it loads, ~55 ms) is imported on the first token checked:
every serve imports this module for its types, few serve an ``oauth2`` adapter.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from starlette.types import Scope

from ...records import dataclass
from ...settings import Settings
from ...spec.model import OAuth2
from .gates import REALM, Refusal, authorization

if TYPE_CHECKING:
    from joserfc.jwk import KeySet
    from joserfc.jwt import JWTClaimsRegistry

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
    metadata: dict[str, Any] | None = None
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

    def client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.settings.total_timeout, connect=self.settings.connect_timeout)
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def _fetch(self) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        async with self.client() as client:
            try:
                reply = await client.get(await self.endpoint(client, "jwks_uri"))
                reply.raise_for_status()
                return KeySet.import_key_set(reply.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                reason = type(exc).__name__
                raise KeysUnavailable(f"the authorization server's keys are unavailable ({reason})") from exc

    async def endpoint(self, client: httpx.AsyncClient, name: str) -> str:
        """An endpoint named in the authorization server's metadata (fetched once)."""
        if self.metadata is None:
            for url in metadata_urls(self.issuer):
                reply = await client.get(url)
                if reply.status_code == 200 and isinstance(document := reply.json(), dict):
                    self.metadata = document
                    break
        uri = (self.metadata or {}).get(name)
        if not isinstance(uri, str):
            raise ValueError(f"no {name} in the authorization server's metadata")
        return uri

    async def introspect(self, token: bytes, client_id: str, secret: str) -> dict[str, Any]:
        """RFC 7662: the authorization server's verdict on ``token``, asked as this resource server."""
        async with self.client() as client:
            try:
                url = await self.endpoint(client, "introspection_endpoint")
                form = {"token": token.decode("latin-1"), "token_type_hint": "access_token"}
                reply = await client.post(url, data=form, auth=(client_id, secret))
                reply.raise_for_status()
                verdict = reply.json()
            except (httpx.HTTPError, ValueError) as exc:
                reason = type(exc).__name__
                raise KeysUnavailable(f"the token introspection endpoint is unavailable ({reason})") from exc
        if not isinstance(verdict, dict):
            raise KeysUnavailable("the token introspection endpoint answered something other than an object")
        return verdict


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
    client: tuple[str, str] | None = None
    """This resource server's own client id and secret, for introspection (D91: runtime settings)."""
    credential_headers: frozenset[bytes] = frozenset({b"authorization"})
    credential_query: str | None = None

    @classmethod
    def of(cls, policy: OAuth2, settings: Settings, client: tuple[str, str] | None = None) -> OAuth2Gate:
        return cls(policy, settings, JwksCache(policy.authorization_server, settings), client)

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

    async def _verified(self, token: bytes) -> dict[str, Any] | None:
        """A JWT's claims once its algorithm, signature and registered claims are checked."""
        header = _token_header(token)
        if header is None or header.get("alg") not in ALGORITHMS:
            return None
        from joserfc import jwt

        kid = header.get("kid")
        keys = await self.cache.key_set(kid if isinstance(kid, str) else None)
        claims: dict[str, Any] = jwt.decode(token, keys, algorithms=[str(header["alg"])]).claims
        self._registry(exp=True).validate(claims)
        return claims

    async def _introspected(self, token: bytes) -> dict[str, Any] | None:
        """The authorization server's claims for an active token (``iss`` when given, ``aud``
        always, ``exp``/``nbf`` when given, checked as for a JWT); ``None`` for an inactive one."""
        assert self.client is not None
        claims = await self.cache.introspect(token, *self.client)
        if claims.get("active") is not True:
            return None
        claims.setdefault("iss", self.policy.authorization_server)
        self._registry(exp=False).validate(claims)
        return claims

    def _registry(self, *, exp: bool) -> JWTClaimsRegistry:
        from joserfc.jwt import JWTClaimsRegistry

        return JWTClaimsRegistry(
            leeway=self.settings.token_leeway,
            iss={"essential": True, "value": self.policy.authorization_server},
            aud={"essential": True, "value": self.audience},
            exp={"essential": exp},
        )

    async def admit(self, scope: Scope) -> Refusal | None:
        from joserfc.errors import JoseError

        token = authorization(scope, b"bearer")
        if token is None:
            return Refusal(401, "a bearer access token is required", self.challenge(scope))
        invalid = self.challenge(scope, "invalid_token")
        try:
            claims = await (self._introspected(token) if self.client else self._verified(token))
        except KeysUnavailable as exc:
            return Refusal(503, str(exc), None)
        except (JoseError, ValueError, TypeError):
            claims = None
        if claims is None:
            return Refusal(401, "the access token is not valid", invalid)
        missing = set(self.policy.scopes) - granted_scopes(claims)
        if missing:
            detail = f"the access token lacks the scope(s) {', '.join(sorted(missing))}"
            return Refusal(403, detail, self.challenge(scope, "insufficient_scope"))
        return None
