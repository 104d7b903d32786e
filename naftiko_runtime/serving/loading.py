"""Loading capability files: source -> dialect and shape check -> normalised document with its
imports -> model -> binds -> plans (CONTRACT D1-D5, D30, D70-D73).

``load_file`` never raises for a bad document: it returns a ``FileReport`` whose diagnostics
list every problem with its ``file:line:column`` (D4: all of them, not only the first), and a
``LoadedCapability`` only when there is no error. A diagnostic may name another file than the
report's: an imported file with a problem inside the imported entry (D71). ``load`` does that for
every file, then places the valid ones on their ports, checking conflicts between files, before
anything is served.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..adapters.base import Mounted
from ..adapters.registry import KINDS, reference_roots
from ..core.plans import OperationPlan, PlanCompiler
from ..settings import Settings
from ..spec.binds import BindValues, environment_inputs, resolve_binds, unset_variable_findings
from ..spec.builder import ModelBuilder
from ..spec.diagnostics import Diagnostic, Finding, Severity, path_text
from ..spec.dialects import check_shape, detect
from ..spec.documents import Document
from ..spec.imports import Composer, prepare
from ..spec.model import Capability
from ..spec.source import SourceDocument, SourceError, read_source
from .listeners import ListenerSet

ADAPTER_PARSERS = {kind_type: kind.parse for kind_type, kind in KINDS.items()}


@dataclass
class LoadedCapability:
    document: Document
    capability: Capability
    binds: BindValues
    plans: dict[str, dict[str, OperationPlan]]
    """By adapter namespace, then by ``Exposed.key`` (tool name, ``METHOD /path``)."""

    def mounted(self) -> list[Mounted]:
        return [Mounted(adapter, self.plans[adapter.namespace]) for adapter in self.capability.adapters]


@dataclass
class FileReport:
    path: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    loaded: LoadedCapability | None = None

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


PARALLEL_FROM = 64
"""From this many files, parsing and shape checks run in worker processes: they are ~90% of the
load time, pure CPU, and independent per file; plans (closures) are still compiled here."""


def _parse_and_check(path: Path) -> tuple[SourceDocument | Diagnostic, list[Finding]]:
    try:
        source = read_source(path)
    except SourceError as exc:
        return exc.diagnostic, []
    return source, check_shape(source.data, detect(source.data))


def load_files(paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None) -> list[FileReport]:
    workers = min(os.cpu_count() or 1, 8)
    composer = Composer()  # an imported file is read once per load, however many files import it
    if len(paths) < PARALLEL_FROM or workers < 2:
        parsed: Iterator[tuple[SourceDocument | Diagnostic, list[Finding]]] = map(_parse_and_check, paths)
        return [_report(path, item, settings, environ, composer) for path, item in zip(paths, parsed, strict=True)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parsed = pool.map(_parse_and_check, paths, chunksize=16)
        return [_report(path, item, settings, environ, composer) for path, item in zip(paths, parsed, strict=True)]


def _report(
    path: Path,
    item: tuple[SourceDocument | Diagnostic, list[Finding]],
    settings: Settings,
    environ: Mapping[str, str] | None,
    composer: Composer,
) -> FileReport:
    source, shape = item
    if isinstance(source, Diagnostic):
        return FileReport(path, [source])
    return load_source(source, settings, environ, shape, composer)


def load_file(path: Path, settings: Settings, environ: Mapping[str, str] | None = None) -> FileReport:
    return load_files([path], settings, environ)[0]


def load_source(
    source: SourceDocument,
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    shape_findings: list[Finding] | None = None,
    composer: Composer | None = None,
) -> FileReport:
    environ = os.environ if environ is None else environ
    report = FileReport(source.path)
    prepared = prepare(source, shape_findings)
    document, composed = (composer or Composer()).compose(prepared)
    builder = ModelBuilder(source.path, ADAPTER_PARSERS)
    capability = builder.build(document.data, prepared.dialect.root_sections)
    findings = list(builder.findings)
    binds = BindValues()
    plans: dict[str, dict[str, OperationPlan]] = {}
    if capability is not None:
        binds, bind_findings = resolve_binds(capability.binds, source.path.resolve().parent, environ)
        findings += bind_findings
        findings += unset_variable_findings(
            document.data,
            capability.binds,
            binds,
            settings.strict,
            where=lambda at: path_text(document.locate(at)[1]),
        )
        findings += environment_inputs(capability, binds, environ, settings.strict)
        base_uris = {ns: uri for ns in capability.consumes if (uri := settings.base_uri_for(ns, environ))}
        roots = reference_roots() | {adapter.namespace for adapter in capability.adapters}
        compiler = PlanCompiler(capability, binds, base_uris, roots)
        compiler.compile_consumed()
        for adapter in capability.adapters:
            own = plans.setdefault(adapter.namespace, {})
            for exposed in adapter.operations:
                if (plan := compiler.compile(exposed)) is not None:
                    own[exposed.key] = plan
        findings += compiler.findings
    # A builder error says more than a shape finding at the same place of the same file.
    error_paths = {
        at
        for origin, at in map(document.locate, (f.at for f in findings if f.severity is Severity.ERROR))
        if origin is source
    }
    diagnostics = {document.diagnostic(f) for f in findings}
    diagnostics |= {source.diagnostic(f) for f in prepared.shape if f.at not in error_paths}
    diagnostics |= set(composed)
    if settings.strict:
        diagnostics = {dataclasses.replace(d, severity=Severity.ERROR) for d in diagnostics}
    report.diagnostics = sorted(
        diagnostics, key=lambda d: (d.file != source.name, d.file, d.line, d.column, d.severity.value, d.message)
    )
    if capability is not None and not report.errors:
        report.loaded = LoadedCapability(document, capability, binds, plans)
    return report


@dataclass
class Loaded:
    """Every file of one serve: each file's report, and the valid files placed on their ports."""

    reports: list[FileReport]
    listeners: ListenerSet

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every file's diagnostics, once each: a shared file imported by several files, or named
        itself, reports its own problems once."""
        return list(dict.fromkeys(d for report in self.reports for d in report.diagnostics))

    @property
    def rejected(self) -> list[FileReport]:
        return [report for report in self.reports if not report.ok]

    @property
    def secrets(self) -> list[str]:
        return [s for report in self.reports if report.loaded for s in report.loaded.binds.secrets()]


def load(paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None) -> Loaded:
    """D30: every file loaded and checked (conflicts between files included) before anything is served."""
    reports = load_files(paths, settings, environ)
    listeners = ListenerSet(settings)
    for report in reports:
        if report.ok and report.loaded is not None:
            report.diagnostics += listeners.add(report.loaded.document, report.loaded.mounted())
    return Loaded(reports, listeners)
