"""Bearer tokens from a token endpoint: the OAuth 2.0 client credentials grant (RFC 6749 §4.4) of
a consumed namespace, declared in the runtime configuration (D91) or by the capability's
``x-naftiko-oauth2-client-credentials``.

A ``TokenCache`` per grant fetches the token when a call first needs it and keeps it until shortly
before it expires. Callers arriving while a fetch is under way wait for that same fetch: one
request to the token endpoint however many calls want a token (no stampede when a token expires
under load). The token endpoint's refusal is the gateway's misconfiguration, not the caller's: a
502 naming the namespace and the endpoint's ``error`` code (§5.2), never the secret; no answer in
time is a 504 (D53, D55).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from ..records import dataclass
from ..settings import Timeouts
from .credentials import TokenGrant
from .problems import Problem
from .redaction import redact_text, secret_forms

if TYPE_CHECKING:
    from .shared_tokens import SharedTokens

MAX_TOKEN_REPLY = 64 * 1024
"""A token reply is a few hundred bytes; more is not a token endpoint."""
MAX_DETAIL = 200
"""How much of the endpoint's ``error_description`` a problem repeats."""
KEPT_TOKENS = 4
"""Recent tokens still redacted from replies: a call sent just before a refresh may be echoed after it."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float
    """Event-loop time after which no new call uses it (``inf``: until an upstream refuses it)."""

    @property
    def header(self) -> str:
        return f"Bearer {self.value}"


class TokenCache:
    """The token of one grant: fetched on demand, shared, refreshed before expiry or after a 401."""

    def __init__(
        self,
        grant: TokenGrant,
        client: httpx.AsyncClient,
        timeouts: Timeouts,
        on_token: Callable[[str], None],
        shared: SharedTokens | None = None,
    ):
        self.grant = grant
        self.shared = shared
        """The fleet's tokens (``--state``); ``None``: this process fetches its own."""
        self.client = client
        self.timeouts = timeouts
        self.on_token = on_token
        """Told each new token as it arrives, so that logs can scrub it (D55)."""
        self._token: Token | None = None
        self._pending: asyncio.Future[Token] | None = None
        self._recent: tuple[str, ...] = ()
        self._refused: tuple[str, ...] = ()
        """Recent tokens an upstream refused: one still in the shared store is not taken again."""
        self.forms: tuple[bytes, ...] = ()
        """The recent tokens as they may appear in an upstream reply, for redaction (D56)."""
        self._merged: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}

    async def get(self) -> Token:
        """A token fresh enough for one more call: the cached one, or the one being fetched."""
        token = self._token
        if token is not None and asyncio.get_running_loop().time() < token.expires_at:
            return token
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._fetch())
            self._pending.add_done_callback(self._settled)
        # Shielded: a caller that gives up (its own timeout, a client gone) leaves the fetch to the others.
        return await asyncio.shield(self._pending)

    def forms_with(self, static: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """``static`` (a call's own secret forms) and the recent tokens', longest first: merged
        once per call and token, not once per request."""
        merged = self._merged.get(static)
        if merged is None:
            merged = self._merged[static] = tuple(sorted({*static, *self.forms}, key=len, reverse=True))
        return merged

    def invalidate(self, token: Token) -> None:
        """The upstream refused ``token``: the next ``get`` fetches anew, unless another call
        already replaced it (one refresh for a burst of 401s)."""
        if self._token is token:
            self._token = None
            self._refused = (token.value, *self._refused)[:KEPT_TOKENS]

    def _settled(self, future: asyncio.Future[Token]) -> None:
        self._pending = None
        if not future.cancelled() and future.exception() is None:
            self._keep(future.result())

    def _keep(self, token: Token) -> None:
        self._token = token
        self._recent = (token.value, *self._recent)[:KEPT_TOKENS]
        self.forms = secret_forms(self._recent)
        self._merged = {}
        self.on_token(token.value)

    async def _fetch(self) -> Token:
        if self.shared is None:
            value, usable = await self._from_endpoint()
        else:
            value, usable = await self.shared.obtain(self.grant, self._from_endpoint, self._refused)
        return Token(value, asyncio.get_running_loop().time() + usable)

    async def _from_endpoint(self) -> tuple[str, float]:
        """A new token from the endpoint, and the seconds it may be used for new calls."""
        where = f"the token endpoint of consumed namespace '{self.grant.namespace}' ({self.grant.token_url})"
        try:
            async with asyncio.timeout(self.timeouts.total):
                status, body = await self._post()
        except TimeoutError as exc:
            raise Problem(504, f"{where} did not answer within {self.timeouts.total or 0:g} s") from exc
        except httpx.TimeoutException as exc:
            raise Problem(504, f"{where} timed out ({type(exc).__name__})") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise Problem(502, f"{where} could not be reached or broke off: {type(exc).__name__}") from exc
        value, lifetime = parse_token_reply(status, body, where, self.grant.secrets)
        return value, usable_for(lifetime, self.grant.refresh_leeway)

    async def _post(self) -> tuple[int, bytes]:
        """One token request, its answer read within ``MAX_TOKEN_REPLY``; never redirected (the
        client secret must not follow a redirect), never with cookies."""
        headers = {"Accept": "application/json"}
        if self.grant.basic is not None:
            headers["Authorization"] = self.grant.basic
        timeout = httpx.Timeout(self.timeouts.total, connect=self.timeouts.connect, read=self.timeouts.read)
        request = self.client.build_request(
            "POST", self.grant.token_url, data=dict(self.grant.form), headers=headers, timeout=timeout
        )
        response = await self.client.send(request, stream=True)
        try:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_TOKEN_REPLY:
                    break
            return response.status_code, body
        finally:
            await response.aclose()


def usable_for(lifetime: float, leeway: float) -> float:
    """How long a token is used for new calls: its lifetime less the leeway, or less a tenth of it
    if that is longer (a long-lived token is replaced well ahead). A token whose lifetime is
    shorter than that still serves the calls that waited for it."""
    return lifetime if lifetime == math.inf else lifetime - max(leeway, lifetime / 10)


def parse_token_reply(status: int, body: bytes, where: str, secrets: tuple[str, ...]) -> tuple[str, float]:
    """The access token and its lifetime in seconds (``inf`` without ``expires_in``) of a token
    endpoint's answer (RFC 6749 §5.1), or the 502 that says why there is none (§5.2)."""
    document = _json_object(body)
    if not 200 <= status < 300:
        raise Problem(502, f"{where} refused the client credentials grant: {_refusal(status, document, secrets)}")
    if document is None:
        raise Problem(502, f"{where} answered {status} without a JSON object")
    token, kind = document.get("access_token"), document.get("token_type")
    if not isinstance(token, str) or not token or not all("\x21" <= c <= "\x7e" for c in token):
        raise Problem(502, f"{where} answered without a usable access_token (RFC 6749 §5.1)")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        shown = redact_text(str(kind)[:40], secrets + (token,))
        raise Problem(502, f"{where} answered token_type '{shown}'; only Bearer tokens can be sent (RFC 6750)")
    return token, _lifetime(document.get("expires_in"), where)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _refusal(status: int, document: dict[str, Any] | None, secrets: tuple[str, ...]) -> str:
    """``HTTP 400, error 'invalid_client': <description>``, the endpoint's own words redacted."""
    error = document.get("error") if document else None
    if not isinstance(error, str):
        return f"HTTP {status}, no OAuth error code"
    described = document.get("error_description") if document else None
    text = f"HTTP {status}, error '{error[:MAX_DETAIL]}'"
    if isinstance(described, str) and described:
        text += f": {described[:MAX_DETAIL]}"
    return redact_text(text, secrets)


def _lifetime(expires_in: Any, where: str) -> float:
    """``expires_in`` in seconds; absent, the token is kept until an upstream refuses it."""
    if expires_in is None:
        return math.inf
    if isinstance(expires_in, str) and expires_in.isdigit():  # some endpoints send a string
        expires_in = int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or not 0 < expires_in < math.inf:
        raise Problem(502, f"{where} answered expires_in {str(expires_in)[:40]!r}, not a positive number of seconds")
    return float(expires_in)
