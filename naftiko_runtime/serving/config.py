"""The runtime configuration file (``naftiko serve --config naftiko.toml``; TOML or YAML; D91).

Resilience policies are not capability keys, so capability files stay valid against the official
schema. The file is checked before anything is served and every error names ``file:line:column``.
YAML positions come from ruamel's parse; ``tomllib`` keeps none, so a TOML key's position is found
by ``_toml_positions``, a line scanner of table headers and ``key =`` lines (a key it cannot place,
such as one inside an inline table, is reported at its table's header, else at 1:1).

Layout (every section optional)::

    state = "redis://redis:6379/0"   # issue 22: limits, breakers and tokens shared by the fleet
    load_cache = "/var/cache/naftiko"  # parsed files kept for the next start, or "off" (D172)
    [upstream]                  # every namespace: timeouts, retry, breaker, bulkhead
    connect_timeout = 2
    [upstream.retry]
    attempts = 3
    [namespaces.NAME]           # one namespace, merged over [upstream]
    total_timeout = 5
    [namespaces.NAME.operations.OPERATION]
    read_timeout = 1
    [namespaces.NAME.oauth2_client_credentials]   # the upstream's bearer token (RFC 6749 §4.4)
    token_url = "https://auth.example.com/oauth/token"
    client_id = "billing-gateway"               # or client_id_env = "VARIABLE"
    client_secret_env = "BILLING_CLIENT_SECRET" # the secret only ever from the environment
    scope = "invoices:read"                     # optional, as audience
    client_authentication = "basic"             # or "body"
    refresh_leeway = 10                         # seconds before expiry a token is replaced
    [namespaces.NAME]           # TLS towards the namespace (mTLS; paths from this file's folder)
    tls_client_cert = "certs/client.pem"
    tls_client_key = "certs/client.key"         # unencrypted PEM; checked against the certificate
    tls_ca = "certs/upstream-ca.pem"            # optional: trust this CA alone for the upstream
    [namespaces.NAME.cache]     # RFC 9111 shared cache of the namespace's GETs (off by default, D123)
    enabled = true
    ttl = 30                    # seconds of life for answers that state none
    vary = ["Accept-Language"]  # request headers that tell answers apart, besides the upstream's Vary
    [cache]                     # the process's cache, every namespace together
    max_entries = 1024
    max_bytes = 67108864
    [rate_limit]
    requests = 100
    period = 1
    identity = "api-key"        # or "jwt-subject", "client"
    [mcp]                       # the MCP adapter (D110)
    page_size = 50              # tools per tools/list page; 0 (default) is one page
    confirm_destructive = true  # ask before a hints.destructive tool runs (an input request)
    tasks = true                # tool calls as tasks (the MCP Tasks extension)
    task_ttl = 300              # seconds a finished task is kept
    short_path = true           # stateless tools/call answered without the mcp package's transport (D141)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from ..core.client_tls import ClientTLSError, client_tls_context
from ..records import dataclass
from ..settings import (
    RATE_LIMIT_IDENTITIES,
    BreakerPolicy,
    BulkheadPolicy,
    CachePolicy,
    ClientCredentialsPolicy,
    ClientTLS,
    McpPolicy,
    RateLimit,
    RetryPolicy,
    Settings,
    Timeouts,
    UpstreamPolicy,
    state_url_problem,
    token_url_problem,
)
from ..spec.extensions import CLIENT_AUTHENTICATIONS

Key = tuple[str, ...]
TIMEOUT_KEYS = {"connect_timeout": "connect", "read_timeout": "read", "total_timeout": "total"}
SECTIONS: dict[str, type[RetryPolicy] | type[BreakerPolicy] | type[BulkheadPolicy]] = {
    "retry": RetryPolicy,
    "breaker": BreakerPolicy,
    "bulkhead": BulkheadPolicy,
}
GRANT = "oauth2_client_credentials"
GRANT_KEYS = (
    "token_url",
    "client_id",
    "client_id_env",
    "client_secret_env",
    "scope",
    "audience",
    "client_authentication",
    "refresh_leeway",
)
"""The fields of ``ClientCredentialsPolicy``; every one but ``refresh_leeway`` is text."""
TLS_KEYS = ("tls_client_cert", "tls_client_key", "tls_ca")
"""A namespace's TLS files (``settings.ClientTLS``: cert, key, ca)."""
CACHE_KEYS = ("enabled", "ttl", "vary")
COUNTS = frozenset(
    {"attempts", "failures", "probes", "max_concurrent", "requests", "burst", "max_entries", "max_bytes", "page_size"}
)
"""Whole-number fields; every other number is seconds."""
AT_LEAST_ONE = frozenset({"attempts", "probes", "max_entries", "max_bytes"})
SECTION_NAMES = ("state", "load_cache", "upstream", "namespaces", "cache", "rate_limit", "mcp")
Section = TypeVar("Section", RetryPolicy, BreakerPolicy, BulkheadPolicy, RateLimit, McpPolicy)


class ConfigError(ValueError):
    """Every problem of one file, one ``file:line:column: message`` a line."""


@dataclass
class _Checker:
    path: Path
    positions: Mapping[Key, tuple[int, int]]
    errors: list[str]

    def error(self, key: Key, message: str) -> None:
        line, column = 1, 1
        for end in range(len(key), 0, -1):
            if key[:end] in self.positions:
                line, column = self.positions[key[:end]]
                break
        self.errors.append(f"{self.path}:{line}:{column}: {'.'.join(key)}: {message}")

    def table(self, key: Key, value: Any) -> dict[str, Any]:
        if isinstance(value, Mapping):
            return dict(value)
        self.error(key, "must be a table")
        return {}

    def number(self, key: Key, value: Any) -> float | int | None:
        name = key[-1]
        if name in COUNTS:
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(key, f"must be a whole number, not {value!r}")
                return None
            least = 1 if name in AT_LEAST_ONE else 0
            if value < least:
                self.error(key, f"must be at least {least}")
                return None
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.error(key, f"must be a positive number of seconds, not {value!r}")
            return None
        return float(value)

    def section(self, key: Key, value: Any, kind: type[Section], base: Section) -> Section:
        known = {f.name for f in fields(kind)}
        given: dict[str, Any] = {}
        for name, item in self.table(key, value).items():
            if name not in known:
                self.error((*key, name), f"unknown key; known: {', '.join(sorted(known))}")
            elif name == "identity":
                if item not in RATE_LIMIT_IDENTITIES:
                    self.error((*key, name), f"must be one of {', '.join(RATE_LIMIT_IDENTITIES)}")
                else:
                    given[name] = item
            elif isinstance(getattr(base, name), bool):
                if isinstance(item, bool):
                    given[name] = item
                else:
                    self.error((*key, name), f"must be true or false, not {item!r}")
            elif (number := self.number((*key, name), item)) is not None:
                given[name] = number
        return replace(base, **given)

    def timeouts(self, key: Key, table: Mapping[str, Any], base: Timeouts) -> Timeouts:
        given = {}
        for name, field_name in TIMEOUT_KEYS.items():
            if name in table and (number := self.number((*key, name), table[name])) is not None:
                given[field_name] = number
        return replace(base, **given)

    def grant(self, key: Key, value: Any) -> ClientCredentialsPolicy | None:
        """A namespace's client credentials grant (D91), each field checked where it is; the
        secret may only be named (``client_secret_env``), never written in the file."""
        table = self.table(key, value)
        given: dict[str, Any] = {}
        for name, item in table.items():
            if name == "client_secret":
                self.error(
                    (*key, name),
                    "a secret is never written in the file: name its environment variable with client_secret_env",
                )
            elif name not in GRANT_KEYS:
                self.error((*key, name), f"unknown key; known: {', '.join(GRANT_KEYS)}")
            elif name == "refresh_leeway":
                if (number := self.number((*key, name), item)) is not None:
                    given[name] = number
            elif not isinstance(item, str) or not item:
                self.error((*key, name), f"must be a non-empty string, not {item!r}")
            elif name == "client_authentication" and item not in CLIENT_AUTHENTICATIONS:
                self.error((*key, name), f"must be one of {', '.join(CLIENT_AUTHENTICATIONS)}")
            elif name == "token_url" and (why := token_url_problem(item)):
                self.error((*key, name), f"'{item}' {why}")
            else:
                given[name] = item
        return self._complete_grant(key, table, given)

    def _complete_grant(
        self, key: Key, table: Mapping[str, Any], given: dict[str, Any]
    ) -> ClientCredentialsPolicy | None:
        """The grant, if the table names everything a token request needs (and one client id)."""
        wanted = [name for name in ("token_url", "client_secret_env") if name not in table]
        for name in wanted:
            self.error(key, f"{name} is missing")
        ids = [name for name in ("client_id", "client_id_env") if name in table]
        if len(ids) != 1:
            self.error(key, "set the client id: one of client_id, client_id_env")
        if wanted or len(ids) != 1 or len(given) != len(table):
            return None
        return ClientCredentialsPolicy(**given)

    def policy(self, key: Key, value: Any, base: UpstreamPolicy, namespace: bool) -> UpstreamPolicy:
        """``[upstream]``, or with ``namespace`` one namespace's table, which alone may hold
        per-operation timeouts and a token grant."""
        table = self.table(key, value)
        policy = replace(base, timeouts=self.timeouts(key, table, base.timeouts))
        for name, item in table.items():
            if name in TIMEOUT_KEYS:
                continue
            if name in SECTIONS:
                section = self.section((*key, name), item, SECTIONS[name], getattr(base, name))
                policy = replace(policy, **{name: section})
            elif name == GRANT and namespace:
                policy = replace(policy, client_credentials=self.grant((*key, name), item))
            elif name in TLS_KEYS and namespace:
                continue
            elif name == "cache":
                policy = replace(policy, cache=self.cache((*key, name), item, base.cache))
            elif name == "operations" and namespace:
                policy = replace(
                    policy,
                    operations={
                        operation: self.timeouts(
                            (*key, name, operation), self._timeouts_only((*key, name, operation), spec), Timeouts()
                        )
                        for operation, spec in self.table((*key, name), item).items()
                    },
                )
            else:
                known = [*TIMEOUT_KEYS, *SECTIONS, "cache", *(["operations", GRANT, *TLS_KEYS] if namespace else [])]
                self.error((*key, name), f"unknown key; known: {', '.join(known)}")
        if namespace and any(name in table for name in TLS_KEYS):
            policy = replace(policy, tls=self.tls(key, table))
        return policy

    def cache(self, key: Key, value: Any, base: CachePolicy) -> CachePolicy:
        """A cache rule (``[upstream.cache]`` for every namespace, ``[namespaces.NAME.cache]``)."""
        given: dict[str, Any] = {}
        for name, item in self.table(key, value).items():
            if name not in CACHE_KEYS:
                self.error((*key, name), f"unknown key; known: {', '.join(CACHE_KEYS)}")
            elif name == "enabled":
                if isinstance(item, bool):
                    given[name] = item
                else:
                    self.error((*key, name), f"must be true or false, not {item!r}")
            elif name == "vary":
                if isinstance(item, list) and all(isinstance(header, str) and header for header in item):
                    given[name] = tuple(header.lower() for header in item)
                else:
                    self.error((*key, name), f"must be a list of header names, not {item!r}")
            elif (number := self.number((*key, name), item)) is not None:
                given[name] = number
        return replace(base, **given)

    def tls(self, key: Key, table: Mapping[str, Any]) -> ClientTLS | None:
        """A namespace's TLS files, resolved from the configuration's folder and loaded once here,
        so that a missing, unreadable, encrypted or mismatched file stops ``serve`` at its line."""
        paths: dict[str, str | None] = {}
        for name in TLS_KEYS:
            item = table.get(name)
            if item is not None and (not isinstance(item, str) or not item):
                self.error((*key, name), f"must be a file path string, not {item!r}")
                return None
            paths[name] = None if item is None else str(self.path.parent / Path(item).expanduser())
        if (paths["tls_client_cert"] is None) != (paths["tls_client_key"] is None):
            missing = "tls_client_key" if paths["tls_client_key"] is None else "tls_client_cert"
            self.error(key, f"{missing} is missing: a client certificate and its key come together")
            return None
        tls = ClientTLS(paths["tls_client_cert"], paths["tls_client_key"], paths["tls_ca"])
        try:
            client_tls_context(tls)
        except ClientTLSError as exc:
            self.error((*key, exc.field), str(exc))
            return None
        return tls

    def _timeouts_only(self, key: Key, value: Any) -> dict[str, Any]:
        table = self.table(key, value)
        for name in table:
            if name not in TIMEOUT_KEYS:
                self.error((*key, name), f"unknown key; an operation sets only {', '.join(TIMEOUT_KEYS)}")
        return table


def _parse(path: Path) -> tuple[dict[str, Any], dict[Key, tuple[int, int]]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        import tomllib  # only a TOML config file needs it: its import compiles ~20 ms of regexes (D169)

        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        return document, _toml_positions(text)
    return _parse_yaml(path, text)


def _parse_yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[Key, tuple[int, int]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        raise ConfigError(f"{path}:{where}: {exc.problem}") from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    positions: dict[Key, tuple[int, int]] = {}

    def walk(node: Any, key: Key) -> None:
        if isinstance(node, CommentedMap):
            for name in node:
                line, column = node.lc.key(name)
                positions[(*key, str(name))] = (line + 1, column + 1)
                walk(node[name], (*key, str(name)))

    walk(document, ())
    if document is None:
        return {}, positions
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}:1:1: the configuration must be a mapping")
    return dict(document), positions


_TOML_KEY = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*')


def _toml_keys(text: str) -> tuple[Key, int] | None:
    """A dotted TOML key at the start of ``text``: its parts and where it ends."""
    parts, at = [], 0
    while True:
        match = _TOML_KEY.match(text, at)
        if match is None or match.end() == at:
            return None
        parts.append(next(group for group in match.groups() if group is not None))
        at = match.end()
        if at < len(text) and text[at] == ".":
            at += 1
            continue
        return tuple(parts), at


def _toml_positions(text: str) -> dict[Key, tuple[int, int]]:
    positions: dict[Key, tuple[int, int]] = {}
    table: Key = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        column = len(line) - len(stripped) + 1
        if stripped.startswith("["):
            inner = stripped.lstrip("[")
            found = _toml_keys(inner)
            if found is not None:
                table = found[0]
                positions.setdefault(table, (number, column))
            continue
        found = _toml_keys(stripped)
        if found is not None and stripped[found[1] :].startswith("="):
            positions.setdefault((*table, *found[0]), (number, column))
    return positions


def apply_config(path: Path, settings: Settings, given: set[str]) -> Settings:
    """``settings`` with the file's policies; a setting in ``given`` (from the command line) wins."""
    try:
        document, positions = _parse(path)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    check = _Checker(path, positions, [])
    for name in document:
        if name not in SECTION_NAMES:
            check.error((name,), f"unknown section; known: {', '.join(SECTION_NAMES)}")
    state = _state(check, document.get("state"), settings.state if "state" in given else None)
    load_cache = _load_cache(check, document.get("load_cache"), settings.load_cache if "load_cache" in given else None)
    upstream_table = check.table(("upstream",), document.get("upstream", {}))
    upstream = check.policy(("upstream",), upstream_table, UpstreamPolicy(), namespace=False)
    # The serve-wide timeouts are settings of their own, so that --timeout and friends still win.
    serve_wide = {
        f"{field_name}_timeout": getattr(upstream.timeouts, field_name)
        for field_name in ("connect", "read", "total")
        if getattr(upstream.timeouts, field_name) is not None and f"{field_name}_timeout" not in given
    }
    upstream = replace(upstream, timeouts=Timeouts())
    namespaces = {
        name: check.policy(("namespaces", name), table, upstream, namespace=True)
        for name, table in check.table(("namespaces",), document.get("namespaces", {})).items()
    }
    rate_limit = check.section(("rate_limit",), document.get("rate_limit", {}), RateLimit, RateLimit())
    mcp = check.section(("mcp",), document.get("mcp", {}), McpPolicy, McpPolicy())
    entries, size = _cache_store(check, document.get("cache", {}), settings)
    if check.errors:
        raise ConfigError("\n".join(check.errors))
    return replace(
        settings,
        upstream=upstream,
        namespaces=namespaces,
        rate_limit=rate_limit,
        mcp=mcp,
        state=state,
        load_cache=load_cache,
        cache_entries=entries,
        cache_bytes=size,
        **serve_wide,
    )


def _cache_store(check: _Checker, value: Any, settings: Settings) -> tuple[int, int]:
    """``[cache]``: the entries and bytes the process's shared upstream cache keeps (D123)."""
    bounds = {"max_entries": settings.cache_entries, "max_bytes": settings.cache_bytes}
    for name, item in check.table(("cache",), value).items():
        if name not in bounds:
            check.error(("cache", name), f"unknown key; known: {', '.join(bounds)}")
        elif isinstance(number := check.number(("cache", name), item), int):
            bounds[name] = number
    return bounds["max_entries"], bounds["max_bytes"]


def _load_cache(check: _Checker, value: Any, given: str | None) -> str | None:
    """The file's ``load_cache`` folder (or ``off``, D172); the command line or the environment wins."""
    if value is not None and (not isinstance(value, str) or not value):
        check.error(("load_cache",), f"must be a folder or 'off', not {value!r}")
        value = None
    return given if given is not None else value


def _state(check: _Checker, value: Any, given: str | None) -> str | None:
    """The file's ``state`` URL, checked; ``--state`` or ``$NAFTIKO_STATE`` (``given``) wins over it (D93)."""
    if value is not None and not isinstance(value, str):
        check.error(("state",), f"must be a redis:// URL string, not {value!r}")
    elif value is not None and (why := state_url_problem(value)):
        check.error(("state",), why)
    return given if given is not None else value


@dataclass(frozen=True)
class Overrides:
    """Policies given on the command line: they win over the file, for every namespace."""

    retries: int | None = None
    bulkhead: int | None = None
    breaker_failures: int | None = None
    rate_limit: int | None = None

    def apply(self, settings: Settings) -> Settings:
        def policy(base: UpstreamPolicy) -> UpstreamPolicy:
            if self.retries is not None:
                base = replace(base, retry=replace(base.retry, attempts=self.retries + 1))
            if self.bulkhead is not None:
                base = replace(base, bulkhead=replace(base.bulkhead, max_concurrent=self.bulkhead))
            if self.breaker_failures is not None:
                base = replace(base, breaker=replace(base.breaker, failures=self.breaker_failures))
            return base

        rate_limit = settings.rate_limit
        if self.rate_limit is not None:
            rate_limit = replace(rate_limit, requests=self.rate_limit)
        return replace(
            settings,
            upstream=policy(settings.upstream),
            namespaces={name: policy(p) for name, p in settings.namespaces.items()},
            rate_limit=rate_limit,
        )
