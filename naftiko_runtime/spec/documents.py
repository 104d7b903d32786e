"""A capability as the builder reads it, and where each of its nodes was written (CONTRACT D70, D71).

The builder reads one shape of data, the alpha2 one. A document written in another dialect is
normalised into it (``dialects``) and the entries it imports from other files are spliced into it
(``imports``). Both change paths: a beta4 tool ``tools.get-ship`` becomes ``tools[0]``, an imported
consumes entry lives in another file. ``Document.origins`` records, at every place a path changes,
where that node was written; ``locate`` turns any path of the builder's data back into a file and
a path in it, so that every diagnostic points at the line and column the user wrote.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from ..records import dataclass
from .diagnostics import Diagnostic, DocPath, Finding
from .source import SourceDocument

Origin = tuple[SourceDocument, DocPath]


@dataclass
class Document:
    """The builder's data for one capability file, with the way back to the files it came from."""

    source: SourceDocument
    """The file the user named (the capability itself)."""
    data: Any
    version: str
    """The dialect's version as written: ``1.0.0-alpha2``, ``1.0.0-beta4``, ..."""
    origins: dict[DocPath, Origin] = field(default_factory=dict)
    """Normalised path -> where it was written, for nodes spliced in from another file (imports).
    Only paths that changed are recorded: a deeper path is its longest recorded prefix's origin
    plus the rest, unchanged."""
    renamed: dict[DocPath, DocPath] = field(default_factory=dict)
    """Normalised path -> the path written in ``source`` itself (the dialect's translation,
    ``Prepared.origins``), shared rather than copied into ``origins`` for every file (issue 22);
    at the same path, ``origins`` wins."""

    @property
    def name(self) -> str:
        return self.source.name

    def locate(self, at: DocPath) -> Origin:
        """The file and the path in it of a node of ``data``."""
        if self.origins or self.renamed:
            for cut in range(len(at), -1, -1):
                prefix = at[:cut]
                origin = self.origins.get(prefix)
                if origin is not None:
                    return origin[0], origin[1] + at[cut:]
                written = self.renamed.get(prefix)
                if written is not None:
                    return self.source, written + at[cut:]
        return self.source, at

    def diagnostic(self, finding: Finding) -> Diagnostic:
        source, at = self.locate(finding.at)
        return source.diagnostic(Finding(finding.severity, at, finding.message))

    def place(self, at: DocPath) -> str:
        """``file:line:column`` of a node, for messages that name another declaration (D32)."""
        source, path = self.locate(at)
        line, column = source.position(path)
        return f"{source.name}:{line}:{column}"
