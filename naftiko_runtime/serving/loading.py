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
import gc
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import field, replace
from functools import partial
from pathlib import Path

from ..adapters.auth.compile import compile_gate
from ..adapters.auth.gates import Gate
from ..adapters.auth.oauth2 import OAuth2Gate
from ..adapters.base import Mounted, SiblingChecking
from ..adapters.control.model import ControlAdapter
from ..adapters.registry import KINDS, reference_roots
from ..core.compiler import PlanCompiler
from ..core.plans import OperationPlan
from ..core.scripts import ScriptGovernance, ScriptLimits
from ..records import dataclass
from ..settings import ClientCredentialsPolicy, Settings
from ..spec.binds import BindValues, environment_inputs, resolve_binds, unset_variable_findings
from ..spec.builder import ModelBuilder
from ..spec.diagnostics import Diagnostic, Finding, Severity, path_text
from ..spec.documents import Document
from ..spec.imports import Composer, Prepared, prepare
from ..spec.model import Capability
from ..spec.source import SourceDocument, SourceError, parse_bytes, read_bytes
from .listeners import ListenerSet
from .load_cache import LoadCache, open_load_cache
from .plugins import load_plugins


@dataclass
class LoadedCapability:
    document: Document
    capability: Capability
    binds: BindValues
    plans: dict[str, dict[str, OperationPlan]]
    """By adapter namespace, then by ``Exposed.key`` (tool name, ``METHOD /path``)."""
    gates: dict[str, Gate] = field(default_factory=dict)
    """By adapter namespace: the adapters that declare exposed ``authentication`` (D90)."""
    scripting: ScriptGovernance | None = None
    """The control adapter's scripting governance, shared by the file's script steps (issue 20)."""

    def mounted(self) -> list[Mounted]:
        return mounted_adapters(self.capability, self.plans, self.gates, self.binds, self.scripting)

    def credential_secrets(self) -> list[str]:
        """The secrets of every upstream call's credentials, once each."""
        calls = (call for own in self.plans.values() for plan in own.values() for call in plan.calls)
        return list(dict.fromkeys(secret for call in calls for secret in call.credentials.secrets))


def mounted_adapters(
    capability: Capability,
    plans: Mapping[str, Mapping[str, OperationPlan]],
    gates: Mapping[str, Gate] | None = None,
    binds: BindValues | None = None,
    scripting: ScriptGovernance | None = None,
) -> list[Mounted]:
    """Each adapter with its plans and gate (D90), and every adapter of the file as its ``siblings``;
    the control adapter with the file's scripting governance."""
    gates, binds = gates or {}, binds or BindValues()
    bare = [
        Mounted(
            adapter,
            plans.get(adapter.namespace, {}),
            gate=gates.get(adapter.namespace),
            binds=binds,
            capability=capability,
            scripting=scripting if isinstance(adapter, ControlAdapter) else None,
        )
        for adapter in capability.adapters
    ]
    siblings = {each.adapter.namespace: each for each in bare}
    return [replace(each, siblings=siblings) for each in bare]


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
"""From this many files to prepare (the load cache's misses), parsing, shape checks and the
translation into the native form run in worker processes: pure CPU and independent per file;
models and plans (closures) are built here."""


def _parse_and_check(path: Path, cache: LoadCache | None = None) -> Prepared | Diagnostic:
    """Parsed, shape-checked and translated into the native form: all of it per file, and picklable;
    kept in the load cache (D172), under the digest of the very bytes parsed."""
    try:
        raw = read_bytes(path)
        prepared = prepare(parse_bytes(raw, path))
    except SourceError as exc:
        return exc.diagnostic
    if cache is not None:
        cache.store(raw, prepared)
    return prepared


@contextmanager
def _prepared(paths: Sequence[Path], cache: LoadCache | None) -> Iterator[Iterator[Prepared | Diagnostic]]:
    """Each file's ``Prepared`` in order: from the load cache where it has the file's entry, else
    made here or, from ``PARALLEL_FROM`` misses, by forked workers while this process builds
    models from the earlier files. With every file a hit no pool is started."""
    fetched: list[Prepared | None] = [cache.fetch(path) for path in paths] if cache is not None else [None] * len(paths)
    missed = [path for path, item in zip(paths, fetched, strict=True) if item is None]
    workers = min(os.cpu_count() or 1, 8)
    if len(missed) < PARALLEL_FROM or workers < 2:
        yield _merged(fetched, (_parse_and_check(path, cache) for path in missed))  # a serve's held entries (D181)
        return
    prepare_one = partial(_parse_and_check, cache=cache and cache.for_workers())
    from concurrent.futures import ProcessPoolExecutor  # its pipes and queues only from PARALLEL_FROM (D169)

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield _merged(fetched, pool.map(prepare_one, missed, chunksize=16))


def _merged(fetched: list[Prepared | None], made: Iterator[Prepared | Diagnostic]) -> Iterator[Prepared | Diagnostic]:
    for item in fetched:
        yield item if item is not None else next(made)


@contextmanager
def collector_paused(*, freeze_loaded: bool = False) -> Iterator[None]:
    """The cyclic garbage collector off while files load (D139), back on after if it was on.

    Loading allocates millions of objects that all live on, so each automatic full collection
    walks a heap that only grows: with 1,000 files that was ~35% of the load's CPU, and it slowed
    the ``mcp`` import after it too. The little cyclic garbage a load leaves (a handful of objects)
    waits for the next collection; ``serve`` freezes what is loaded without one.

    ``freeze_loaded`` (``serve``'s first load, D148): what the load allocated is moved to the
    permanent generation before the collector comes back. Otherwise the first allocation after
    it starts a young collection over every object of the load (all still young, since none ran),
    ~2 s of CPU at 1,000 files, before ``serve`` could freeze them itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze_loaded:
            gc.freeze()
        if was_enabled:
            gc.enable()


def load_files(paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None) -> list[FileReport]:
    """Each file's report; the installed plugins are loaded first (``PluginError`` if one fails),
    so that their types are known to every stage (and to the forked shape-check workers)."""
    with collector_paused():
        return _load_files(paths, settings, environ)


def _load_files(paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None) -> list[FileReport]:
    load_plugins()
    cache = open_load_cache(settings)  # after the plugins: their types are part of its key (D172)
    composer = Composer()  # an imported file is read once per load, however many files import it
    with _prepared(paths, cache) as prepared:
        reports = [_report(path, item, settings, environ, composer) for path, item in zip(paths, prepared, strict=True)]
    if cache is not None:
        cache.prune()
    return reports


def _report(
    path: Path,
    item: Prepared | Diagnostic,
    settings: Settings,
    environ: Mapping[str, str] | None,
    composer: Composer,
) -> FileReport:
    if isinstance(item, Diagnostic):
        return FileReport(path, [item])
    return load_source(item.source, settings, environ, composer=composer, prepared=item)


def load_file(path: Path, settings: Settings, environ: Mapping[str, str] | None = None) -> FileReport:
    return load_files([path], settings, environ)[0]


def load_source(
    source: SourceDocument,
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    shape_findings: list[Finding] | None = None,
    composer: Composer | None = None,
    prepared: Prepared | None = None,
) -> FileReport:
    """``prepared``: ``source`` already parsed, checked and translated (by a load worker)."""
    environ = os.environ if environ is None else environ
    report = FileReport(source.path)
    prepared = prepared or prepare(source, shape_findings)
    document, composed = (composer or Composer()).compose(prepared)
    builder = ModelBuilder(source.path, KINDS.parsers)  # imports only the kinds the file uses (D170)
    capability = builder.build(document.data, prepared.dialect.root_sections)
    findings = list(builder.findings)
    binds = BindValues()
    plans: dict[str, dict[str, OperationPlan]] = {}
    gates: dict[str, Gate] = {}
    if capability is not None:
        binds, bind_findings = resolve_binds(capability.binds, source.path, environ)
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
        limits = script_limits(capability, settings)
        governance = limits.governance
        compiler = PlanCompiler(
            capability,
            binds,
            base_uris,
            roots,
            mock=settings.mock,
            script_limits=limits,
            concurrent_steps=settings.concurrent_steps,
            grants=configured_grants(settings, capability.consumes),
            environ=environ,
        )
        compiler.consumed.check_all()
        for adapter in capability.adapters:
            own = plans.setdefault(adapter.namespace, {})
            if adapter.authentication is not None:
                gate, gate_findings = compile_gate(adapter.authentication, binds, settings, environ)
                findings += gate_findings
                if gate is not None:
                    gates[adapter.namespace] = gate
            for exposed in adapter.operations:
                if (plan := compiler.compile(exposed)) is not None:
                    own[exposed.key] = plan
        findings += compiler.findings
        # Mounted (every adapter with its siblings) only for a kind that checks them (issue 22).
        if any(isinstance(KINDS[adapter.kind], SiblingChecking) for adapter in capability.adapters):
            for each in mounted_adapters(capability, plans, binds=binds):
                kind = KINDS[each.adapter.kind]
                if isinstance(kind, SiblingChecking):
                    findings += kind.check(each)
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
        report.loaded = LoadedCapability(document, capability, binds, plans, gates, governance)
    return report


def configured_grants(settings: Settings, namespaces: Iterable[str]) -> dict[str, ClientCredentialsPolicy]:
    """The client credentials grants the runtime configuration declares for these namespaces (D91)."""
    policies = {namespace: settings.policy_for(namespace).client_credentials for namespace in namespaces}
    return {namespace: policy for namespace, policy in policies.items() if policy is not None}


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
        """Bind values, the upstream credentials' secrets (a configured grant's client secret comes
        from no bind, D91), and the OAuth client secret when a gate introspects: scrubbed from logs."""
        loaded = [report.loaded for report in self.reports if report.loaded]
        found = [s for each in loaded for s in (*each.binds.secrets(), *each.credential_secrets())]
        gates = [g for each in loaded for g in each.gates.values()]
        found += [g.client[1] for g in gates if isinstance(g, OAuth2Gate) and g.client]
        return list(dict.fromkeys(found))  # a bind value is also its credential's secret: once is enough


CAPABILITY_SUFFIXES = (".yml", ".yaml")


def expand(paths: Sequence[Path]) -> list[Path]:
    """Each folder becomes its ``*.yml``/``*.yaml`` files (not recursive), sorted, so that a folder
    serves the same way whatever order the file system lists it in; files stay as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in CAPABILITY_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def load(paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None) -> Loaded:
    """D30: every file (folders expanded) loaded and checked, conflicts between files included,
    before anything is served."""
    with collector_paused():
        return place(load_files(expand(paths), settings, environ), settings)


def place(reports: list[FileReport], settings: Settings) -> Loaded:
    """The valid reports' adapters on their ports; a file conflicting with an earlier one gets errors."""
    listeners = ListenerSet(settings)
    for report in reports:
        if report.ok and report.loaded is not None:
            report.diagnostics += listeners.add(report.loaded.document, report.loaded.mounted())
    return Loaded(reports, listeners)


def script_limits(capability: Capability, settings: Settings) -> ScriptLimits:
    """The serve's limits, with the file's control adapter's scripting governance when it declares
    one: its ``timeout`` may shorten ``--script-timeout``, never lengthen it; ``enabled: false``
    stops every script step of the file (issue 20)."""
    governance = None
    for adapter in capability.adapters:
        if isinstance(adapter, ControlAdapter) and adapter.management.scripting.declared:
            scripting = adapter.management.scripting
            timeout = None if scripting.timeout_ms is None else scripting.timeout_ms / 1000
            governance = ScriptGovernance(scripting.enabled, timeout)
    return ScriptLimits(settings.script_timeout, settings.script_memory, governance)
