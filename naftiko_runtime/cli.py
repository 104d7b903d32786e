"""The ``naftiko`` command: ``serve``, ``validate``, ``routes`` (and ``conformance``).

Diagnostics go to stdout for ``validate`` (they are its output) and to stderr for ``serve``
(stdout belongs to the MCP protocol under ``--stdio``, D64).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path
from typing import Mapping, Sequence

from . import __version__, logs
from .diagnostics import Diagnostic
from .listeners import Listener, ListenerSet
from .loader import FileReport, load_files
from .settings import BASE_URI_ENV_PREFIX, Settings

log = logging.getLogger("naftiko")


def _base_uri(text: str) -> tuple[str, str]:
    namespace, sep, url = text.partition("=")
    if not sep or not namespace or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected NAMESPACE=http(s)://URL, got {text!r}")
    return namespace, url


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _add_loading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="capability files (YAML)")
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings (schema violations, unset bind variables) as errors")
    parser.add_argument("--base-uri", action="append", type=_base_uri, default=[], metavar="NAMESPACE=URL",
                        help="call a consumed namespace at another base URI (repeatable); also settable "
                             f"with the environment variable {BASE_URI_ENV_PREFIX}<NAMESPACE>")
    parser.add_argument("--port-offset", type=int, default=0, metavar="N", help="add N to every adapter's port")
    parser.add_argument("--host", default=None,
                        help="address to listen on for every adapter (default: each adapter's address, else 127.0.0.1)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="naftiko", description="Serve and check Naftiko capability files.")
    root.add_argument("--version", action="version", version=f"naftiko-runtime {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the REST and MCP adapters of capability files",
                                description="Load and validate every file, then serve all their adapters.")
    _add_loading_options(serve)
    serve.add_argument("--keep-going", action="store_true",
                       help="serve the valid files and list the rejected ones instead of stopping (D32b)")
    serve.add_argument("--stdio", action="store_true", help="serve the MCP tools over stdin/stdout (D64)")
    serve.add_argument("--connect-timeout", type=_positive(float), default=5.0, metavar="SECONDS")
    serve.add_argument("--read-timeout", type=_positive(float), default=30.0, metavar="SECONDS")
    serve.add_argument("--timeout", type=_positive(float), default=60.0, metavar="SECONDS",
                       help="total time allowed for one upstream exchange (default 60)")
    serve.add_argument("--max-body-size", type=_positive(int), default=10 * 1024 * 1024, metavar="BYTES",
                       help="largest request body accepted (413 beyond)")
    serve.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp",
                       help="HTTP transport under the httpx client for upstream calls")
    serve.add_argument("--workers", type=_positive(int), default=1, metavar="N",
                       help="worker processes sharing the ports (default 1); MCP is stateless, so any worker serves it")
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    validate = commands.add_parser("validate", help="check capability files; exit 1 if any is invalid",
                                   description="Print every error and warning as file:line:column.")
    _add_loading_options(validate)

    routes = commands.add_parser("routes", help="list every REST route and MCP tool with the operation it calls")
    _add_loading_options(routes)

    # Listed for `naftiko --help`; `main` hands everything after the word to the suite's runner.
    commands.add_parser("conformance", add_help=False, help="run the conformance suite (see `naftiko conformance --help`)")
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings(host=args.host, port_offset=args.port_offset, base_uris=dict(args.base_uri),
                        strict=args.strict, keep_going=getattr(args, "keep_going", False))
    if args.command == "serve":
        settings.connect_timeout, settings.read_timeout = args.connect_timeout, args.read_timeout
        settings.total_timeout, settings.max_request_body = args.timeout, args.max_body_size
        settings.transport = args.transport
    return settings


def load_all(files: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None
             ) -> tuple[list[FileReport], ListenerSet, list[Diagnostic]]:
    """D30: every file loaded and checked (conflicts included) before anything is served."""
    reports = load_files(files, settings, environ)
    listeners = ListenerSet(settings)
    for report in reports:
        if report.ok:
            report.diagnostics += listeners.add(report)
    return reports, listeners, [d for r in reports for d in r.diagnostics]


def cmd_validate(args: argparse.Namespace) -> int:
    reports, _, diagnostics = load_all(args.files, settings_from(args))
    for diagnostic in diagnostics:
        print(diagnostic)
    invalid = [r for r in reports if r.errors or r.loaded is None]
    warnings = sum(len(r.warnings) for r in reports)
    print(f"{len(reports) - len(invalid)} of {len(reports)} files valid; "
          f"{sum(len(r.errors) for r in reports)} errors, {warnings} warnings")
    return 1 if invalid else 0


def cmd_routes(args: argparse.Namespace) -> int:
    from .catalog import route_rows

    reports, listeners, diagnostics = load_all(args.files, settings_from(args))
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    for row in route_rows(listeners):
        print(row)
    return 1 if any(not r.ok for r in reports) else 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def warn_exposed(listeners: Sequence[Listener]) -> None:
    """D34: exposing beyond loopback is deliberate, and it is said out loud. Exposed adapters have no
    authentication yet, so whoever reaches the port calls every operation with the gateway's keys."""
    for listener in listeners:
        if not is_loopback(listener.host):
            log.warning("listening on %s:%d, which is not a loopback address, and no adapter on it has exposed "
                        "authentication: anyone who can reach this port can call every operation with the "
                        "credentials this gateway holds (D34)", listener.host, listener.port)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import bind_sockets, run

    logs.configure(args.log_level)
    settings = settings_from(args)
    reports, listeners, diagnostics = load_all(args.files, settings)
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    rejected = [r for r in reports if not r.ok]
    if rejected and not settings.keep_going:
        print(f"naftiko: {len(rejected)} of {len(reports)} files invalid; nothing served (D5). "
              "Use --keep-going to serve the valid ones.", file=sys.stderr)
        return 1
    for report in rejected:
        print(f"naftiko: rejected {report.path} ({len(report.errors)} errors)", file=sys.stderr)
    for report in reports:
        if report.loaded:
            logs.SECRETS.add(report.loaded.binds.secrets())
    if args.stdio:
        from .mcp_adapter import serve_stdio
        return asyncio.run(serve_stdio(listeners, settings))
    if not listeners.listeners:
        print("naftiko: no adapter to serve", file=sys.stderr)
        return 1
    try:
        sockets = bind_sockets(list(listeners.listeners.values()))
    except OSError as exc:
        print(f"naftiko: {exc}; nothing served", file=sys.stderr)
        return 1
    warn_exposed(list(listeners.listeners.values()))
    return run(list(listeners.listeners.values()), settings, sockets, args.workers)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance"]:
        # The suite's runner owns every option after the word, `--help` included.
        from .conformance.command import main as conformance_main

        return conformance_main(argv[1:])
    args = parser().parse_args(argv)
    handler = {"serve": cmd_serve, "validate": cmd_validate, "routes": cmd_routes}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
