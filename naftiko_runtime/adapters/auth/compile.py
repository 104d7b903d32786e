"""The model's exposed ``authentication`` -> a ``Gate``, at load (D13, D90).

Every secret is rendered from bind variables now. One that is unset or renders empty is a
positioned error: an adapter that asks for credentials never serves without something to check
them against, and never takes the literal text ``{{X}}`` as the secret. The type's own ``gate``
(``types``) does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.credentials import render_from_binds
from ...settings import Settings
from ...spec.binds import BindValues
from ...spec.diagnostics import Finding
from ...spec.model import Authentication
from .gates import Gate
from .types import EXPOSED_AUTH


def compile_gate(
    auth: Authentication, binds: BindValues, settings: Settings, environ: Mapping[str, str]
) -> tuple[Gate | None, list[Finding]]:
    kind = EXPOSED_AUTH[auth.type]  # the builder let through only registered types (plugged.EXPOSED_AUTH)
    values: dict[str, str] = {}
    findings = []
    for name in kind.secrets:
        template = auth.field(name)
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
    return kind.gate(auth, values, settings, environ)
