"""Logging to stderr, with every known secret scrubbed from every record (CONTRACT D55).

Secrets are known once the binds are resolved; the filter sits on the handler so that records
from any library (uvicorn, httpx, mcp) pass through it too.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from ..core.redaction import longest_first, redact_text

LEARNT_KEPT = 64
"""Secrets learnt while serving (fetched tokens) kept scrubbed; older ones have long expired."""


class SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self._static: tuple[str, ...] = ()
        self._learnt: deque[str] = deque(maxlen=LEARNT_KEPT)

    def add(self, secrets: Iterable[str]) -> None:
        """Secrets known when files load (bind values, client secrets): kept for the whole serve."""
        self._static = (*self._static, *secrets)
        self.secrets = longest_first([*self._static, *self._learnt])

    def learn(self, secret: str) -> None:
        """A secret learnt while serving (a fetched access token, D55): one token per refresh would
        otherwise grow the list, and the cost of every log line, for as long as the serve runs."""
        self._learnt.append(secret)
        self.add(())

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = redact_text(record.getMessage(), self.secrets), None
            if record.exc_info:
                record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), self.secrets)
                record.exc_info = None
        return True


SECRETS = SecretFilter()


REQUEST_FIELDS = ("adapter", "operation", "status", "duration_ms", "trace_id")
"""What a request's log line carries (``extra=``), as top-level keys of its JSON object."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line. It formats records the ``SecretFilter`` has already scrubbed:
    the message and the exception text; request fields hold no secret (names, status, times)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update((name, getattr(record, name)) for name in REQUEST_FIELDS if hasattr(record, name))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return orjson.dumps(document, default=str).decode()


def configure(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if log_format == "json" else text)
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The mcp package logs a line per stateless request ("Terminating session: None"): noise unless debugging.
    logging.getLogger("mcp.server.streamable_http").setLevel("DEBUG" if level.upper() == "DEBUG" else "WARNING")
