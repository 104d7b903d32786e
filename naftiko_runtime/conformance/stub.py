"""The upstream played by the runner: a real HTTP/1.1 server on loopback that answers a case's
exchanges and records what it received.

An exchange is both a match (what the upstream must receive) and a response (``respond``). A
received request is given to the first unused exchange whose ``method`` and ``path`` fit, else to
the first unused exchange (so that the diff shows what differed), else it is *unexpected* and
answered ``501``. An exchange with ``digest:`` performs a real HTTP Digest challenge (RFC 7616,
MD5, qop=auth): requests without valid credentials get ``401`` with ``WWW-Authenticate`` and do not
use the exchange up.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .match import (
    ABSENT,
    base64_body,
    check_body,
    compare,
    compare_headers,
    normalize_pairs_expectation,
    pairs_to_mapping,
    show,
)
from .tokens import authorization_server

MATCH_KEYS = {
    "method",
    "path",
    "query",
    "query_subset",
    "query_raw",
    "headers",
    "cookies",
    "digest",
    "json",
    "json_subset",
    "jsonpath",
    "text",
    "form",
    "multipart",
    "empty",
    "base64",
}
EXCHANGE_KEYS = MATCH_KEYS | {"respond", "optional", "times", "note"}
RESPONSE_KEYS = {"status", "headers", "json", "text", "base64", "delay", "drop"}


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def describe(self) -> str:
        return f"{self.method} {self.target}"


@dataclass
class Step:
    exchanges: list[dict[str, Any]]
    received: list[tuple[Received, int | None]] = field(default_factory=list)
    uses: list[int] = field(default_factory=list)
    challenges: int = 0

    def __post_init__(self) -> None:
        self.uses = [0] * len(self.exchanges)


def _digest_params(header: str) -> dict[str, str]:
    return {k.lower(): (v1 if v1 else v2) for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_ok(spec: dict[str, Any], request: Received, nonces: set[str]) -> bool:
    header = request.header("authorization") or ""
    if not header.lower().startswith("digest "):
        return False
    p = _digest_params(header[7:])
    realm = spec.get("realm", "conformance")
    if p.get("username") != spec["username"] or p.get("realm") != realm or p.get("nonce") not in nonces:
        return False
    if p.get("uri") != request.target:
        return False
    ha1 = _md5(f"{spec['username']}:{realm}:{spec['password']}")
    ha2 = _md5(f"{request.method}:{p['uri']}")
    if p.get("qop"):
        expected = _md5(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
    else:
        expected = _md5(f"{ha1}:{p['nonce']}:{ha2}")
    return p.get("response") == expected


class StubUpstream:
    def __init__(self) -> None:
        self.step = Step([])
        self.lock = threading.Lock()
        self.nonces: set[str] = set()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    body = self.rfile.read(length)
                elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = self._read_chunked()
                else:
                    body = b""
                request = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                document = authorization_server(request.path, stub.url) if self.command == "GET" else None
                if document is not None:  # the stub as an authorization server: never an exchange
                    stub._send(self, 200, {"Content-Type": "application/json"}, json.dumps(document).encode())
                    return
                stub.answer(self, request)

            def _read_chunked(self) -> bytes:
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> StubUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expect(self, exchanges: list[dict[str, Any]]) -> Step:
        with self.lock:
            self.step = Step(exchanges)
            return self.step

    def _choose(self, step: Step, request: Received) -> int | None:
        free = [i for i, ex in enumerate(step.exchanges) if step.uses[i] < ex.get("times", 1)]
        for i in free:
            ex = step.exchanges[i]
            if "method" in ex and str(ex["method"]).upper() != request.method:
                continue
            if "path" in ex and compare(ex["path"], request.path, subset=True):
                continue
            return i
        return free[0] if free else None

    def answer(self, handler: BaseHTTPRequestHandler, request: Received) -> None:
        with self.lock:
            step = self.step
            index = self._choose(step, request)
            exchange = step.exchanges[index] if index is not None else None
            if (
                exchange is not None
                and "digest" in exchange
                and not digest_ok(exchange["digest"], request, self.nonces)
            ):
                step.challenges += 1
                nonce = secrets.token_hex(16)
                self.nonces.add(nonce)
                realm = exchange["digest"].get("realm", "conformance")
                self._send(
                    handler,
                    401,
                    {
                        "WWW-Authenticate": f'Digest realm="{realm}", qop="auth", nonce="{nonce}", '
                        f'opaque="{secrets.token_hex(8)}", algorithm=MD5'
                    },
                    b'{"error":"digest credentials required"}',
                )
                return
            step.received.append((request, index))
            if index is not None:
                step.uses[index] += 1
        if exchange is None:
            self._send(
                handler,
                501,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"conformance_stub": "no exchange expected this request", "request": request.describe()}
                ).encode(),
            )
            return
        respond = exchange.get("respond") or {}
        if respond.get("delay"):
            time.sleep(float(respond["delay"]))
        if respond.get("drop"):
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {str(k): str(v) for k, v in (respond.get("headers") or {}).items()}
        if "json" in respond:
            payload = json.dumps(respond["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "text" in respond:
            payload = str(respond["text"]).encode()
        elif "base64" in respond:
            payload = base64_body(respond["base64"])
        else:
            payload = b"" if "status" in respond or respond else b"{}"
            if not respond:
                headers.setdefault("Content-Type", "application/json")
        self._send(handler, int(respond.get("status", 200)), headers, payload)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if status not in (204, 304) and handler.command != "HEAD":
                handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if status not in (204, 304) and handler.command != "HEAD":
                handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def check_step(step: Step) -> list[str]:
    """What the upstream should have received during a step, against what it did."""
    problems: list[str] = []
    for request, index in step.received:
        if index is None:
            problems.append(f"upstream: unexpected request {request.describe()}")
    for i, exchange in enumerate(step.exchanges):
        label = f"upstream[{i}]"
        got = [r for r, idx in step.received if idx == i]
        want_at_least = 0 if exchange.get("optional") else exchange.get("times", 1)
        if len(got) < want_at_least:
            problems.append(
                f"{label}: never received (expected {exchange.get('method', '')} {exchange.get('path', '')})".replace(
                    "  ", " "
                )
            )
            continue
        for request in got:
            problems += match_request(exchange, request, label)
        if "digest" in exchange and step.challenges == 0 and got:
            problems.append(f"{label}: digest credentials were sent without a challenge (pre-emptive)")
    return problems


def match_request(exchange: dict[str, Any], request: Received, label: str) -> list[str]:
    problems: list[str] = []
    label = f"{label} ({request.describe()})"
    if "method" in exchange:
        problems += compare(str(exchange["method"]).upper(), request.method, f"{label} method")
    if "path" in exchange:
        problems += compare(exchange["path"], request.path, f"{label} path", subset=True)
    if "query_raw" in exchange:
        problems += compare(exchange["query_raw"], request.raw_query, f"{label} raw query", subset=True)
    if "query" in exchange:
        problems += compare(
            normalize_pairs_expectation(exchange["query"] or {}),
            pairs_to_mapping(request.query),
            f"{label} query",
            subset=False,
        )
    if "query_subset" in exchange:
        problems += compare(
            normalize_pairs_expectation(exchange["query_subset"]),
            pairs_to_mapping(request.query),
            f"{label} query",
            subset=True,
        )
    if "headers" in exchange:
        problems += compare_headers(exchange["headers"] or {}, request.headers, label)
    if "cookies" in exchange:
        jar = SimpleCookie()
        try:
            jar.load(request.header("cookie") or "")
        except Exception:
            pass
        cookies = {k: m.value for k, m in jar.items()}
        for name, value in (exchange["cookies"] or {}).items():
            problems += compare(
                value if isinstance(value, dict) else str(value),
                cookies.get(name, ABSENT),
                f"{label} cookie {name}",
                subset=True,
            )
    problems += check_body(exchange, request.body, request.header("content-type") or "", label)
    return problems


def describe_received(step: Step) -> str:
    return "; ".join(f"{r.describe()} {show(r.body.decode('utf-8', 'replace'))}" for r, _ in step.received) or "nothing"
