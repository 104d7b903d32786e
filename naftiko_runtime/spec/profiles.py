"""What differs between the dialect versions' shapes, as data (issue 19, item 2; CONTRACT D70, D72).

The shape table (``shape_parts``, ``shape_kinds``, ``schema``) is written once; each node asks its
``Profile`` how the dialect spells what differs: a collection of named entries is a list of
objects carrying a ``name`` (alpha2) or a map keyed by name (the current Ikanos dialect), a
human-readable name is ``label`` or ``display``, an aggregate holds ``functions`` or ``flows``, a
step mapping says ``targetName`` or ``target``, an import entry ``location`` or ``from``. Keys
that exist in one version only are given with ``current(...)`` (new in Ikanos) or ``legacy(...)``
(the D3 dialect extensions alpha2 files use, accepted silently there).

A new dialect version is one more ``Profile`` here (and its detection in ``dialects``).
"""

from __future__ import annotations

from typing import TypeVar

from ..records import dataclass
from .shapes import Arr, Map, Shape, Str

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """One dialect's spelling of the spec's shapes."""

    root: str
    """The document's first key: ``naftiko`` or ``ikanos``."""
    versions: tuple[str, ...]
    """The versions this profile reads, the first one the canonical one."""
    keyed_by_name: bool
    """Named entries are maps keyed by name (Ikanos) rather than lists with ``name`` (alpha2)."""
    label: str
    """The key of a human-readable name: ``label`` or ``display``."""
    flows: str
    """The key of an aggregate's functions: ``functions`` or ``flows``."""
    target: str
    """The key of a step mapping's target: ``targetName`` or ``target``."""
    import_from: str
    """The key of an import entry's file: ``location`` or ``from``."""
    root_sections: tuple[str, ...]
    """The sections a document may hold at its root (a shared file), beside or instead of ``capability``."""
    import_sections: tuple[str, ...]
    """The sections whose entries may be import entries instead of inline ones."""
    extensions: bool
    """CONTRACT D2/D3: the dialect extensions of the published alpha2 files are accepted."""

    @property
    def current(self) -> bool:
        """Whether this is the current (Ikanos) dialect, whose new keys ``current`` gives."""
        return self.keyed_by_name

    def pick(self, legacy: T, current: T) -> T:
        """The alpha2 form or the current dialect's form of one difference that is not a key."""
        return current if self.current else legacy

    def since(self, **fields: Shape) -> dict[str, Shape]:
        """Keys new in the current dialect (``tags``, ``tunnel``, ``maxBinarySize``, ``ttlMs``...)."""
        return fields if self.current else {}

    def legacy(self, **fields: Shape) -> dict[str, Shape]:
        """Keys only alpha2 files have: its D3 extensions (``title``, a REST adapter's ``description``...)."""
        return {} if self.current else fields

    def name(self, shape: Str) -> dict[str, Shape]:
        """The ``name`` key of a named entry: in the entry (alpha2) or its map key (``many``)."""
        return {} if self.keyed_by_name else {"name": shape}

    @property
    def needs_name(self) -> tuple[str, ...]:
        """``("name",)`` where a named entry must carry its name (alpha2), else nothing."""
        return () if self.keyed_by_name else ("name",)

    def many(self, entry: Shape, *, keys: Str | None = None, min_items: int = 0) -> Shape:
        """A collection of named entries: a list (alpha2) or a map whose keys match ``keys``."""
        if self.keyed_by_name:
            return Map(entry, keys, min_items=min_items)
        return Arr(entry, min_items)


ALPHA2 = Profile(
    root="naftiko",
    versions=("1.0.0-alpha2", "1.0.0-alpha1", "0.5"),
    keyed_by_name=False,
    label="label",
    flows="functions",
    target="targetName",
    import_from="location",
    root_sections=("consumes", "binds"),
    import_sections=("consumes",),
    extensions=True,
)
IKANOS = Profile(
    root="ikanos",
    versions=("1.0.0-beta4", "1.0.0-beta5"),  # the two official schemas differ in the version only
    keyed_by_name=True,
    label="display",
    flows="flows",
    target="target",
    import_from="from",
    root_sections=("consumes", "exposes", "aggregates", "binds"),
    import_sections=("consumes", "exposes", "aggregates", "binds"),
    extensions=False,
)
PROFILES = {p.root: p for p in (ALPHA2, IKANOS)}
