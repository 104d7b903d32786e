"""Consumed-side authentication, resolved once at start-up (CONTRACT D13, D29, D33).

The secret is rendered from bind variables when the plan is compiled; a request only copies
ready-made header or query pairs. If the secret is unset the block counts as absent (D13), so
the caller's own ``Authorization`` mapped through ``with`` is passed on instead (D33).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import httpx

from ..spec.binds import BindValues
from ..spec.expressions import Template
from ..spec.model import Authentication


@dataclass(frozen=True)
class Credentials:
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    digest: tuple[str, str] | None = None
    header_names: frozenset[str] = field(default_factory=frozenset)
    """Lower-case names of the headers the block fills, set or not: never taken from agents (D29)."""
    secrets: tuple[str, ...] = ()

    def httpx_auth(self) -> httpx.Auth | None:
        return httpx.DigestAuth(*self.digest) if self.digest else None


NONE = Credentials()


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


def compile_credentials(auth: Authentication | None, binds: BindValues) -> Credentials:
    if auth is None:
        return NONE
    if auth.type == "apikey":
        key = auth.key or ""
        names = frozenset({key.lower()}) if auth.placement == "header" else frozenset()
        value = render_from_binds(auth.value, binds)
        if value is None:
            return Credentials(header_names=names)
        if auth.placement == "query":
            return Credentials(query=((key, value),), secrets=(value,))
        return Credentials(headers=((key, value),), header_names=names, secrets=(value,))
    names = frozenset({"authorization"})
    if auth.type == "bearer":
        token = render_from_binds(auth.token, binds)
        return (
            Credentials(headers=(("Authorization", f"Bearer {token}"),), header_names=names, secrets=(token,))
            if token
            else Credentials(header_names=names)
        )
    username, password = render_from_binds(auth.username, binds), render_from_binds(auth.password, binds)
    if username is None or password is None:
        return Credentials(header_names=names)
    secrets = tuple(s for s in (password,) if s)
    if auth.type == "digest":
        return Credentials(digest=(username, password), header_names=names, secrets=secrets)
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Credentials(
        headers=(("Authorization", f"Basic {encoded}"),), header_names=names, secrets=secrets + (encoded,)
    )
