"""Exposed HTTP Digest (RFC 7616, ``qop=auth``, SHA-256), without server-side state.

A nonce is its own issue time plus an HMAC of it under a key drawn at start-up, so any worker of
this process checks it without a session table, and a nonce older than ``NONCE_SECONDS`` is
answered with a fresh challenge (``stale=true``). The password never crosses the wire; the
expected response is recomputed and compared in constant time. Without a nonce-count table a
captured request can be replayed within the nonce's lifetime: that is the price of statelessness,
as with a bearer token (use TLS in front, SECURITY.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from starlette.types import Scope

from ...records import dataclass
from .gates import REALM, Refusal, authorization

NONCE_SECONDS = 300
PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class DigestGate:
    username: bytes
    password: bytes
    key: bytes
    credential_headers: frozenset[bytes] = frozenset({b"authorization"})
    credential_query: str | None = None

    @classmethod
    def of(cls, username: bytes, password: bytes) -> DigestGate:
        return cls(username, password, secrets.token_bytes(32))

    def nonce(self, issued: int) -> str:
        stamp = str(issued).encode()
        mac = hmac.new(self.key, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + b":" + mac).decode().rstrip("=")

    def fresh(self, nonce: str) -> bool | None:
        """``True`` if issued here and young, ``False`` if issued here but old, ``None`` if forged."""
        try:
            stamp, _, _ = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)).partition(b":")
            issued = int(stamp)
        except ValueError:
            return None
        if not hmac.compare_digest(self.nonce(issued), nonce):
            return None
        return time.time() - issued <= NONCE_SECONDS

    def challenge(self, stale: bool = False) -> str:
        nonce = self.nonce(int(time.time()))
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{REALM}", qop="auth", algorithm=SHA-256, nonce="{nonce}"{extra}'

    async def admit(self, scope: Scope) -> Refusal | None:
        given = authorization(scope, b"digest")
        if given is None:
            return Refusal(401, "digest credentials are required", self.challenge())
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in PARAM.finditer(given.decode("latin-1"))}
        target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        needed = ("username", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(name not in params for name in needed) or params["qop"] != "auth":
            return Refusal(401, "the digest credentials are malformed", self.challenge())
        if params.get("algorithm", "SHA-256").upper() != "SHA-256" or params["uri"] != target:
            return Refusal(401, "the digest credentials do not match this request", self.challenge())
        fresh = self.fresh(params["nonce"])
        if fresh is None:
            return Refusal(401, "the digest nonce was not issued here", self.challenge())
        user = params["username"].encode("latin-1")
        a1 = hashlib.sha256(b":".join((user, REALM.encode(), self.password))).hexdigest()
        a2 = _h(f"{scope['method']}:{params['uri']}")
        expected = _h(f"{a1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{a2}")
        user_ok = hmac.compare_digest(user, self.username)
        response_ok = hmac.compare_digest(expected.encode(), params["response"].encode("latin-1"))
        if not (user_ok and response_ok):
            return Refusal(401, "the username or password is not valid", self.challenge())
        if not fresh:
            return Refusal(401, "the digest nonce has expired", self.challenge(stale=True))
        return None
