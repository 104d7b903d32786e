"""The HTTP edge: uvicorn's httptools protocol with bounded request heads, a head deadline, a
connection cap and clean refusals (issue 10, items 1, 2 and 7).

uvicorn's httptools protocol has no limit on a request head: httptools keeps an unfinished header
in a Python ``bytes`` that it re-concatenates for every piece received, so one connection sending a
head that never ends holds all of it in memory and costs CPU quadratic in its size. Nor does it
time a head: its keep-alive timer starts only after a first response and any byte cancels it.
``GuardedHttpToolsProtocol`` puts the missing checks in front of the same parser:

- every byte of a head is counted before it reaches httptools, and the connection is refused once
  the request line or the whole head passes its limit (414 or 431), so at most one read (256 KiB)
  past a limit is ever buffered; when the head is complete its request line, each header line,
  the header count and the total are checked exactly (the count above can lose track only of a
  head pipelined behind a chunked body, in the same read);
- a head must be complete within ``header_timeout`` seconds of the connection's start or of the
  end of the previous response; bytes trickling in do not extend it (408, or a quiet close when
  nothing at all was sent: a 408 on an idle keep-alive connection could be read by a client as the
  answer to the request it is sending at that moment);
- at most ``max_connections`` connections per process, all ports together; the next one gets a
  503 with ``Retry-After`` and is closed at once, so descriptors are never exhausted;
- an HTTP/1.1 request without ``Host``, or any request with two, is a 400 (RFC 9112 section 3.2);
  a WebSocket upgrade is a 400 (nothing here speaks WebSocket); other upgrades (``h2c``) are
  ignored as RFC 9110 section 7.8 allows, without a log line per request.

Refusals are RFC 9457 problems (D53) sent with ``Connection: close``; the connection then reads and
drops what the client still sends for ``linger`` seconds, so that the client reads the answer
instead of a reset. The app never sees a refused request.

Beyond ``Settings`` it depends on uvicorn, httptools and the standard library only, and on
``HttpToolsProtocol``'s per-connection attributes (``url``, ``headers``, ``parser``, ``cycle``,
``pipeline``, ``flow``, ``tasks``) and its ``_start_asgi_task``: a complete head is read into the
scope here, as uvicorn's ``on_headers_complete`` reads it, and served by ``answer_cycle.AnswerCycle``,
which writes each answer's head with its body (D159). tests/integration/edge pins the behaviour,
run it when upgrading uvicorn. Cost on a REST
pass-through (benchmarks/edge_options.py, 2 cores): 0.89x to 1.03x of plain httptools over three
runs whose noise is +-6%; cProfile puts ~1.6% of the gateway's CPU in this module. uvicorn's h11
protocol with its 32 KiB limit measured 0.73x, hypercorn 0.59x, granian 0.97x (and it would
replace the one-loop, many-ports runtime).
"""

from __future__ import annotations

import asyncio
import json
import resource
from http import HTTPStatus
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..records import dataclass
from ..settings import Settings
from .answer_cycle import AnswerCycle

READ_SIZE = 256 * 1024
"""The most one read brings (uvloop's and asyncio's read buffer): the slack past a limit."""
TIMER_SLACK = 0.01
"""A head deadline this close is taken as reached: event-loop timers round to milliseconds and may
fire a little early."""
MAX_LINGERING = 256
"""Refused-at-the-cap connections that may linger at once; beyond, they are closed at once so a
flood of connections cannot hold descriptors through the lingering itself."""


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit and return the soft limit now
    in force. Shells and service managers often start a process at a soft limit of 1,024 under a
    far higher hard one, and every held client connection is a descriptor: a gateway holding
    10,000 idle keep-alive connections (issue 22) must not need its users to run ``ulimit -n``
    first (D133). A limit the kernel refuses is left as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def default_max_connections() -> int:
    """4,096, or half the process's open-file limit if lower: the other half stays for the
    upstream pools, the listening sockets and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(16, min(4096, soft // 2))


@dataclass(frozen=True)
class GuardLimits:
    """The limits one process enforces; their defaults and meaning are ``Settings``'."""

    max_request_line: int
    """``METHOD SP target SP HTTP/1.1``, without its CRLF (414 beyond)."""
    max_header_size: int
    """One ``name: value`` header line, without its CRLF (431 beyond)."""
    max_headers: int
    """Header lines in one request (431 beyond)."""
    max_request_head: int
    """The request line, every header line and the empty line, CRLFs included (431 beyond)."""
    header_timeout: float
    """Seconds from the connection's start, or the end of the previous response, to a complete head."""
    max_connections: int
    """Open client connections per process, all ports together (503 beyond)."""
    linger: float = 1.0
    """Seconds a refused connection keeps reading (and dropping) input so its answer is read."""

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardLimits:
        return cls(
            settings.max_request_line,
            settings.max_header_size,
            settings.max_headers,
            settings.max_request_head,
            settings.header_timeout,
            settings.max_connections or default_max_connections(),
        )


class ConnectionGauge:
    """The connections of one process; shared by the protocol classes of all its ports."""

    def __init__(self) -> None:
        self.open = 0
        self.lingering = 0


class _Refusal(Exception):
    def __init__(self, status: int, detail: str, headers: tuple[str, ...] = ()):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def problem_response(status: int, detail: str, headers: tuple[str, ...] = ()) -> bytes:
    """A complete ``Connection: close`` response carrying an RFC 9457 problem."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": phrase, "status": status, "detail": detail}).encode()
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "content-type: application/problem+json",
        f"content-length: {len(body)}",
        "connection: close",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class FastAnswers(Protocol):
    """A port's fast path (``fast_path.FastLane``, D160), as the guard calls it."""

    def take(self, protocol: GuardedHttpToolsProtocol, method: str, raw_path: bytes, query: bytes) -> bool:
        """Answer the request whose head ``protocol`` has just read, if it may go fast."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection; use ``guarded_protocol`` to get a class bound to limits."""

    limits: ClassVar[GuardLimits]
    gauge: ClassVar[ConnectionGauge]
    fast: ClassVar[FastAnswers | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast = None if self.limit_concurrency is not None or self.root_path else self.fast
        """The port's REST fast path (D160), unless uvicorn itself must see each request."""
        self._counted = False
        self._lingering = False
        self._timer: asyncio.TimerHandle | None = None
        self._head_due: float | None = None
        """When the awaited request head must be complete; ``None`` while a request is served."""
        self._start_head()

    # --- connection -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.gauge.open >= self.limits.max_connections:
            self.transport = transport
            detail = f"the gateway is at its limit of {self.limits.max_connections} open connections; retry shortly"
            transport.write(problem_response(503, detail, ("retry-after: 1",)))
            if self.gauge.lingering < MAX_LINGERING:
                self.gauge.lingering += 1
                self._linger()
            else:
                transport.close()
            return
        self._counted = True
        self.gauge.open += 1
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering and not self._counted:
            self.gauge.lingering -= 1
        if not self._counted:
            return
        self._counted = False
        self.gauge.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self.timeout_keep_alive_task is not None:  # uvicorn's, never armed here (D132): no call
            self._unset_keepalive_if_required()
        if self._in_head:
            refusal = self._count_head(data)
            if refusal is not None:
                self._refuse(refusal)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refusal):
                self._refuse(exc.__context__)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            pass  # not WebSocket (refused with the head): served as plain HTTP/1.1 (RFC 9110 7.8)

    # --- the request head -----------------------------------------------------------------------

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._line_bytes = 0
        self._line_done = False
        self._tail = b""

    def _count_head(self, data: bytes) -> _Refusal | None:
        """Count the bytes of ``data`` that belong to the head; a refusal once a limit is passed."""
        limits = self.limits
        across = (self._tail + data[:3]).find(b"\r\n\r\n") if self._tail else -1
        if across >= 0:  # the blank line straddles two reads
            taken = across + 4 - len(self._tail)
        else:
            end = data.find(b"\r\n\r\n")
            taken = len(data) if end < 0 else end + 4
        if not self._line_done:
            newline = data.find(b"\n", 0, taken)
            self._line_done = newline >= 0
            self._line_bytes += taken if newline < 0 else newline + 1
            if self._line_bytes > limits.max_request_line + 2:
                return _Refusal(414, f"the request line passes the limit of {limits.max_request_line} bytes")
        self._head_bytes += taken
        if self._head_bytes > limits.max_request_head:
            if not self._line_done:
                return _Refusal(414, f"the request line passes the limit of {limits.max_request_line} bytes")
            return _Refusal(431, f"the request head passes the limit of {limits.max_request_head} bytes")
        self._tail = (self._tail + data[-3:])[-3:] if taken == len(data) else b""
        return None

    def _check_head(self, method: bytes) -> None:
        """The complete head, exactly: limits, ``Host`` and upgrades (raises ``_Refusal``)."""
        limits = self.limits
        request_line = len(method) + len(self.url) + 10
        if request_line > limits.max_request_line:
            raise _Refusal(414, f"the request line is {request_line} bytes; the limit is {limits.max_request_line}")
        headers = self.headers
        if len(headers) > limits.max_headers:
            raise _Refusal(431, f"the request has {len(headers)} header lines; the limit is {limits.max_headers}")
        total = request_line + 4
        hosts = 0
        for name, value in headers:
            size = len(name) + len(value) + 2
            if size > limits.max_header_size:
                raise _Refusal(
                    431,
                    f"header {name.decode('latin-1')[:64]!r} is {size} bytes; the limit is {limits.max_header_size}",
                )
            total += size + 2
            hosts += name == b"host"
        if total > limits.max_request_head:
            raise _Refusal(431, f"the request head is {total} bytes; the limit is {limits.max_request_head}")
        if hosts > 1 or (hosts == 0 and self.parser.get_http_version() == "1.1"):
            raise _Refusal(400, "an HTTP/1.1 request needs exactly one Host header (RFC 9112 section 3.2)")
        if self.parser.should_upgrade() and self._get_upgrade() == b"websocket":
            raise _Refusal(400, "this server does not accept WebSocket connections")

    def on_message_begin(self) -> None:
        """uvicorn's, without the scope: a fast answer (D160) needs none, so it is built only for
        a request that goes the ASGI way."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        """The head is checked, then answered by the port's fast path (D160) or read into a scope
        and served as uvicorn's own protocol does, by an ``AnswerCycle``: each answer's head goes
        out with its body (D159)."""
        self._head_due = None
        self._in_head = False
        parser = self.parser
        method = parser.get_method()
        self._check_head(method)
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        query = parsed_url.query or b""
        existing_cycle = self.cycle
        idle = existing_cycle is None or existing_cycle.response_complete
        fast = self._fast
        if fast is not None and idle and fast.take(self, method.decode("ascii"), raw_path, query):
            return
        http_version = parser.get_http_version()
        scope = self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": http_version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
            "method": method.decode("ascii"),
        }
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = query
        app = self.app
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        self.cycle = AnswerCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if idle:
            self._start_asgi_task(self.cycle, app)
        else:  # a pipelined request waits for the answer before it
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))

    def on_message_complete(self) -> None:
        """uvicorn's, in this frame (a call less per request), and the next head is counted."""
        cycle = self.cycle
        if not ((self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete):
            cycle.more_body = False
            cycle.message_event.set()
        self._start_head()

    def on_response_complete(self) -> None:
        """uvicorn's own version arms a keep-alive timer (5 s, whatever ``header_timeout`` says) after
        every response and cancels it at the next byte: a timer made and dropped per request, and a
        second timer per idle connection closing it before the head deadline would. The head
        deadline is the keep-alive timeout (D132): an idle connection is closed quietly once
        ``header_timeout`` passes without a complete head, by the one timer it already has."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        flow = self.flow
        if flow.read_paused:
            flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._expect_head()

    def _expect_head(self) -> None:
        """Start the head deadline. A keep-alive connection answers many requests per deadline, so
        the timer is not re-armed per request: it stays armed and, when it fires early, moves to
        the current deadline (one timer per ``header_timeout``, not a timer made and cancelled
        per request)."""
        self._head_due = self.loop.time() + self.limits.header_timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self._head_due, self._head_deadline)

    def _head_deadline(self) -> None:
        self._timer = None
        due = self._head_due
        if due is None or self.transport.is_closing():
            return  # a request is being served: the next response starts the next deadline
        if due - self.loop.time() > TIMER_SLACK:
            self._timer = self.loop.call_at(due, self._head_deadline)
            return
        if self._head_bytes:
            self._refuse(_Refusal(408, f"no complete request head within {self.limits.header_timeout:g} s"))
        else:
            self.transport.close()

    # --- refusing -------------------------------------------------------------------------------

    def _refuse(self, refusal: _Refusal) -> None:
        """Answer ``refusal`` and close; if a response is still being sent on this connection (a
        pipelined request), that response finishes and the connection closes without a second one."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.pipeline.clear()
            self.cycle.keep_alive = False
            self._lingering = True
            return
        self.transport.write(problem_response(refusal.status, refusal.detail, refusal.headers))
        self._linger()

    def _linger(self) -> None:
        """Half-close after the answer and drop whatever still comes, for at most ``linger`` s."""
        self._lingering = True
        self._disarm()
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(self.limits.linger, self.transport.close)

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def guarded_protocol(
    limits: GuardLimits, gauge: ConnectionGauge | None = None, fast: FastAnswers | None = None
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``; pass one ``gauge`` to every port
    of a process so that ``max_connections`` counts them together, and the port's ``fast`` lane
    (``FastLane.of``, D160) to answer plain REST calls without ASGI."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"limits": limits, "gauge": gauge or ConnectionGauge(), "fast": fast},
    )
