"""The span export's POST, written and its answer read on a kept-alive socket (issue 22 item 2, D196).

``http.client`` cost ~330k instructions an export here, ~1.3k a traced request at 512 spans a batch:
per request its line and header checks, per answer a file object and a buffered reader made, the
answer's head read line by line and parsed again by the ``email`` package. An export needs less:
its head is the same every time but for the body's length (written once per endpoint, in the order
``http.client`` wrote it), and of the answer only its status counts. The answer is read by
httptools' response parser (llhttp, as the runtime's upstream transport reads answers:
``core.http1_connection``), which finds its end (a length, chunks, or the connection's close) and
says whether the connection stays open.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Mapping

import httptools

HEAD_LIMIT = 64 * 1024
"""Bytes an answer may send before its head ends (``http.client``: 100 lines of up to 64 KiB)."""
_LEGAL_NAME = re.compile(r"[^:\s][^:\r\n]*").fullmatch
_ILLEGAL_VALUE = re.compile(r"\n(?![ \t])|\r(?![ \t\n])").search
_DISALLOWED_IN_PATH = re.compile("[\x00-\x20\x7f]").search
"""The checks ``http.client`` made on every request, made once here."""


def _head(host: str, port: int, tls: bool, path: str, headers: Mapping[str, str]) -> tuple[bytes, bytes]:
    """The request's head before and after its length, checked and encoded as ``http.client`` did
    (the host as IDNA, header names as ASCII, values as Latin-1); ``ValueError`` where it refused."""
    try:
        authority = host.encode("ascii")
    except UnicodeEncodeError:
        authority = host.encode("idna")
    if ":" in host:
        authority = b"[" + authority + b"]"
    if port != (443 if tls else 80):
        authority += b":%d" % port
    if _DISALLOWED_IN_PATH(path):
        raise ValueError(f"the path {path!r} is not valid")
    lines = [b""]
    for name, value in headers.items():
        if not _LEGAL_NAME(name) or _ILLEGAL_VALUE(value):
            raise ValueError(f"the header {name!r} is not valid")
        lines.append(name.encode("ascii") + b": " + value.encode("latin-1"))
    head = b"POST " + path.encode("ascii") + b" HTTP/1.1\r\nHost: " + authority
    return head + b"\r\nAccept-Encoding: identity\r\nContent-Length: ", b"\r\n".join(lines) + b"\r\n\r\n"


class AnswerError(Exception):
    """The collector's answer is not HTTP/1.1, too large a head, or cut off before its head ended;
    or the export's head cannot be written (a header from the environment that is not valid)."""


class _Answer:
    """httptools' callbacks for one answer: its status, its end, whether the connection stays."""

    __slots__ = ("complete", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.complete = self.keep_alive = False

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:  # else an interim answer (100, 103): the final one follows
            self.status, self.keep_alive = status, self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.complete = self.status != 0


class Collector:
    """A kept-alive connection to one OTLP/HTTP endpoint, and the head of every export to it."""

    def __init__(
        self, host: str, port: int, path: str, headers: Mapping[str, str], tls: ssl.SSLContext | None, timeout: float
    ):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.head, self.rest, self.invalid = b"", b"", ""
        """The head around the body's length, as ``http.client`` wrote it: ``Host``,
        ``Accept-Encoding``, ``Content-Length``, then the export's headers; or why it cannot be."""
        try:
            self.head, self.rest = _head(host, port, tls is not None, path, headers)
        except ValueError as exc:  # a ``UnicodeError`` too: a name or value it could not encode
            self.invalid = str(exc)
        self.sock: socket.socket | None = None

    def post(self, body: bytes) -> int:
        """The status of the answer to ``body``, POSTed on the kept-alive connection (opened if
        none is); raises ``OSError`` or ``AnswerError`` (the connection is closed then)."""
        if self.invalid:
            raise AnswerError(self.invalid)
        sock = self.sock if self.sock is not None else self._connect()
        try:
            sock.sendall(self.head + b"%d" % len(body) + self.rest)
            sock.sendall(body)
            return self._answer(sock)
        except BaseException:
            self.close()
            raise

    def _answer(self, sock: socket.socket) -> int:
        answer = _Answer()
        received = 0
        while not answer.complete:
            data = sock.recv(65536)
            if not data:  # closed: an answer without a length ends so, any other was cut off
                if not answer.status:
                    raise AnswerError("the collector closed the connection without answering")
                self.close()
                return answer.status
            received += len(data)
            try:
                answer.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                raise AnswerError(f"the collector's answer is not HTTP/1.1 ({exc})") from exc
            if not answer.status and received > HEAD_LIMIT:
                raise AnswerError(f"the collector's answer head is larger than {HEAD_LIMIT} bytes")
        if not answer.keep_alive:
            self.close()
        return answer.status

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the body follows its head at once
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
