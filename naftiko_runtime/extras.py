"""Optional dependencies: which pip extra a feature needs, checked when a capability file is loaded.

The parsers that only some capability files use (Protobuf and protoc, Avro, HTML, JavaScript) are
extras of the package (issue 19), so that a plain JSON gateway installs without them. Their
modules are imported where they are used, never at start-up; a file that uses such a feature
while its extra is missing is refused at load, at the key that needs it, with the ``pip install``
to run. The server therefore never meets an ``ImportError`` while serving a file it accepted.
"""

from __future__ import annotations

import importlib
import importlib.util

from .records import dataclass

PACKAGE = "naftiko-runtime"


@dataclass(frozen=True)
class Extra:
    """One ``[project.optional-dependencies]`` entry of pyproject.toml, by what it is for."""

    name: str
    """The extra's name: ``pip install 'naftiko-runtime[<name>]'``."""
    modules: tuple[str, ...]
    """What must import for the feature to work (a broken native library fails here too)."""
    feature: str | None = None
    """The conformance suite's name for what it enables (``serving.features``), if it has one."""

    @property
    def install(self) -> str:
        return f"pip install '{PACKAGE}[{self.name}]'"

    def missing(self, what: str) -> str | None:
        """Why ``what`` cannot be served here, or ``None`` when every module imports. The import is
        real, not a lookup: it is the one the feature makes next, so it cannot pass here and fail
        later."""
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                return (
                    f"{what} needs the '{self.name}' extra, which is not installed "
                    f"(no module '{exc.name or module}'): run {self.install}"
                )
        return None

    def installed(self) -> bool:
        """Whether the modules can be found, without importing them (cheap enough for start-up)."""
        try:
            return all(importlib.util.find_spec(module) is not None for module in self.modules)
        except ImportError:  # a parent package that is missing
            return False


PROTOBUF = Extra("protobuf", ("google.protobuf", "grpc_tools.protoc"), "formats.protobuf")
AVRO = Extra("avro", ("fastavro",), "formats.avro")
HTML = Extra("html", ("selectolax.lexbor",), "formats.html")
MARKDOWN = Extra("markdown", ("markdown_it",), "formats.markdown")
SCRIPTS = Extra("scripts", ("quickjs",), "script")
OTLP = Extra("otlp", ("opentelemetry.exporter.otlp.proto.http.trace_exporter",))
"""A control adapter's ``observability.exporters.otlp``: spans sent over OTLP/HTTP."""
STATE = Extra("state", ("redis.asyncio",))
"""``serve --state redis://...``: a fleet's shared state (D98), checked when the option is read."""

A2A = Extra("a2a", ("a2a.server.routes.jsonrpc_routes",), "x-naftiko-a2a")
"""An ``x-naftiko-a2a`` adapter: the official A2A SDK and its JSON-RPC server."""

EXTRAS = (PROTOBUF, AVRO, HTML, MARKDOWN, SCRIPTS, OTLP, STATE, A2A)
"""Every extra a capability file or a serve option can require; ``all`` in pyproject.toml installs them."""
