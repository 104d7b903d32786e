"""The ``naftiko`` command: ``serve``, ``validate``, ``routes``, ``openapi``, ``migrate`` (and ``conformance``,
``import``).

This module only parses arguments into ``Settings`` and calls the public API; every default lives
in ``Settings``. Diagnostics go to stdout for ``validate`` (they are its output) and to stderr for
``serve`` (stdout belongs to the MCP protocol under ``--stdio``, D64).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from .core.state import missing_client
from .serving import logs
from .serving.catalog import openapi_documents, route_rows
from .serving.config import ConfigError, Overrides, apply_config
from .serving.load_cache import HELD
from .serving.loading import Loaded, collector_paused, load
from .serving.plugins import PluginError
from .serving.reloading import FileSet
from .serving.server import PortUnavailable, serve
from .serving.stdio import serve_stdio
from .settings import (
    BASE_URI_ENV_PREFIX,
    DEFAULTS,
    LOAD_CACHE_ENV,
    LOAD_CACHE_OFF,
    LOG_FORMATS,
    LOG_LEVELS,
    TRANSPORTS,
    Settings,
    state_url_problem,
)
from .spec.migrate import TARGETS, migrate_text
from .version import __version__


def _base_uri(text: str) -> tuple[str, str]:
    namespace, sep, url = text.partition("=")
    if not sep or not namespace or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected NAMESPACE=http(s)://URL, got {text!r}")
    return namespace, url


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:  # NaN included
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _add_loading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="capability files (YAML), or folders: each serves its *.yml and *.yaml files, sorted",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="treat warnings (schema violations, unset bind variables) as errors",
    )
    parser.add_argument(
        "--base-uri",
        action="append",
        type=_base_uri,
        dest="base_uris",
        metavar="NAMESPACE=URL",
        help="call a consumed namespace at another base URI (repeatable); also settable "
        f"with the environment variable {BASE_URI_ENV_PREFIX}<NAMESPACE>",
    )
    parser.add_argument(
        "--port-offset", type=int, metavar="N", help=f"add N to every adapter's port (default {DEFAULTS.port_offset})"
    )
    parser.add_argument(
        "--host", help="address to listen on for every adapter (default: each adapter's address, else 127.0.0.1)"
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--load-cache",
        metavar="DIR",
        help="keep each file parsed, checked and translated in DIR for the next start, as Python keeps "
        f"bytecode (${LOAD_CACHE_ENV}, else the --config file's load_cache; default: "
        "$XDG_CACHE_HOME/naftiko-runtime/load, else ~/.cache/naftiko-runtime/load; D172)",
    )
    cache.add_argument(
        "--no-load-cache",
        action="store_const",
        const=LOAD_CACHE_OFF,
        dest="load_cache",
        help='parse every file, read and write no load cache (also: load_cache = "off")',
    )


def _add_serving_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--keep-going",
        action="store_true",
        default=None,
        help="serve the valid files and list the rejected ones instead of stopping (D32b)",
    )
    serve.add_argument(
        "--mock",
        action="store_true",
        default=None,
        help="answer every operation and tool from its outputs' static values, calling no upstream (D81)",
    )
    serve.add_argument(
        "--script-timeout",
        type=_positive(float),
        metavar="SECONDS",
        help=f"CPU time one script step may run (default {DEFAULTS.script_timeout:g}, the spec's; D83)",
    )
    serve.add_argument(
        "--concurrent-steps",
        action="store_true",
        default=None,
        help="send consecutive orchestrated call steps that read none of each other's results together (D80)",
    )
    serve.add_argument("--stdio", action="store_true", help="serve the MCP tools over stdin/stdout (D64)")
    serve.add_argument(
        "--watch",
        action="store_true",
        default=None,
        help="apply added, changed and removed capability files while serving; an invalid change keeps "
        "that file's last good version",
    )
    serve.add_argument(
        "--no-docs",
        action="store_false",
        dest="docs",
        default=None,
        help="serve neither /openapi.json nor /docs on the REST ports",
    )
    serve.add_argument(
        "--connect-timeout",
        type=_positive(float),
        metavar="SECONDS",
        help=f"to open an upstream connection ($NAFTIKO_CONNECT_TIMEOUT; default {DEFAULTS.connect_timeout:g})",
    )
    serve.add_argument(
        "--read-timeout",
        type=_positive(float),
        metavar="SECONDS",
        help=f"between upstream bytes ($NAFTIKO_READ_TIMEOUT; default {DEFAULTS.read_timeout:g})",
    )
    serve.add_argument(
        "--timeout",
        type=_positive(float),
        dest="total_timeout",
        metavar="SECONDS",
        help=f"for one whole upstream exchange ($NAFTIKO_TIMEOUT; default {DEFAULTS.total_timeout:g})",
    )
    serve.add_argument(
        "--max-body-size",
        type=_positive(int),
        dest="max_request_body",
        metavar="BYTES",
        help=f"largest request body accepted, 413 beyond (default {DEFAULTS.max_request_body})",
    )
    serve.add_argument(
        "--transport",
        choices=TRANSPORTS,
        help=f"HTTP transport under the httpx client for upstream calls (default {DEFAULTS.transport})",
    )
    serve.add_argument(
        "--workers",
        type=_positive(int),
        metavar="N",
        help=f"worker processes sharing the ports (default {DEFAULTS.workers}); MCP is stateless, "
        "so any worker serves it",
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, help=f"(default {DEFAULTS.log_level})")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help=f"json: one object per line, with a line per answered request (default {DEFAULTS.log_format})",
    )
    _add_edge_options(serve)
    _add_policy_options(serve)


def _counts(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _add_policy_options(serve: argparse.ArgumentParser) -> None:
    """Issue 15: resilience policies (D91). The file sets them per namespace; these win over it."""
    policies = serve.add_argument_group("resilience policies (every namespace; 0 is off)")
    policies.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"runtime configuration, TOML or YAML: per-namespace timeouts, retries, circuit breakers, "
        f"bulkheads, rate limits (default: ${CONFIG_ENV}, else none)",
    )
    policies.add_argument(
        "--retries", type=_counts, metavar="N", help="retries of idempotent upstream calls ($NAFTIKO_RETRIES)"
    )
    policies.add_argument(
        "--bulkhead", type=_counts, metavar="N", help="concurrent upstream calls per namespace ($NAFTIKO_BULKHEAD)"
    )
    policies.add_argument(
        "--breaker-failures",
        type=_counts,
        metavar="N",
        help="failures within the window that open a circuit ($NAFTIKO_BREAKER_FAILURES)",
    )
    policies.add_argument(
        "--rate-limit", type=_counts, metavar="N", help="calls per second per caller, 429 beyond ($NAFTIKO_RATE_LIMIT)"
    )
    policies.add_argument(
        "--state",
        type=_state_url,
        metavar="URL",
        help="redis://HOST:PORT/DB: share rate limits, circuit breakers and fetched OAuth2 tokens with every "
        "instance using the same Redis or Valkey ($NAFTIKO_STATE, else the --config file's state; default: "
        "each process alone). Needs naftiko-runtime[state]",
    )


def _state_url(text: str) -> str:
    why = state_url_problem(text)
    if why:
        raise argparse.ArgumentTypeError(why)
    return text


def _add_edge_options(serve: argparse.ArgumentParser) -> None:
    """Limits on callers' connections and who may call from a browser (issue 10; SECURITY.md)."""
    edge = serve.add_argument_group("callers' connections (414, 431, 408 or 503 beyond the limits)")
    edge.add_argument(
        "--max-request-line",
        type=_positive(int),
        metavar="BYTES",
        help=f"request line (default {DEFAULTS.max_request_line})",
    )
    edge.add_argument(
        "--max-header-size",
        type=_positive(int),
        metavar="BYTES",
        help=f"one header line (default {DEFAULTS.max_header_size})",
    )
    edge.add_argument(
        "--max-headers",
        type=_positive(int),
        metavar="N",
        help=f"header lines per request (default {DEFAULTS.max_headers})",
    )
    edge.add_argument(
        "--max-request-head",
        type=_positive(int),
        metavar="BYTES",
        help=f"request line and headers together (default {DEFAULTS.max_request_head})",
    )
    edge.add_argument(
        "--header-timeout",
        type=_positive(float),
        metavar="SECONDS",
        help="time to send a complete request head, from the connection's start or the previous "
        f"response's end (default {DEFAULTS.header_timeout:g})",
    )
    edge.add_argument(
        "--max-connections",
        type=_positive(int),
        metavar="N",
        help="open client connections per process, all ports together (default 4096, or half the "
        "open-file limit if lower)",
    )
    browsers = serve.add_argument_group("browsers (Host, Origin and CORS checks before any adapter)")
    browsers.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        metavar="HOST",
        help="a Host name the ports answer for besides loopback names (repeatable; '*' for any): "
        "DNS rebinding protection, 421 otherwise",
    )
    browsers.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="a browser origin allowed to call (repeatable; '*' for any); other origins get 403",
    )
    browsers.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="answer CORS preflights from ORIGIN and add CORS headers for it (repeatable; off by default)",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="naftiko", description="Serve and check Naftiko capability files.")
    root.add_argument("--version", action="version", version=f"naftiko-runtime {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="serve the REST and MCP adapters of capability files",
        description="Load and validate every file, then serve all their adapters.",
        epilog="Signals: SIGTERM and SIGINT stop accepting, let in-flight calls finish, then exit 0. SIGHUP "
        "reloads the files: a valid set on the same ports replaces the served one without dropping a call; "
        "an invalid one is logged and the previous files keep serving.",
    )
    _add_loading_options(serve_parser)
    _add_serving_options(serve_parser)

    validate = commands.add_parser(
        "validate",
        help="check capability files; exit 1 if any is invalid",
        description="Print every error and warning as file:line:column.",
    )
    _add_loading_options(validate)

    routes = commands.add_parser("routes", help="list every REST route and MCP tool with the operation it calls")
    _add_loading_options(routes)

    openapi = commands.add_parser(
        "openapi",
        help="print the OpenAPI 3.1 document of a REST port (what it serves at /openapi.json)",
        description="Print, as JSON, the OpenAPI document a REST port serves at /openapi.json.",
    )
    _add_loading_options(openapi)
    openapi.add_argument(
        "--port", type=int, metavar="P", help="the REST port, after --port-offset (needed when there are several)"
    )
    migrate = commands.add_parser(
        "migrate",
        help="rewrite naftiko 1.0.0-alpha2 files into the Ikanos dialect",
        description="Rewrite alpha2 capability files into Ikanos beta4 (maps keyed by name, display, "
        "from/import), keeping comments and key order; notes on anything not carried over go to stderr.",
    )
    migrate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="alpha2 capability files (YAML)")
    migrate.add_argument("--to", choices=TARGETS, default=TARGETS[0], help=f"target version (default {TARGETS[0]})")
    migrate.add_argument("--out", type=Path, metavar="DIR", help="write FILE's migration to DIR/FILE (default: stdout)")

    # Listed for `naftiko --help`; `main` hands everything after the word to the suite's runner.
    commands.add_parser(
        "conformance", add_help=False, help="run the conformance suite (see `naftiko conformance --help`)"
    )
    commands.add_parser("import", add_help=False, help="generate a capability (see `naftiko import openapi --help`)")
    return root


SETTING_NAMES = frozenset(Settings.__dataclass_fields__)
CONFIG_ENV = "NAFTIKO_CONFIG"


def settings_from(args: argparse.Namespace) -> Settings:
    """Only what was given on the command line; ``Settings`` holds every default."""
    given = {name: value for name, value in vars(args).items() if name in SETTING_NAMES and value is not None}
    if "base_uris" in given:
        given["base_uris"] = dict(given["base_uris"])
    for repeated in ("allowed_hosts", "allowed_origins", "cors_origins"):
        if repeated in given:
            given[repeated] = tuple(given[repeated])
    policies = {name: getattr(args, name, None) for name in ("retries", "bulkhead", "breaker_failures", "rate_limit")}
    if args.command == "serve":
        _environment_overrides(given, policies, os.environ)
    if "load_cache" not in given and os.environ.get(LOAD_CACHE_ENV):
        given["load_cache"] = os.environ[LOAD_CACHE_ENV]  # every command that loads files (D172)
    settings = Settings(**given)
    config = getattr(args, "config", None) or os.environ.get(CONFIG_ENV)
    if config:
        settings = apply_config(Path(config), settings, set(given))
    return Overrides(**policies).apply(settings)


POLICY_ENV: dict[str, tuple[str, Callable[[str], float | str]]] = {
    "connect_timeout": ("NAFTIKO_CONNECT_TIMEOUT", _positive(float)),
    "read_timeout": ("NAFTIKO_READ_TIMEOUT", _positive(float)),
    "total_timeout": ("NAFTIKO_TIMEOUT", _positive(float)),
    "retries": ("NAFTIKO_RETRIES", _counts),
    "bulkhead": ("NAFTIKO_BULKHEAD", _counts),
    "breaker_failures": ("NAFTIKO_BREAKER_FAILURES", _counts),
    "rate_limit": ("NAFTIKO_RATE_LIMIT", _counts),
    "state": ("NAFTIKO_STATE", _state_url),
}
"""Issue 15: timeouts and policies from the environment (a container's usual knobs), checked as
their options are. The command line wins over them, and they win over the ``--config`` file."""


def _environment_overrides(given: dict[str, Any], policies: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Fill in what the command line left unset from ``POLICY_ENV``; a bad value is a ``ConfigError``."""
    for name, (variable, parse) in POLICY_ENV.items():
        text = environ.get(variable)
        target = policies if name in policies else given
        if text is None or target.get(name) is not None:
            continue
        try:
            target[name] = parse(text)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            why = exc if isinstance(exc, argparse.ArgumentTypeError) else f"not a number: {text!r}"
            raise ConfigError(f"naftiko: ${variable}: {why}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = load(args.files, settings_from(args))
    for diagnostic in loaded.diagnostics:
        print(diagnostic)
    reports = loaded.reports
    invalid = [r for r in reports if r.errors or r.loaded is None]
    print(
        f"{len(reports) - len(invalid)} of {len(reports)} files valid; "
        f"{sum(len(r.errors) for r in reports)} errors, {sum(len(r.warnings) for r in reports)} warnings"
    )
    return 1 if invalid else 0


def cmd_routes(args: argparse.Namespace) -> int:
    loaded = load(args.files, settings_from(args))
    for diagnostic in loaded.diagnostics:
        print(diagnostic, file=sys.stderr)
    for row in route_rows(loaded.listeners):
        print(row)
    return 1 if loaded.rejected else 0


def cmd_openapi(args: argparse.Namespace) -> int:
    loaded = load(args.files, settings_from(args))
    for diagnostic in loaded.diagnostics:
        print(diagnostic, file=sys.stderr)
    if loaded.rejected:
        return 1
    documents = openapi_documents(loaded.listeners)
    ports = ", ".join(map(str, documents)) or "none"
    if args.port is None and len(documents) != 1:
        print(f"naftiko: choose a REST port with --port (REST ports: {ports})", file=sys.stderr)
        return 1
    document = documents.get(args.port if args.port is not None else next(iter(documents)))
    if document is None:
        print(f"naftiko: no REST adapter on port {args.port} (REST ports: {ports})", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    failed = 0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        try:
            text, notes = migrate_text(path.read_text(encoding="utf-8"), args.to)
        except (OSError, ValueError, YAMLError) as exc:
            print(f"{path}: cannot migrate: {exc}", file=sys.stderr)
            failed += 1
            continue
        for note in notes:
            print(f"{path}: note: {note}", file=sys.stderr)
        if args.out:
            (args.out / path.name).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    return 1 if failed else 0


def _report_loading(loaded: Loaded, settings: Settings) -> bool:
    """Print every diagnostic; whether serving may go on (D5, D32b)."""
    for diagnostic in loaded.diagnostics:
        print(diagnostic, file=sys.stderr)
    rejected = loaded.rejected
    if rejected and not settings.keep_going:
        print(
            f"naftiko: {len(rejected)} of {len(loaded.reports)} files invalid; nothing served (D5). "
            "Use --keep-going to serve the valid ones.",
            file=sys.stderr,
        )
        return False
    for report in rejected:
        print(f"naftiko: rejected {report.path} ({len(report.errors)} errors)", file=sys.stderr)
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.state and (why := missing_client()):
        print(f"naftiko: {why}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    files = FileSet(args.files, settings)
    # What is served lives as long as the process (D148); the load cache's entries are written
    # once the ports serve (D181), and at the latest here as the serve returns, however it ends.
    with collector_paused(freeze_loaded=True), HELD.held():
        loaded = files()
    try:
        return _serve_loaded(args, settings, files, loaded)
    finally:
        HELD.write()


def _serve_loaded(args: argparse.Namespace, settings: Settings, files: FileSet, loaded: Loaded) -> int:
    if not _report_loading(loaded, settings):
        return 1
    logs.SECRETS.add(loaded.secrets)
    if args.stdio:
        HELD.write()  # no port to wait for, and a client may end its server any way it likes
        return asyncio.run(serve_stdio(loaded.listeners, settings))
    if not loaded.listeners.listeners:
        print("naftiko: no adapter to serve", file=sys.stderr)
        return 1
    try:
        return serve(loaded.listeners, settings, reloader=files, watched=args.files if settings.watch else ())
    except PortUnavailable as exc:
        print(f"naftiko: {exc}; nothing served", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance"]:
        # The suite's runner owns every option after the word, `--help` included.
        from .conformance.command import main as conformance_main

        return conformance_main(argv[1:])
    if argv[:1] == ["import"]:
        from .importing import main as import_main

        return import_main(argv[1:])
    args = parser().parse_args(argv)
    handlers = {
        "serve": cmd_serve,
        "validate": cmd_validate,
        "routes": cmd_routes,
        "openapi": cmd_openapi,
        "migrate": cmd_migrate,
    }
    handler = handlers[args.command]
    try:
        return handler(args)
    except (ConfigError, PluginError) as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
