"""Consumed-side authentication, resolved once at start-up (CONTRACT D13, D29, D33).

The secret is rendered from bind variables when the plan is compiled; a request only copies
ready-made header or query pairs. If the secret is unset the block counts as absent (D13), so
the caller's own ``Authorization`` mapped through ``with`` is passed on instead (D33).

A namespace with a client credentials grant gets a ``TokenGrant`` instead, declared in the runtime
configuration (D91) or by the capability's ``x-naftiko-oauth2-client-credentials``: its token
request is built here once, and ``tokens`` fetches (and caches) the bearer token it yields.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import field
from urllib.parse import quote_plus

import httpx

from ..records import dataclass
from ..settings import REFRESH_LEEWAY, ClientCredentialsPolicy
from ..spec.binds import BindValues
from ..spec.expressions import Template
from ..spec.model import ClientCredentials


@dataclass(frozen=True)
class TokenGrant:
    """One namespace's client credentials grant (RFC 6749 §4.4), ready to send: the token
    endpoint, the form, and the client's Basic header when it authenticates so (§2.3.1). Equal
    grants share one cached token, whatever namespace or reload they come from."""

    namespace: str
    token_url: str
    form: tuple[tuple[str, str], ...]
    basic: str | None
    """``Authorization`` for ``client_secret_basic``; ``None`` when the form carries the secret."""
    secrets: tuple[str, ...]
    refresh_leeway: float = REFRESH_LEEWAY


@dataclass(frozen=True)
class Credentials:
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    challenge: Callable[[], httpx.Auth] | None = None
    """A challenge-response flow (digest) the upstream client runs for each request; ``None``
    when the headers and query above are all there is to send."""
    grant: TokenGrant | None = None
    """The bearer token comes from a token endpoint (``tokens``), applied last as ``headers`` are."""
    header_names: frozenset[str] = field(default_factory=frozenset)
    """Lower-case names of the headers the block fills, set or not: never taken from agents (D29)."""
    secrets: tuple[str, ...] = ()

    def httpx_auth(self) -> httpx.Auth | None:
        return self.challenge() if self.challenge is not None else None


NONE = Credentials()
AUTHORIZATION = frozenset({"authorization"})


def render_from_binds(template: str | None, binds: BindValues) -> str | None:
    """A text rendered from bind variables only (secrets, base URIs, constant input values);
    ``None`` when any variable is unset or is not a bind variable."""
    if template is None:
        return None
    parsed = Template.parse(template)
    values = []
    for part in parsed.parts:
        if isinstance(part, str):
            values.append(part)
            continue
        is_bind, value = binds.lookup(part)
        if not is_bind or value is None:
            return None
        values.append(value)
    return "".join(values)


def compile_grant(namespace: str, spec: ClientCredentials, binds: BindValues) -> Credentials:
    """``x-naftiko-oauth2-client-credentials``, its id and secret rendered from binds. Unset, the
    block counts as absent like any consumed authentication (D13, D33); the Authorization header
    is still the gateway's own (D29)."""
    client_id, secret = render_from_binds(spec.client_id, binds), render_from_binds(spec.client_secret, binds)
    return _grant(namespace, spec, client_id, secret, REFRESH_LEEWAY)


def compile_configured_grant(
    namespace: str, policy: ClientCredentialsPolicy, environ: Mapping[str, str]
) -> tuple[Credentials, tuple[str, ...]]:
    """The runtime configuration's grant (D91), its id and secret read from the environment now,
    at load time, and the variables that are unset: then the grant counts as absent, as an unset
    bind makes a block absent (D13)."""
    names = tuple(name for name in (policy.client_id_env, policy.client_secret_env) if name)
    unset = tuple(name for name in names if not environ.get(name))
    client_id = policy.client_id or environ.get(policy.client_id_env or "")
    secret = environ.get(policy.client_secret_env)
    return _grant(namespace, policy, client_id, secret, policy.refresh_leeway), unset


def _grant(
    namespace: str,
    spec: ClientCredentials | ClientCredentialsPolicy,
    client_id: str | None,
    secret: str | None,
    leeway: float,
) -> Credentials:
    """The token request of either declaration, built once: a form, the client in Basic (§2.3.1)
    or in the form (``body``)."""
    if not client_id or not secret:
        return Credentials(header_names=AUTHORIZATION)
    form = [("grant_type", "client_credentials")]
    form += [(key, value) for key, value in (("scope", spec.scope), ("audience", spec.audience)) if value]
    secrets: tuple[str, ...] = (secret, quote_plus(secret))  # as sent, and as it travels in a form
    basic = None
    if spec.client_authentication == "body":
        form += [("client_id", client_id), ("client_secret", secret)]
    else:
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"  # §2.3.1: form-encoded, then Basic
        encoded = base64.b64encode(pair.encode()).decode()
        basic, secrets = f"Basic {encoded}", (*secrets, encoded)
    grant = TokenGrant(namespace, spec.token_url, tuple(form), basic, secrets, leeway)
    return Credentials(header_names=AUTHORIZATION, grant=grant, secrets=secrets)
