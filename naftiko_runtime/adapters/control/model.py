"""The ``control`` entry as the runtime acts on it: which endpoint groups are on, and observability."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from ...extras import OTLP
from ...records import dataclass
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter

PROPAGATIONS = ("w3c", "b3")


@dataclass(frozen=True)
class Scripting:
    """``management.scripting``, the engine's scripting governance (issue 20), as the file sets it.
    The defaults and ``allowedLanguages`` shape the file's script steps at load
    (``spec.composition``); ``enabled`` and ``timeout`` start the ``ScriptGovernance`` that
    ``PUT /scripting`` changes while serving."""

    declared: bool = False
    """The block is present: ``/scripting`` is served (404 otherwise, as in the engine)."""
    enabled: bool = True
    """``false``: every script step of the file fails at once with a message saying why."""
    timeout_ms: int | None = None
    """The serve's ``--script-timeout`` stays a ceiling."""
    default_language: str | None = None
    default_location: str | None = None
    allowed_languages: tuple[str, ...] | None = None
    statement_limit: int | None = None
    """Accepted and reported, not enforced (QuickJS counts no statements)."""


@dataclass(frozen=True)
class Management:
    """``management``: the schema's defaults (health on; info, validate, reload, logs off)."""

    health: bool = True
    info: bool = False
    validate: bool = False
    reload: bool = False
    logs: bool = False
    scripting: Scripting = field(default_factory=Scripting)


@dataclass(frozen=True)
class Observability:
    """``observability``: Prometheus ``/metrics`` (on by default) and traces (sampled, exported by
    OTLP only when ``exporters.otlp`` names an endpoint)."""

    enabled: bool = True
    metrics: bool = True
    sampling: float = 1.0
    otlp_endpoint: str | None = None
    propagation: str = "w3c"
    """``traces.propagation``: the caller's trace context read and sent upstream as W3C
    ``traceparent`` (and ``baggage``) or as B3 (``serving.propagation``)."""


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
    groups = [key for key in Management.__dataclass_fields__ if key != "scripting"]
    flags = {key: _flag(builder, node, key, at, getattr(defaults, key)) for key in groups}
    return Management(**flags, scripting=parse_scripting(builder, node.get("scripting"), at + ("scripting",)))


def parse_scripting(builder: ModelBuilder, node: Any, at: DocPath) -> Scripting:
    declared = isinstance(node, dict)
    node = builder.mapping(node, at, "'scripting'")
    if "statementLimit" in node:
        builder.warning(
            at + ("statementLimit",),
            "'statementLimit' is not enforced by this runtime: its JavaScript engine (QuickJS) counts no "
            "statements; 'timeout' and the memory limit bound every script step",
        )
    timeout, limit = (_positive(builder, node, key, at) for key in ("timeout", "statementLimit"))
    allowed = node.get("allowedLanguages")
    return Scripting(
        declared,
        _flag(builder, node, "enabled", at, True),
        timeout,
        builder.text(node, "defaultLanguage", at),
        builder.text(node, "defaultLocation", at),
        tuple(map(str, allowed)) if isinstance(allowed, list) else None,
        limit,
    )


def _positive(builder: ModelBuilder, node: dict[str, Any], key: str, at: DocPath) -> int | None:
    value = node.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        builder.error(at + (key,), f"'{key}' must be an integer >= 1")
        return None
    return value


def parse_observability(builder: ModelBuilder, node: Any, at: DocPath) -> Observability:
    node = builder.mapping(node, at, "'observability'")
    metrics = builder.mapping(node.get("metrics"), at + ("metrics",), "'metrics'")
    local = builder.mapping(metrics.get("local"), at + ("metrics", "local"), "'local'")
    traces = builder.mapping(node.get("traces"), at + ("traces",), "'traces'")
    propagation = traces.get("propagation", "w3c")
    if propagation not in PROPAGATIONS:
        builder.error(at + ("traces", "propagation"), f"unknown trace propagation '{propagation}': expected w3c or b3")
        propagation = "w3c"
    sampling = traces.get("sampling", 1.0)
    if not isinstance(sampling, int | float) or isinstance(sampling, bool) or not 0 <= sampling <= 1:
        builder.error(at + ("traces", "sampling"), "'sampling' must be a number between 0 and 1")
        sampling = 1.0
    exporters = builder.mapping(node.get("exporters"), at + ("exporters",), "'exporters'")
    otlp = builder.mapping(exporters.get("otlp"), at + ("exporters", "otlp"), "'otlp'")
    endpoint = builder.text(otlp, "endpoint", at + ("exporters", "otlp"))
    missing = OTLP.missing("observability.exporters.otlp") if endpoint is not None else None
    if missing is not None:  # refused now: the tracer is built when serving starts
        builder.error(at + ("exporters", "otlp", "endpoint"), missing)
    return Observability(
        bool(node.get("enabled", True)), bool(local.get("enabled", True)), float(sampling), endpoint, str(propagation)
    )
