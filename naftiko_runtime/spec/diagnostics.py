"""Positioned load-time messages (CONTRACT D1, D4).

Checks anywhere in the loader report *where* a problem is as a path into the document
(``("capability", "exposes", 0, "port")``); only when a message is shown is that path turned
into ``file:line:column`` by the source document, so that the fast path (a valid file) never
pays for position tracking.
"""

from __future__ import annotations

from enum import StrEnum

from ..records import dataclass

DocPath = tuple[str | int, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """A problem found at a path of a document, before it is given a line and column."""

    severity: Severity
    at: DocPath
    message: str

    @classmethod
    def error(cls, at: DocPath, message: str) -> Finding:
        return cls(Severity.ERROR, at, message)

    @classmethod
    def warning(cls, at: DocPath, message: str) -> Finding:
        return cls(Severity.WARNING, at, message)


@dataclass(frozen=True)
class Diagnostic:
    """A finding with its place in a file: what ``naftiko validate`` prints, one per line."""

    file: str
    line: int
    column: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity.value}: {self.message}"


def path_text(at: DocPath) -> str:
    """``("capability", "exposes", 0, "port")`` -> ``capability.exposes[0].port``."""
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"
