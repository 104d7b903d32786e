"""Helpers for the edge suite (issue 10): ``naftiko serve`` as a real subprocess, a raw-socket
upstream that records request targets byte for byte and can answer anything, and raw HTTP.

Nothing here imports ``naftiko_runtime``: the suite is black-box, so it keeps working while the
package is restructured. From ``tests/support`` only the names the brief allows are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import support
from support import API_KEY, ServedGateway

REST, MCP = 8080, 9090
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# --- the gateway as a subprocess ------------------------------------------------------------------


def served(
    tmp_path: Path, upstream_url: str, *extra: str, env: dict[str, str] | None = None, files: list[Path] | None = None
) -> contextlib.AbstractContextManager[ServedGateway]:
    """``support.served`` with the gateway's key set (the attacks here are about what it protects)."""
    return support.served(
        tmp_path, upstream_url, *extra, env={"POLYTOMIC_API_KEY": API_KEY, **(env or {})}, files=files
    )


# --- a raw upstream ---------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the raw upstream writes back: ``data`` as is, after ``delay`` seconds; then it either
    keeps serving the connection, hangs on it (``hang``: nothing more is ever written) or closes."""

    data: bytes
    delay: float = 0.0
    hang: bool = False
    close: bool = False


def json_reply(body: bytes = b'{"data": []}', status: str = "200 OK") -> Reply:
    return Reply(
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


@dataclass
class Seen:
    method: bytes
    target: bytes
    """The request-target exactly as it arrived on the wire."""
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower().encode():
                return value.decode("latin-1")
        return None


class RawUpstream:
    """An HTTP/1.1 upstream on raw asyncio sockets, in its own thread: it records every request
    target byte for byte (``http.server`` would decode and normalise it) and answers whatever
    ``respond`` returns, odd status lines included."""

    def __init__(self, respond: Callable[[Seen], Reply] | None = None) -> None:
        self.respond = respond or (lambda seen: json_reply())
        self.seen: list[Seen] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawUpstream:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=2048, limit=64 * 1024 * 1024), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self, respond: Callable[[Seen], Reply] | None = None) -> None:
        self.seen.clear()
        self.respond = respond or (lambda seen: json_reply())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head[:-4].split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])]
                length = next((int(v) for k, v in headers if k.lower() == b"content-length"), 0)
                seen = Seen(method, target, headers, await reader.readexactly(length) if length else b"")
                self.seen.append(seen)
                reply = self.respond(seen)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                writer.write(reply.data)
                await writer.drain()
                if reply.hang:
                    await reader.read()  # until the gateway gives up and closes
                    return
                if reply.close:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


# --- raw HTTP to the gateway --------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool = False
    """The server closed the connection (or reset it) after this response, or instead of one."""
    seconds: float = 0.0
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_response(buffer: bytes) -> RawResponse | None:
    """The first complete response in ``buffer`` (Content-Length framed or without a body)."""
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not match:
        return RawResponse(None, {}, buffer, raw=buffer)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(rest) < length:
        return None
    return RawResponse(int(match.group(1)), headers, rest[:length], raw=buffer)


def read_response(sock: socket.socket, timeout: float) -> RawResponse:
    """Read until one response is complete or the server closes; note whether it closed."""
    started = time.monotonic()
    deadline = started + timeout
    buffer = b""
    parsed: RawResponse | None = None
    closed = False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        buffer += chunk
        parsed = parse_response(buffer)
        if parsed is not None and "close" in parsed.headers.get("connection", ""):
            continue  # a refusal announces the close: wait for it
        if parsed is not None:
            break
    parsed = parse_response(buffer) or RawResponse(None, {}, buffer, raw=buffer)
    parsed.closed = closed
    parsed.seconds = time.monotonic() - started
    return parsed


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> RawResponse:
    """Send ``data`` as it is on a new connection, then read the first response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return read_response(sock, timeout)


def request_bytes(
    method: str,
    target: str,
    host: str | None = "127.0.0.1",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- MCP over plain HTTP (the endpoint is stateless: no session to open) ---------------------------


def mcp_call(gateway: ServedGateway, tool: str, arguments: dict, timeout: float = 30) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = httpx.post(gateway.url(MCP) + "/mcp", json=message, headers=MCP_HEADERS, timeout=timeout)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    document = response.json()
    assert "result" in document, document
    return document["result"]


def result_text(result: dict) -> str:
    return " ".join(part.get("text", "") for part in result.get("content", []))
