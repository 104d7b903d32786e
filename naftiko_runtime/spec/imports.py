"""Imports: entries of ``consumes``, ``exposes``, ``aggregates`` and ``binds`` taken from other
files (CONTRACT D71).

An import entry is ``{import: NAMESPACE, from: FILE, as: ALIAS}`` (beta4, in every section) or
``{import, location, as}`` (alpha2, in ``consumes``). ``FILE`` is relative to the importing file
(a ``file://`` URI follows D10). The source may be a standalone shared file (one root section) or
another capability (its ``capability.<section>``), in either dialect. The entry named
``NAMESPACE`` is copied in place of the import, renamed to ``ALIAS``; every node of the copy keeps
its origin in the source file, so that a problem inside it is reported there.

As the specification says, imports are not transitive (a source file is a leaf): an entry that is
itself an import is refused, and named a cycle when the chain leads back to the importing file.
A missing file, an unknown namespace, two imports with one effective name, and import entries in
a standalone file are errors positioned in the file that has them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..records import dataclass
from .binds import file_location
from .diagnostics import Diagnostic, DocPath, Finding
from .dialects import Dialect, check_shape, detect, translate_up
from .documents import Document, Origin
from .source import SourceDocument, SourceError, read_source

SECTIONS = ("consumes", "exposes", "aggregates", "binds")


def is_import(node: Any) -> bool:
    """An import entry, in either dialect (a bind has ``location`` too, but never ``import``)."""
    return isinstance(node, dict) and ("import" in node or "from" in node)


def import_target(node: dict[str, Any]) -> str | None:
    target = node.get("from", node.get("location"))
    return target if isinstance(target, str) else None


def resolve_target(target: str, base_dir: Path) -> Path:
    """``./shared/x.yaml``, ``shared/x.yaml``, ``/abs/x.yaml`` or a ``file://`` URI (D10)."""
    located = file_location(target, base_dir)
    return (located if located is not None else base_dir / target).resolve()


@dataclass
class Prepared:
    """One file read, shape-checked and normalised: what composing it, or importing from it, needs."""

    source: SourceDocument
    dialect: Dialect
    shape: list[Finding]
    """The dialect's shape findings, at paths of the file as written."""
    data: Any
    origins: dict[DocPath, DocPath]

    @property
    def standalone(self) -> bool:
        """A shared file: sections at the root, no ``capability``."""
        return not (isinstance(self.data, dict) and "capability" in self.data)

    def sections(self) -> list[tuple[str, DocPath, list[Any]]]:
        """Each section list with its normalised path: ``capability.<s>`` and the root ``<s>``."""
        found: list[tuple[str, DocPath, list[Any]]] = []
        if not isinstance(self.data, dict):
            return found
        capability = self.data.get("capability")
        for name in SECTIONS:
            if isinstance(capability, dict) and isinstance(capability.get(name), list):
                found.append((name, ("capability", name), capability[name]))
            if isinstance(self.data.get(name), list):
                found.append((name, (name,), self.data[name]))
        return found

    def written(self, at: DocPath) -> DocPath:
        """The path as written in this file of a node of the normalised data."""
        for cut in range(len(at), -1, -1):
            origin = self.origins.get(at[:cut])
            if origin is not None:
                return origin + at[cut:]
        return at


def prepare(source: SourceDocument, shape: list[Finding] | None = None) -> Prepared:
    dialect = detect(source.data)
    data, origins = translate_up(source.data, dialect)
    return Prepared(source, dialect, check_shape(source.data, dialect) if shape is None else shape, data, origins)


@dataclass(frozen=True)
class _Import:
    section: str
    at: DocPath
    """The import entry's normalised path in the importing file."""
    node: dict[str, Any]

    @property
    def namespace(self) -> Any:
        return self.node.get("import")

    @property
    def effective(self) -> Any:
        return self.node.get("as") or self.node.get("import")

    @property
    def effective_key(self) -> str:
        return "as" if self.node.get("as") else "import"


class Composer:
    """Resolves the imports of the files of one load, reading each imported file once."""

    def __init__(self, read: Callable[[Path], SourceDocument] = read_source):
        self.read = read
        self.cache: dict[Path, Prepared | Diagnostic] = {}

    def load(self, path: Path) -> Prepared | Diagnostic:
        if path not in self.cache:
            try:
                self.cache[path] = prepare(self.read(path))
            except SourceError as exc:
                self.cache[path] = exc.diagnostic
        return self.cache[path]

    def compose(self, prepared: Prepared) -> tuple[Document, list[Diagnostic]]:
        """The builder's data for ``prepared``: its imports replaced by the entries they name."""
        source = prepared.source
        data = copy.copy(prepared.data) if isinstance(prepared.data, dict) else prepared.data
        document = Document(source, data, prepared.dialect.version, renamed=prepared.origins)
        diagnostics: list[Diagnostic] = []
        imports = list(self._imports(prepared, data))
        if prepared.standalone:
            for entry in imports:
                diagnostics.append(
                    document.diagnostic(
                        Finding.error(
                            entry.at + ("from" if "from" in entry.node else "import",),
                            f"a standalone {entry.section} file holds no imports: only a capability imports (D71)",
                        )
                    )
                )
            return document, diagnostics
        seen: dict[tuple[str, Any], _Import] = {}
        places = [document.place(entry.at) for entry in imports]  # before splicing moves them
        for entry in imports:
            # A name that is not text ('as: {z: 1}') is the shape check's error, not a duplicate.
            name = entry.effective if isinstance(entry.effective, str) else id(entry)
            earlier = seen.setdefault((entry.section, name), entry)
            if earlier is not entry:
                first = places[imports.index(earlier)]
                diagnostics.append(
                    document.diagnostic(
                        Finding.error(
                            entry.at + (entry.effective_key,),
                            f"'{entry.effective}' is imported twice in {entry.section} (first at "
                            f"{first}); give one an alias with 'as' (D71)",
                        )
                    )
                )
                continue
            diagnostics += self._splice(document, prepared, entry)
        return document, diagnostics

    def _imports(self, prepared: Prepared, data: Any) -> Iterator[_Import]:
        """Every import entry, its section list copied so that splicing leaves ``prepared`` intact."""
        if not isinstance(data, dict):
            return
        if isinstance(data.get("capability"), dict):
            data["capability"] = copy.copy(data["capability"])
        for name, at, items in prepared.sections():
            if not any(is_import(node) for node in items):
                continue
            holder = data["capability"] if at[0] == "capability" else data
            copied = holder[name] = list(items)
            for index, node in enumerate(copied):
                if is_import(node):
                    yield _Import(name, at + (index,), node)

    def _splice(self, document: Document, prepared: Prepared, entry: _Import) -> list[Diagnostic]:
        def error(key: str, message: str) -> list[Diagnostic]:
            return [document.diagnostic(Finding.error(entry.at + (key,) if key in entry.node else entry.at, message))]

        target = import_target(entry.node)
        if target is None or not isinstance(entry.namespace, str):
            return error("import", "an import needs 'import' (the namespace) and 'from' (the file) (D71)")
        key = "from" if "from" in entry.node else "location"
        base_dir = prepared.source.path.resolve().parent
        try:
            path = resolve_target(target, base_dir)
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long: no file can have it
            return error(key, f"import source file not found: {target!r} is not a usable path ({exc}) (D71)")
        if path == prepared.source.path.resolve():
            return error(key, f"import cycle: {prepared.source.name} imports from itself (D71)")
        if not path.is_file():
            return error(key, f"import source file not found: {path} (D71)")
        imported = self.load(path)
        if isinstance(imported, Diagnostic):
            return [imported, *error(key, f"cannot import from {path}: the file does not load (D71)")]
        candidates = [
            (at + (index,), node)
            for name, at, items in imported.sections()
            if name == entry.section
            for index, node in enumerate(items)
            if isinstance(node, dict)
        ]
        match = next(((at, n) for at, n in candidates if _provides(n) == entry.namespace), None)
        if match is None:
            names = ", ".join(sorted({str(_provides(n)) for _, n in candidates if _provides(n)})) or "none"
            return error(
                "import", f"no {entry.section} entry '{entry.namespace}' in {path} (it declares: {names}) (D71)"
            )
        source_at, node = match
        if is_import(node):
            back = import_target(node)
            loops = back is not None and _resolves_to(back, path.parent, prepared.source.path.resolve())
            why = (
                f"import cycle: {prepared.source.name} -> {path} -> {prepared.source.name}"
                if loops
                else f"'{entry.namespace}' is itself imported in {path}; imports are not transitive, "
                "import it from its own file"
            )
            return error("import", why + " (D71)")
        spliced = copy.deepcopy(node)
        if entry.section == "binds":
            _anchor_bind_location(spliced, path.parent)
        if entry.node.get("as"):
            spliced["namespace"] = entry.node["as"]
        holder = document.data["capability"] if entry.at[0] == "capability" else document.data
        holder[entry.section][entry.at[-1]] = spliced
        self._adopt(document, entry, imported, source_at)
        return [
            imported.source.diagnostic(f)
            for f in imported.shape
            if f.at[: len(imported.written(source_at))] == imported.written(source_at) or len(f.at) <= 1
        ]

    @staticmethod
    def _adopt(document: Document, entry: _Import, imported: Prepared, source_at: DocPath) -> None:
        """Origins of the spliced entry: its nodes in the imported file; its alias in the importer."""
        alias: Origin = document.locate(entry.at + ("as",))
        document.origins[entry.at] = (imported.source, imported.written(source_at))
        for at, written in imported.origins.items():
            if at[: len(source_at)] == source_at:
                document.origins[entry.at + at[len(source_at) :]] = (imported.source, written)
        if entry.node.get("as"):
            document.origins[entry.at + ("namespace",)] = alias


def _resolves_to(target: str, base_dir: Path, wanted: Path) -> bool:
    try:
        return resolve_target(target, base_dir) == wanted
    except (OSError, ValueError):
        return False


def _provides(node: dict[str, Any]) -> Any:
    """The namespace an entry declares: its own, or, for an import entry, its effective one."""
    return (node.get("as") or node.get("import")) if is_import(node) else node.get("namespace")


def _anchor_bind_location(bind: dict[str, Any], directory: Path) -> None:
    """A relative bind ``location`` in an imported file is relative to that file (D10, D71)."""
    location = bind.get("location")
    if isinstance(location, str):
        located = file_location(location, directory)
        if located is not None:
            bind["location"] = located.resolve().as_uri()
