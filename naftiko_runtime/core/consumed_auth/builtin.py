"""The specification's consumed authentication types: bearer, apikey, basic and digest."""

from __future__ import annotations

import base64
from functools import partial

import httpx

from ...records import dataclass
from ...spec.binds import BindValues
from ...spec.model import Authentication
from ..credentials import AUTHORIZATION, Credentials, render_from_binds
from .kind import register_consumed_auth


class Bearer:
    type = "bearer"
    needed = ("token",)
    shape = None

    def credentials(self, auth: Authentication, binds: BindValues) -> Credentials:
        token = render_from_binds(auth.token, binds)
        if not token:
            return Credentials(header_names=AUTHORIZATION)
        return Credentials(
            headers=(("Authorization", f"Bearer {token}"),), header_names=AUTHORIZATION, secrets=(token,)
        )


class ApiKey:
    type = "apikey"
    needed = ("key", "value")
    shape = None

    def credentials(self, auth: Authentication, binds: BindValues) -> Credentials:
        key = auth.key or ""
        names = frozenset({key.lower()}) if auth.placement == "header" else frozenset()
        value = render_from_binds(auth.value, binds)
        if value is None:
            return Credentials(header_names=names)
        if auth.placement == "query":
            return Credentials(query=((key, value),), secrets=(value,))
        return Credentials(headers=((key, value),), header_names=names, secrets=(value,))


@dataclass(frozen=True)
class Basic:
    type: str = "basic"
    needed: tuple[str, ...] = ("username", "password")
    shape: None = None
    challenged: bool = False
    """Digest: the password answers the upstream's challenge (RFC 7616) and never travels."""

    def credentials(self, auth: Authentication, binds: BindValues) -> Credentials:
        username, password = render_from_binds(auth.username, binds), render_from_binds(auth.password, binds)
        if username is None or password is None:
            return Credentials(header_names=AUTHORIZATION)
        secrets = tuple(s for s in (password,) if s)
        if self.challenged:
            challenge = partial(httpx.DigestAuth, username, password)
            return Credentials(challenge=challenge, header_names=AUTHORIZATION, secrets=secrets)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        return Credentials(
            headers=(("Authorization", f"Basic {encoded}"),), header_names=AUTHORIZATION, secrets=secrets + (encoded,)
        )


for _kind in (Basic(), Basic("digest", challenged=True), Bearer(), ApiKey()):
    register_consumed_auth(_kind)
