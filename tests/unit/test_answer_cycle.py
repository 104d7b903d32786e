"""D159: an answer's head goes out with its body in one write (issue 15's one write per answer,
now written by ``serving.answer_cycle.AnswerCycle``), never later than the turn of the event loop it
was sent in unless the app says its body follows, and always before a close; the bytes are those
uvicorn's own cycle writes (compared write for write, joined)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from naftiko_runtime.adapters.asgi import BODY_FOLLOWS
from naftiko_runtime.serving.answer_cycle import COALESCED, AnswerCycle

LOG = logging.getLogger("test")
DATE = [(b"date", b"Mon, 07 Dec 2026 04:00:00 GMT")]


class _RecordingTransport:
    """What a connection's socket was given, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _cycle(kind: type[RequestResponseCycle], *, method: str = "GET", keep_alive: bool = True) -> Any:
    transport = _RecordingTransport()
    cycle = kind(
        scope={"method": method, "http_version": "1.1", "type": "http"},  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=LOG,
        access_logger=LOG,
        access_log=False,
        default_headers=DATE,
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    return cycle, transport


def _answer(status: int, header: tuple[bytes, bytes], *bodies: tuple[bytes, bool]) -> list[dict[str, Any]]:
    """An answer's messages: the start with one header, then each body and whether more follows."""
    start = {"type": "http.response.start", "status": status, "headers": [header]}
    return [start, *({"type": "http.response.body", "body": b, "more_body": more} for b, more in bodies)]


ANSWERS = [
    ("GET", True, _answer(200, (b"Content-Length", b"2"), (b"{}", False))),
    ("GET", False, _answer(404, (b"content-type", b"text/plain"), (b"no", True), (b"", False))),
    ("HEAD", True, _answer(200, (b"content-length", b"5"), (b"", False))),
    ("GET", True, _answer(204, (b"connection", b"close"), (b"", False))),
]


@pytest.mark.parametrize(("method", "keep_alive", "messages"), ANSWERS)
async def test_the_bytes_are_uvicorns_and_the_head_goes_out_with_the_body(method, keep_alive, messages):
    theirs, their_writes = _cycle(RequestResponseCycle, method=method, keep_alive=keep_alive)
    ours, our_writes = _cycle(AnswerCycle, method=method, keep_alive=keep_alive)
    for message in messages:
        await theirs.send(dict(message))
        await ours.send(dict(message))
    await asyncio.sleep(0)
    assert b"".join(our_writes.writes) == b"".join(their_writes.writes)
    ours_written = [w for w in our_writes.writes if w]
    theirs_written = [w for w in their_writes.writes if w]
    assert len(ours_written) == max(1, len(theirs_written) - 1)  # the head and the first body in one
    assert (ours.keep_alive, our_writes.closed) == (theirs.keep_alive, their_writes.closed)


async def test_a_streamed_head_is_not_held_past_its_turn_unless_the_body_follows():
    cycle, transport = _cycle(AnswerCycle)
    start = {"type": "http.response.start", "status": 200, "headers": [(b"transfer-encoding", b"chunked")]}
    await cycle.send(start)
    assert transport.writes == []
    await asyncio.sleep(0)
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\n")

    promised, written = _cycle(AnswerCycle)
    await promised.send({**start, BODY_FOLLOWS: True})
    await asyncio.sleep(0)
    assert written.writes == []  # no flush scheduled: the body brings the head
    await promised.send({"type": "http.response.body", "body": b"ab"})
    assert written.writes == [written.writes[0]] and written.writes[0].endswith(b"2\r\nab\r\n0\r\n\r\n")


async def test_a_large_body_is_not_copied_after_its_head():
    cycle, transport = _cycle(AnswerCycle)
    big = b"x" * (COALESCED + 1)
    await cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(big))]})
    await cycle.send({"type": "http.response.body", "body": big})
    assert len(transport.writes) == 2 and transport.writes[1] is big


async def test_a_failing_app_still_writes_the_held_head_before_the_close():
    cycle, transport = _cycle(AnswerCycle)

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], BODY_FOLLOWS: True})
        raise RuntimeError("the app broke")

    await cycle.run_asgi(failing)
    assert transport.writes and transport.writes[0].startswith(b"HTTP/1.1 200 OK") and transport.closed


@pytest.mark.parametrize(("header", "error"), [((b"bad name", b"v"), "name"), ((b"x-ok", b"a\nb"), "value")])
async def test_an_invalid_header_is_refused_as_uvicorn_refuses_it(header, error):
    cycle, transport = _cycle(AnswerCycle)
    with pytest.raises(RuntimeError, match=f"Invalid HTTP header {error}"):
        await cycle.send({"type": "http.response.start", "status": 200, "headers": [header]})
    assert transport.writes == []
