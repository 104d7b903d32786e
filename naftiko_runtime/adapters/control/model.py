"""The ``control`` entry as the runtime acts on it: which endpoint groups are on, and observability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter


@dataclass(frozen=True)
class Scripting:
    """``management.scripting``: the governance of script steps, with the schema's defaults. Read
    into the model (issue 19, item 4); what the script steps do with it is the executor's."""

    enabled: bool = True
    default_location: str | None = None
    default_language: str | None = None
    timeout_ms: int = 60000
    statement_limit: int | None = None
    allowed_languages: tuple[str, ...] | None = None
    """``None``: every language the runtime runs."""


@dataclass(frozen=True)
class Management:
    """``management``: the schema's defaults (health on; info, validate, reload, logs off)."""

    health: bool = True
    info: bool = False
    validate: bool = False
    reload: bool = False
    logs: bool = False
    scripting: Scripting | None = None


@dataclass(frozen=True)
class Observability:
    """``observability``: Prometheus ``/metrics`` (on by default) and traces (sampled, exported by
    OTLP only when ``exporters.otlp`` names an endpoint)."""

    enabled: bool = True
    metrics: bool = True
    sampling: float = 1.0
    otlp_endpoint: str | None = None
    propagation: str = "w3c"
    """The trace context format of outgoing calls: ``w3c`` (traceparent) or ``b3``."""


PROPAGATIONS = ("w3c", "b3")


@dataclass(frozen=True)
class ControlAdapter(ExposedAdapter):
    management: Management = field(default_factory=Management)
    observability: Observability = field(default_factory=Observability)


def _flag(builder: ModelBuilder, node: dict[str, Any], key: str, at: DocPath, default: bool) -> bool:
    value = node.get(key, default)
    if isinstance(value, dict):  # ``logs`` in advanced mode: level control is what is served
        return bool(value.get("level-control", True))
    if not isinstance(value, bool):
        builder.error(at + (key,), f"'{key}' must be true or false")
        return default
    return value


def parse_management(builder: ModelBuilder, node: Any, at: DocPath) -> Management:
    node = builder.mapping(node, at, "'management'")
    defaults = Management()
    flags = {key: _flag(builder, node, key, at, getattr(defaults, key)) for key in FLAGS}
    scripting = parse_scripting(builder, node["scripting"], at + ("scripting",)) if "scripting" in node else None
    return Management(**flags, scripting=scripting)


FLAGS = ("health", "info", "validate", "reload", "logs")


def parse_scripting(builder: ModelBuilder, node: Any, at: DocPath) -> Scripting:
    """The shape check (``spec.shape_adapters``) has said what is wrong; values it let through as
    they are, anything else is the default."""
    node = builder.mapping(node, at, "'scripting'")
    defaults = Scripting()

    def number(key: str) -> int | None:
        value = node.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None

    languages = node.get("allowedLanguages")
    return Scripting(
        enabled=_flag(builder, node, "enabled", at, defaults.enabled),
        default_location=builder.text(node, "defaultLocation", at),
        default_language=builder.text(node, "defaultLanguage", at),
        timeout_ms=number("timeout") or defaults.timeout_ms,
        statement_limit=number("statementLimit"),
        allowed_languages=tuple(str(x) for x in languages) if isinstance(languages, list) else None,
    )


def parse_observability(builder: ModelBuilder, node: Any, at: DocPath) -> Observability:
    node = builder.mapping(node, at, "'observability'")
    metrics = builder.mapping(node.get("metrics"), at + ("metrics",), "'metrics'")
    local = builder.mapping(metrics.get("local"), at + ("metrics", "local"), "'local'")
    traces = builder.mapping(node.get("traces"), at + ("traces",), "'traces'")
    propagation = traces.get("propagation", "w3c")
    if propagation not in PROPAGATIONS:
        builder.error(at + ("traces", "propagation"), f"trace propagation must be one of {', '.join(PROPAGATIONS)}")
        propagation = "w3c"
    sampling = traces.get("sampling", 1.0)
    if not isinstance(sampling, int | float) or isinstance(sampling, bool) or not 0 <= sampling <= 1:
        builder.error(at + ("traces", "sampling"), "'sampling' must be a number between 0 and 1")
        sampling = 1.0
    exporters = builder.mapping(node.get("exporters"), at + ("exporters",), "'exporters'")
    otlp = builder.mapping(exporters.get("otlp"), at + ("exporters", "otlp"), "'otlp'")
    return Observability(
        bool(node.get("enabled", True)),
        bool(local.get("enabled", True)),
        float(sampling),
        builder.text(otlp, "endpoint", at + ("exporters", "otlp")),
        str(propagation),
    )
