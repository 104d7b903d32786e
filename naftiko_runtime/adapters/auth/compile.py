"""The model's exposed ``authentication`` -> a ``Gate``, at load (D13, D90).

Every secret is rendered from bind variables now. One that is unset or renders empty is a
positioned error: an adapter that asks for credentials never serves without something to check
them against, and never takes the literal text ``{{X}}`` as the secret.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.credentials import render_from_binds
from ...settings import OAUTH_CLIENT_ENV, Settings
from ...spec.binds import BindValues
from ...spec.diagnostics import Finding
from ...spec.model import Authentication
from .digest import DigestGate
from .gates import ApiKeyGate, BasicGate, BearerGate, Gate
from .oauth2 import OAuth2Gate

SECRET_FIELDS = {"bearer": ("token",), "apikey": ("value",), "basic": ("username", "password")}
SECRET_FIELDS["digest"] = SECRET_FIELDS["basic"]


def compile_gate(
    auth: Authentication, binds: BindValues, settings: Settings, environ: Mapping[str, str]
) -> tuple[Gate | None, list[Finding]]:
    if auth.oauth2 is not None:
        if auth.oauth2.token_validation != "introspection":
            return OAuth2Gate.of(auth.oauth2, settings), []
        client = settings.oauth_client(environ)
        if client is None:
            names = " and ".join(OAUTH_CLIENT_ENV)
            message = f"oauth2 token introspection needs this gateway's OAuth client: set {names} (D91)"
            return None, [Finding.error(auth.at + ("tokenValidation",), message)]
        return OAuth2Gate.of(auth.oauth2, settings, client), []
    values: dict[str, str] = {}
    findings = []
    for name in SECRET_FIELDS[auth.type]:
        template = getattr(auth, name)
        value = render_from_binds(template, binds)
        if not value:
            findings.append(
                Finding.error(
                    auth.at + (name,),
                    f"exposed {auth.type} authentication: '{name}' ({template}) is unset or empty; "
                    "the adapter would have nothing to check callers against (D13, D90)",
                )
            )
        else:
            values[name] = value
    if findings:
        return None, findings
    if auth.type == "bearer":
        return BearerGate(values["token"].encode()), []
    if auth.type == "apikey":
        return ApiKeyGate.of(auth.key or "", values["value"], auth.placement), []
    username, password = values["username"].encode(), values["password"].encode()
    return (DigestGate.of(username, password) if auth.type == "digest" else BasicGate(username, password)), []
