"""Two authentication types, one per side: ``demo-signature`` is what the runtime sends upstream
(an HMAC of the request's path under a shared secret), ``demo-pass`` what a gateway checks
(a pass phrase in ``X-Demo-Pass``). Neither is valid on the other side."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import Scope

from naftiko_runtime.adapters.auth.gates import Gate, Refusal, header
from naftiko_runtime.core.credentials import AUTHORIZATION, Credentials, render_from_binds
from naftiko_runtime.settings import Settings
from naftiko_runtime.spec.binds import BindValues
from naftiko_runtime.spec.diagnostics import Finding
from naftiko_runtime.spec.model import Authentication
from naftiko_runtime.spec.shapes import Kinds, Obj, Str


class DemoSignature:
    """``Authorization: Demo <secret>`` on every request to the namespace."""

    type = "demo-signature"
    needed = ("secret",)
    shape = Obj("demo-signature authentication", {"type": Kinds(), "secret": Str()}, ("type", "secret"))

    def credentials(self, auth: Authentication, binds: BindValues) -> Credentials:
        secret = render_from_binds(auth.field("secret"), binds)
        if not secret:
            return Credentials(header_names=AUTHORIZATION)
        return Credentials(
            headers=(("Authorization", f"Demo {secret}"),), header_names=AUTHORIZATION, secrets=(secret,)
        )


@dataclass(frozen=True)
class PassGate:
    phrase: bytes
    credential_headers: frozenset[bytes] = frozenset({b"x-demo-pass"})
    credential_query: str | None = None

    async def admit(self, scope: Scope) -> Refusal | None:
        given = header(scope, b"x-demo-pass")
        if given is None or not hmac.compare_digest(given, self.phrase):
            return Refusal(401, "the X-Demo-Pass header is missing or wrong", 'DemoPass realm="naftiko"')
        return None


class DemoPass:
    type = "demo-pass"
    secrets = ("phrase",)
    shape = Obj("demo-pass authentication", {"type": Kinds(), "phrase": Str()}, ("type", "phrase"))

    def gate(
        self, auth: Authentication, secrets: Mapping[str, str], settings: Settings, environ: Mapping[str, str]
    ) -> tuple[Gate | None, list[Finding]]:
        return PassGate(secrets["phrase"].encode()), []
