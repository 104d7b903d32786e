"""The shared-secret schemes of an exposed adapter: bearer, apikey (header or query) and basic.

Every comparison is ``hmac.compare_digest`` over bytes, so the time a refusal takes does not say
how much of a guess was right; username and password are both compared, whichever is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.types import Scope

from ...records import dataclass

REALM = "naftiko"


@dataclass(frozen=True)
class Refusal:
    """Why a request is not let in: 401 (no or bad credentials) or 403 (valid, not enough scope)."""

    status: int
    detail: str
    challenge: str | None
    """The ``WWW-Authenticate`` value that tells the caller how to authenticate."""


class Gate(Protocol):
    @property
    def credential_headers(self) -> frozenset[bytes]:
        """Lower-case header names holding the caller's credential: removed before the adapter runs."""

    @property
    def credential_query(self) -> str | None:
        """A query parameter holding it (apikey in the query), removed likewise."""

    async def admit(self, scope: Scope) -> Refusal | None: ...


def header(scope: Scope, name: bytes) -> bytes | None:
    """The value of a request header when it appears exactly once (two are ambiguous: refused)."""
    values = [value for key, value in scope["headers"] if key == name]
    return values[0] if len(values) == 1 else None


def authorization(scope: Scope, scheme: bytes) -> bytes | None:
    """The credentials after ``<scheme> `` in ``Authorization`` (scheme case-insensitive)."""
    value = header(scope, b"authorization")
    if value is None:
        return None
    name, _, rest = value.partition(b" ")
    return rest.strip() if name.lower() == scheme and rest.strip() else None


@dataclass(frozen=True)
class BearerGate:
    token: bytes
    credential_headers: frozenset[bytes] = frozenset({b"authorization"})
    credential_query: str | None = None

    async def admit(self, scope: Scope) -> Refusal | None:
        given = authorization(scope, b"bearer")
        if given is None:
            return Refusal(401, "a bearer token is required", f'Bearer realm="{REALM}"')
        if not hmac.compare_digest(given, self.token):
            return Refusal(401, "the bearer token is not valid", f'Bearer realm="{REALM}", error="invalid_token"')
        return None


@dataclass(frozen=True)
class ApiKeyGate:
    name: str
    value: bytes
    credential_headers: frozenset[bytes]
    credential_query: str | None

    @classmethod
    def of(cls, name: str, value: str, placement: str) -> ApiKeyGate:
        if placement == "query":
            return cls(name, value.encode(), frozenset(), name)
        return cls(name, value.encode(), frozenset({name.lower().encode("latin-1")}), None)

    async def admit(self, scope: Scope) -> Refusal | None:
        if self.credential_query is None:
            given = header(scope, self.name.lower().encode("latin-1"))
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            found = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == self.name]
            given = found[0].encode("latin-1") if len(found) == 1 else None
        where = "query parameter" if self.credential_query else "header"
        challenge = f'ApiKey realm="{REALM}", {where}="{self.name}"'
        if given is None:
            return Refusal(401, f"the API key ({where} {self.name}) is required", challenge)
        if not hmac.compare_digest(given, self.value):
            return Refusal(401, "the API key is not valid", challenge)
        return None


@dataclass(frozen=True)
class BasicGate:
    username: bytes
    password: bytes
    credential_headers: frozenset[bytes] = frozenset({b"authorization"})
    credential_query: str | None = None

    async def admit(self, scope: Scope) -> Refusal | None:
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        given = authorization(scope, b"basic")
        if given is None:
            return Refusal(401, "a username and password are required", challenge)
        try:
            user, colon, password = base64.b64decode(given, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return Refusal(401, "the basic credentials are malformed", challenge)
        user_ok = hmac.compare_digest(user, self.username)
        password_ok = hmac.compare_digest(password, self.password)
        if not (colon and user_ok and password_ok):
            return Refusal(401, "the username or password is not valid", challenge)
        return None
