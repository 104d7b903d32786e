"""Operation-level request bodies (specification section 3.10), compiled once at load time.

The ``body:`` template is walked once: every string holding ``{{...}}`` becomes a parsed
``Template``, everything else a constant, so that a request only renders values and encodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..records import dataclass
from ..spec.expressions import Lookup, Template
from .codecs import ENCODERS, TEMPLATE_BODY, Encoder

Render = Callable[[Lookup], Any]


class UnknownBodyType(ValueError):
    """A ``body.type`` with no encoder: refused at load time by name (D3)."""


def _compile(data: Any) -> Render:
    """A string that is exactly one reference keeps the value's type; other templates render as text."""
    if isinstance(data, str) and "{{" in data:
        template = Template.parse(data)
        return lambda lookup: template.render(lookup)[1]
    if isinstance(data, dict):
        fields = tuple((key, _compile(value)) for key, value in data.items())
        return lambda lookup: {key: render(lookup) for key, render in fields}
    if isinstance(data, list):
        items = tuple(_compile(value) for value in data)
        return lambda lookup: [render(lookup) for render in items]
    return lambda lookup: data


@dataclass(frozen=True)
class BodyTemplate:
    render: Render
    encoder: Encoder

    def encode(self, lookup: Lookup) -> tuple[bytes, str]:
        return self.encoder.encode_body(self.render(lookup))


def compile_body(template: Any) -> BodyTemplate:
    """``body: "..."`` (JSON text) or ``body: {type, data}`` -> a ready-to-render body."""
    if not isinstance(template, dict):
        return BodyTemplate(_compile(template), TEMPLATE_BODY)
    kind = template.get("type", "json")
    encoder = ENCODERS.get(kind) if isinstance(kind, str) else None
    if encoder is None:
        raise UnknownBodyType(
            f"request body type '{kind}' is not implemented by this runtime (known: {', '.join(ENCODERS)})"
        )
    return BodyTemplate(_compile(template.get("data")), encoder)
