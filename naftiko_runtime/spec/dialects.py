"""The dialects a capability file may be written in, and their translation up into the native one (D70, D125).

- ``ikanos:`` 1.0.0-beta4 and 1.0.0-beta5 (the engine renamed; identical schemas but the version)
  are the model's native form: the builder reads their data as written. Maps keyed by name hold
  resources, operations, tools, parameters...; ``display`` names a thing for people; step mappings
  say ``target``; aggregates hold ``flows``; imports say ``from``. Their shape check is ``schema``
  with the ``IKANOS`` profile; for these documents the official schema is the only contract, so
  every violation is an error (D72).
- ``naftiko:`` 1.0.0-alpha2 (also alpha1 and 0.5; another version is read as alpha2 with a
  warning, D2) writes lists of objects carrying a ``name``, ``label``, ``targetName``,
  ``functions`` and ``location``. Its shape check is ``schema`` with the ``ALPHA2`` profile, on the
  file as written; violations are warnings (D3), so the published files keep loading as before.

``translate_up`` rewrites an alpha2 document into the native shape, in that one direction only
(``translation`` holds its rules; ``migrate`` runs the same ones), and returns, for every place where a path changed,
the path it was written at (see ``documents.Document.origins``): a tool the user wrote at
``tools[0]`` is ``tools.get-ship`` for the builder, and that key's ``name`` is ``tools[0].name``.
"""

from __future__ import annotations

from typing import Any

from ..records import dataclass
from .diagnostics import DocPath, Finding
from .profiles import ALPHA2, PROFILES, Profile
from .schema import check_shape as shape_findings
from .translation import DOCUMENT, Translation

NAFTIKO, IKANOS = "naftiko", "ikanos"


@dataclass(frozen=True)
class Dialect:
    """The root key a document starts with and the version it gives there."""

    key: str
    version: str

    @property
    def keyed_by_name(self) -> bool:
        """Whether resources, operations, tools, parameters... are maps keyed by name (beta4)."""
        return self.profile.keyed_by_name

    @property
    def root_sections(self) -> tuple[str, ...]:
        """The sections read at the root of a document, beside or instead of ``capability``."""
        return self.profile.root_sections

    @property
    def profile(self) -> Profile:
        """How this dialect spells the spec's shapes (an unknown naftiko version reads as alpha2, D2)."""
        return PROFILES.get(self.key, ALPHA2)


def detect(data: Any) -> Dialect:
    """``ikanos:`` makes a beta4 document; anything else is read as alpha2 (today's behaviour)."""
    if isinstance(data, dict) and IKANOS in data:
        return Dialect(IKANOS, str(data[IKANOS]))
    version = data.get(NAFTIKO) if isinstance(data, dict) else None
    return Dialect(NAFTIKO, "" if version is None else str(version))


def check_shape(data: Any, dialect: Dialect) -> list[Finding]:
    """The dialect's shape check: warnings where its extensions are tolerated (alpha2, D3), errors
    where the official schema is the only contract (beta4, beta5: D72)."""
    finding = Finding.warning if dialect.profile.extensions else Finding.error
    return [finding(f.path, f.message) for f in shape_findings(data, dialect.profile)]


def translate_up(data: Any, dialect: Dialect) -> tuple[Any, dict[DocPath, DocPath]]:
    """The native (beta4) shape of ``data``, and native path -> written path where they differ.
    A native document is returned as it is: the builder reads what the user wrote."""
    if dialect.keyed_by_name:
        return data, {}
    translation = Translation()
    return DOCUMENT(translation, data, (), ()), translation.origins
