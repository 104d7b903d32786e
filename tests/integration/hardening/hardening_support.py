"""Helpers for the hardening suite (issue 6): counters, a fault-injecting upstream, raw HTTP,
and the gateway as a real ``naftiko serve`` subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

COUNTS: dict[str, object] = {}
"""Figures reported at the end of the run (``pytest_terminal_summary`` in tests/conftest.py)."""


def report(name: str, value: object) -> None:
    COUNTS[name] = value


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def rss_kib(pid: int | str = "self", field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


# --- raw HTTP ---------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int | None
    headers: dict[str, str]
    body: bytes


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> RawResponse:
    """Send bytes as they are; read until the first response is complete or the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buffer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            buffer += chunk
            parsed = _parse_response(buffer)
            if parsed is not None:
                return parsed
    return _parse_response(buffer, final=True) or RawResponse(None, {}, buffer)


def _parse_response(buffer: bytes, final: bool = False) -> RawResponse | None:
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not match:
        return RawResponse(None, {}, buffer)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and len(rest) < int(length) and not final:
        return None
    if length is None and not final and "chunked" not in headers.get("transfer-encoding", ""):
        return None
    return RawResponse(int(match.group(1)), headers, rest[: int(length)] if length else rest)


# --- a fault-injecting upstream ---------------------------------------------------------------

Behaviour = Callable[[str, str], str]
"""``(method, target) -> mode``: which fault to play for a request."""

JSON_BODY = b'{"data": [{"id": "s-1", "name": "nightly"}]}'
BIG_CHUNK = b"x" * (1024 * 1024)


class FaultUpstream:
    """A raw asyncio HTTP/1.1 server whose answers are wrong on purpose (issue 6, item 4).

    It runs either in the caller's event loop (``async with``) or in its own thread (``with``).
    """

    def __init__(self, behave: Behaviour | str = "json") -> None:
        self.behave: Behaviour = (lambda m, t: behave) if isinstance(behave, str) else behave
        self.received: list[tuple[str, str, dict[str, str]]] = []
        self.port = 0
        self.server: asyncio.AbstractServer | None = None
        self.delay = 1.5
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: str) -> None:
        self.behave = lambda m, t: mode
        self.received.clear()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def __aenter__(self) -> FaultUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FaultUpstream:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                fields = (line.partition(":") for line in lines[1:] if line)
                headers = {k.strip().lower(): v.strip() for k, _, v in fields}
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                self.received.append((method, target, headers))
                keep = await self._answer(self.behave(method, target), reader, writer, headers)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(
        self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> bool:
        """Plays one mode; returns whether the connection may serve another request."""

        def head(status: str, fields: dict[str, str]) -> bytes:
            return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()

        def ok(body: bytes, content_type: str = "application/json") -> bytes:
            return head("200 OK", {"Content-Type": content_type, "Content-Length": str(len(body))}) + body

        if mode == "json":
            writer.write(ok(JSON_BODY))
        elif mode == "delay":
            await asyncio.sleep(self.delay)
            writer.write(ok(JSON_BODY))
        elif mode == "echo_headers":
            import json

            body = json.dumps({"received": headers}).encode()
            writer.write(
                head("401 Unauthorized", {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body
            )
        elif mode == "echo_headers_ok":
            import json

            writer.write(ok(json.dumps({"received": headers}).encode()))
        elif mode == "hang":
            await reader.read()  # until the gateway gives up and closes
            return False
        elif mode == "slow_headers":
            await asyncio.sleep(30)
            writer.write(ok(JSON_BODY))
        elif mode == "slow_body":
            writer.write(head("200 OK", {"Content-Type": "application/json", "Content-Length": "4000"}))
            for _ in range(4000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.25)
        elif mode == "reset":
            writer.write(head("200 OK", {"Content-Type": "application/json", "Content-Length": "1000"}) + b'{"data": [')
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif mode == "short_body":
            writer.write(
                head("200 OK", {"Content-Type": "application/json", "Content-Length": "100"}) + b'{"data": [1, 2'
            )
            await writer.drain()
            return False
        elif mode == "truncated_json":
            writer.write(ok(b'{"data": [{"id": "s-1", "na'))
        elif mode == "html_as_json":
            writer.write(ok(b"<html><body>maintenance</body></html>"))
        elif mode == "json_as_html":
            writer.write(ok(JSON_BODY, "text/html; charset=utf-8"))
        elif mode == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
            await writer.drain()
            return False
        elif mode in ("huge_declared", "huge_close", "huge_chunked"):
            size = 50 * 1024 * 1024
            fields = {"Content-Type": "application/json"}
            if mode == "huge_declared":
                fields["Content-Length"] = str(size)
            elif mode == "huge_chunked":
                fields["Transfer-Encoding"] = "chunked"
            else:
                fields["Connection"] = "close"
            writer.write(head("200 OK", fields))
            for _ in range(size // len(BIG_CHUNK)):
                writer.write(b"%x\r\n%s\r\n" % (len(BIG_CHUNK), BIG_CHUNK) if mode == "huge_chunked" else BIG_CHUNK)
                await writer.drain()
            if mode == "huge_chunked":
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            return False
        elif mode.startswith("redirect:"):
            writer.write(head("302 Found", {"Location": mode[len("redirect:") :], "Content-Length": "0"}))
        else:
            raise AssertionError(f"unknown mode {mode}")
        await writer.drain()
        return True


class ConnectionCounter:
    """A listener that only counts connections: the 'other host' a redirect points to."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}/steal"
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                connection, _ = self.sock.accept()
                self.accepted += 1
                connection.close()
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


async def run_in_thread(function: Callable[[], object], timeout: float) -> object:
    return await asyncio.wait_for(asyncio.to_thread(function), timeout)


def tally(values: list[object]) -> dict[object, int]:
    return dict(Counter(values))


Action = Callable[[], Awaitable[None]]
