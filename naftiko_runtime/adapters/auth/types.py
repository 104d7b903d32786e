"""Exposed authentication types, keyed by the spec's ``authentication.type`` on ``exposes``: what
a gateway checks a caller for (D90; issue 19, item 3). A registry of its own, apart from what the
runtime sends upstream (``core.consumed_auth``): ``oauth2`` is only checked, never sent, and a
type a plugin adds on one side is not thereby valid on the other.

A type turns the model's block, its secrets already rendered from binds (``compile``), into a
``Gate`` at load. Adding a type is a module with a class following ``ExposedAuthType`` and one
``register_exposed_auth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ...records import dataclass
from ...settings import OAUTH_CLIENT_ENV, Settings
from ...spec import plugged
from ...spec.diagnostics import Finding
from ...spec.model import Authentication
from ...spec.shape_kinds import EXPOSED_AUTHENTICATION
from ...spec.shapes import Shape
from .digest import DigestGate
from .gates import ApiKeyGate, BasicGate, BearerGate, Gate
from .oauth2 import OAuth2Gate


class ExposedAuthType(Protocol):
    @property
    def type(self) -> str:
        """The spec's ``authentication.type``."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """The block's fields rendered from bind variables at load; each must be set and not
        empty, or the adapter would have nothing to check callers against (D13, D90)."""

    @property
    def shape(self) -> Shape | None:
        """The block's shape for the dialects' checks; ``None`` for the specification's own types."""

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        """The gate every request to the adapter passes, or the positioned reasons there is none."""


EXPOSED_AUTH: dict[str, ExposedAuthType] = {}


def register_exposed_auth(kind: ExposedAuthType) -> None:
    EXPOSED_AUTH[kind.type] = kind
    plugged.add_auth(plugged.EXPOSED_AUTH, EXPOSED_AUTHENTICATION, kind.type, kind.secrets, kind.shape)


class _Bearer:
    type = "bearer"
    secrets = ("token",)
    shape = None

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        return BearerGate(secrets["token"].encode()), []


class _ApiKey:
    type = "apikey"
    secrets = ("value",)
    shape = None

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        if not auth.key:
            return None, [Finding.error(auth.at, "exposed apikey authentication needs 'key': where the key is sent")]
        return ApiKeyGate.of(auth.key, secrets["value"], auth.placement), []


@dataclass(frozen=True)
class _Password:
    """basic, or (``challenged``) digest: the password is compared, or answers a challenge."""

    type: str
    challenged: bool
    secrets: tuple[str, ...] = ("username", "password")
    shape: None = None

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        username, password = secrets["username"].encode(), secrets["password"].encode()
        return (DigestGate.of(username, password) if self.challenged else BasicGate(username, password)), []


class _OAuth2:
    """An OAuth 2.1 resource server: tokens checked against the issuer's JWKS or introspected (D91)."""

    type = "oauth2"
    secrets = ()
    shape = None

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        assert auth.oauth2 is not None  # the builder reads every oauth2 block into it
        if auth.oauth2.token_validation != "introspection":
            return OAuth2Gate.of(auth.oauth2, settings), []
        client = settings.oauth_client(environ)
        if client is None:
            names = " and ".join(OAUTH_CLIENT_ENV)
            message = f"oauth2 token introspection needs this gateway's OAuth client: set {names} (D91)"
            return None, [Finding.error(auth.at + ("tokenValidation",), message)]
        return OAuth2Gate.of(auth.oauth2, settings, client), []


for _kind in (
    _Bearer(),
    _ApiKey(),
    _Password("basic", challenged=False),
    _Password("digest", challenged=True),
    _OAuth2(),
):
    register_exposed_auth(_kind)
