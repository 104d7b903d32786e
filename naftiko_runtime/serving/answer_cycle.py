"""One request's answer on a guarded connection: uvicorn's request-response cycle, writing each
answer's head together with its body (issue 22 item 2, D159).

uvicorn's cycle writes a response head as soon as the app sends ``http.response.start`` and the
body in a second write: two ``send`` system calls a request, and a segment more for the client to
wake up for. ``AnswerCycle`` holds the head until the first body message and writes both at once
(up to ``COALESCED`` body bytes are copied after it; a larger body goes out on its own). A held
head never waits past the current turn of the event loop (a streamed answer's head is not delayed
until its first chunk), unless the app says its body follows at once (``BODY_FOLLOWS`` in the start
message, as ``adapters.asgi.send_response`` does): then no flush is scheduled at all. Whatever ends
the answer early (the app failing, a close) writes a held head first, so bytes keep their order and
nothing is lost.

The head is written as uvicorn writes it (its status lines, the server's default headers first,
``connection: close`` when the connection will not be kept, chunked framing when no length is
given) and refused as uvicorn refuses it (an invalid header name or value is a ``RuntimeError``).
The rest of uvicorn's cycle (``receive``, 100-continue, disconnects, flow control) is used as it is.
"""

from __future__ import annotations

import asyncio

from uvicorn._types import ASGI3Application, ASGISendEvent
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from ..adapters.asgi import BODY_FOLLOWS

COALESCED = 64 * 1024
"""Up to this many body bytes are copied after a held head; a larger body is written on its own."""
HEADS_KEPT = 256
"""Answer heads ``encode_head`` keeps by what they were made from; then it forgets them and keeps anew."""
HEAD_KEPT_BYTES = 1024
"""Only heads this short are kept: the memory stays small whatever an upstream's headers are."""
Encoded = tuple[bytes, bool, int, bool | None]
_heads: dict[tuple[object, ...], Encoded] = {}
"""Heads already encoded, by status, keep-alive, method and header lines (``encode_head``)."""


def encode_head(status_code: int, headers: list[tuple[bytes, bytes]], keep_alive: bool, method: str) -> Encoded:
    """An answer's head as uvicorn writes it, with whether the connection stays open, the body
    length still expected and whether the body goes chunked (``None``: no body, a HEAD answer).
    Shared by ``AnswerCycle`` and the REST fast path (D160), so their bytes cannot differ. An
    invalid header name or value is a ``RuntimeError``, as uvicorn's. A head is a function of what
    it is made from, and a route's answers repeat it (the server's lines, the date of this second,
    the route's type and length): the last ``HEADS_KEPT`` are kept by it, where checking and
    writing each line (two regular-expression searches a line) was ~4% of a pass-through (D166)."""
    key = (status_code, keep_alive, method, *headers)
    try:
        kept = _heads.get(key)
    except TypeError:  # a header line given as a list (ASGI takes any pair): written, not kept
        return _encoded_head(status_code, headers, keep_alive, method)
    if kept is not None:
        return kept
    encoded = _encoded_head(status_code, headers, keep_alive, method)
    if len(encoded[0]) <= HEAD_KEPT_BYTES:
        if len(_heads) >= HEADS_KEPT:
            _heads.clear()
        _heads[key] = encoded
    return encoded


def _encoded_head(status_code: int, headers: list[tuple[bytes, bytes]], keep_alive: bool, method: str) -> Encoded:
    content = [STATUS_LINE[status_code]]
    chunked: bool | None = None
    expected = 0
    has_connection_close = False
    for name, value in headers:
        if HEADER_RE.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
        name = name.lower()
        if name == b"content-length" and chunked is None:
            expected = int(value.decode())
            chunked = False
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            expected = 0
            chunked = True
        elif name == b"connection":
            if b"close" in [token.lower().strip() for token in value.split(b",")]:
                keep_alive = False
                has_connection_close = True
        content.extend((name, b": ", value, b"\r\n"))
    if not keep_alive and not has_connection_close:
        content.append(b"connection: close\r\n")
    if chunked is None and method != "HEAD" and status_code not in (204, 304):
        chunked = True
        content.append(b"transfer-encoding: chunked\r\n")
    content.append(b"\r\n")
    return b"".join(content), keep_alive, expected, chunked


class AnswerCycle(RequestResponseCycle):
    """uvicorn's ``RequestResponseCycle`` with the answer's head held for its body (module doc)."""

    held: bytes | None = None
    """The answer's head, written with the first body message or at the end of this turn (a class
    default: no ``__init__`` of its own, which cost more than it saved)."""

    async def run_asgi(self, app: ASGI3Application) -> None:
        """uvicorn's, with a held head written before the connection closes on a failure."""
        try:
            result: object = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self._close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self._close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self._close()
        finally:
            self.on_response = lambda: None

    async def send(self, message: ASGISendEvent) -> None:
        """uvicorn's ``send``, written in one function as uvicorn's is (a call less per message
        is a few percent of a pass-through), holding the head for the body."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self.waiting_for_100_continue = False
            status_code = message["status"]
            headers = self.default_headers + list(message.get("headers", []))
            if self.access_log:
                self.access_logger.info(
                    '%s - "%s %s HTTP/%s" %d',
                    get_client_addr(self.scope),
                    self.scope["method"],
                    get_path_with_query_string(self.scope),
                    self.scope["http_version"],
                    status_code,
                )
            self.held, self.keep_alive, self.expected_content_length, self.chunked_encoding = encode_head(
                status_code, headers, self.keep_alive, self.scope["method"]
            )
            if message.get(BODY_FOLLOWS) is not True:
                asyncio.get_running_loop().call_soon(self.flush)
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            body = b""
        elif self.chunked_encoding:
            chunk = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            body = chunk if more_body else chunk + b"0\r\n\r\n"
        elif len(body) > self.expected_content_length:
            self.flush()
            raise RuntimeError("Response content longer than Content-Length")
        else:
            self.expected_content_length -= len(body)
        held = self.held
        if held is None:
            if body:
                self.transport.write(body)
        elif len(body) <= COALESCED:
            self.held = None
            self.transport.write(held + body)
        else:
            self.held = None
            self.transport.write(held)
            self.transport.write(body)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def flush(self) -> None:
        """Write a held head now (the end of the turn it was sent in, or before a close)."""
        held, self.held = self.held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def _close(self) -> None:
        self.flush()
        self.transport.close()
