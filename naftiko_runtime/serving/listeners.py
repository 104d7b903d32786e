"""Serving several files at once: adapters grouped by port, conflicts found (CONTRACT D30-D34).

All files are loaded before any port is bound (D30). Each port becomes a ``Listener`` holding the
adapters that share it, grouped by kind (D31). What each adapter needs exclusively on its port
comes from its kind's ``claims``; a file whose claims collide with an earlier file's (or with its
own) gets errors naming both places (D32), and is left out whole, so that ``--keep-going`` can
serve the others (D32b).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from ..adapters.base import Claim, Mounted
from ..adapters.registry import KINDS
from ..core.plans import OperationPlan
from ..records import dataclass
from ..settings import DEFAULT_HOST, Settings
from ..spec.diagnostics import Diagnostic, DocPath, Finding
from ..spec.documents import Document
from ..spec.model import ExposedAdapter


@dataclass(frozen=True)
class Place:
    """A declaration's file and document path; its line is looked up only if a message needs it,
    since that takes a second, position-keeping parse of the file (which may be an imported one)."""

    document: Document
    at: DocPath

    def __str__(self) -> str:
        return self.document.place(self.at)


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    place: Place


@dataclass
class Listener:
    host: str
    port: int
    mounted: dict[str, list[Mounted]] = field(default_factory=dict)
    """The adapters served on this port, by kind, in load order."""
    claimed: dict[tuple[object, ...], Claimed] = field(default_factory=dict)
    owners: dict[tuple[str | None, ...], list[Claimed]] = field(default_factory=dict)
    """The claims that take a path prefix whole (one per MCP, skill or control adapter), by prefix:
    a route is looked up by its own leading segments, so 1,000 MCP adapters sharing ``/mcp`` on a
    port cost each new route a few lookups, not 1,000 comparisons (issue 22)."""
    routes: dict[str | None, list[Claimed]] = field(default_factory=dict)
    """The claims with a route, by the route's first segment: a prefix can only shadow the routes
    that start with its own first segment, so a new prefix never scans every route of the port."""

    def keep(self, entry: Claimed) -> None:
        """Record a claim of an accepted file; the first claim of a key stays its owner."""
        claim = entry.claim
        self.claimed.setdefault(claim.key, entry)
        if claim.prefix is not None:
            self.owners.setdefault(claim.prefix, []).append(entry)
        if claim.route is not None:
            self.routes.setdefault(_head(claim.route), []).append(entry)

    def owners_over(self, claim: Claim) -> list[Claimed]:
        """The recorded claims whose prefix takes ``claim``'s route whole."""
        return _owners_over(self.owners, claim)

    def routes_under(self, prefix: tuple[str, ...]) -> list[Claimed]:
        """The recorded route claims that a claim of ``prefix`` may shadow."""
        if not prefix:
            return [entry for entries in self.routes.values() for entry in entries]
        return self.routes.get(prefix[0], [])

    @property
    def plans(self) -> list[OperationPlan]:
        """Every operation's plan, in the adapters' order: their ``plans``, which hold one for each
        of their operations (a file missing one is not served), read without the pairs of
        ``Mounted.operations`` (D184)."""
        return [plan for each in self.mounted.values() for m in each for plan in m.plans.values()]

    def described(self) -> str:
        return ", ".join(
            f"{kind} ({sum(len(m.adapter.operations) for m in each)} operations)" for kind, each in self.mounted.items()
        )


def _head(route: tuple[str | None, ...]) -> str | None:
    return route[0] if route else None


def _owners_over(owners: dict[tuple[str | None, ...], list[Claimed]], claim: Claim) -> list[Claimed]:
    """Of ``owners`` (by prefix), those whose prefix ``claim``'s route starts with."""
    route = claim.route
    if route is None or not owners:
        return []
    lengths = {len(prefix) for prefix in owners}
    return [owner for n in sorted(lengths) if n <= len(route) for owner in owners.get(route[:n], ())]


def _shadows(owner: Claim, claim: Claim) -> bool:
    """Whether ``claim``'s route lies under a path prefix that ``owner`` takes whole."""
    return owner.prefix is not None and claim.route is not None and claim.route[: len(owner.prefix)] == owner.prefix


class ListenerSet:
    """Accumulates files into listeners, one file at a time, refusing a file that conflicts."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.listeners: dict[int, Listener] = {}
        self.portless: list[Mounted] = []
        """Adapters that listen on no port (MCP over stdio), served only by ``serve --stdio``."""

    def address(self, adapter_address: str | None) -> str:
        return self.settings.host or adapter_address or DEFAULT_HOST

    def add(self, document: Document, mounted: Sequence[Mounted]) -> list[Diagnostic]:
        """Adds a loaded file's adapters, or returns its conflict errors (naming both places) and adds nothing."""
        claimed: dict[int, list[Claimed]] = {}
        problems: list[Finding] = []
        for each in mounted:
            adapter = each.adapter
            if adapter.port is None:
                continue
            port = adapter.port + self.settings.port_offset
            listener = self.listeners.get(port)
            if listener and self.address(adapter.address) != listener.host:
                problems.append(
                    Finding.error(
                        adapter.at,
                        f"port {port} is already bound on {listener.host}; "
                        f"this adapter asks for {self.address(adapter.address)}",
                    )
                )
            problems += self._gate_conflicts(adapter, port, mounted)
            problems += self._management_conflicts(adapter, port, mounted)
            for claim in KINDS[adapter.kind].claims(adapter, port):
                claimed.setdefault(port, []).append(Claimed(claim, Place(document, claim.at)))
        for port, claims in claimed.items():
            problems += self._conflicts(port, claims)
        if problems:
            return sorted({document.diagnostic(f) for f in problems}, key=lambda d: (d.file, d.line, d.column))
        for each in mounted:
            self._mount(each)
        for port, claims in claimed.items():
            for entry in claims:
                self.listeners[port].keep(entry)
        return []

    def _gate_conflicts(self, adapter: ExposedAdapter, port: int, mounted: Sequence[Mounted]) -> list[Finding]:
        """D90: adapters of one kind on one port share a handler, so they must ask for the same
        credentials; otherwise one adapter's callers could reach the other's operations."""
        listener = self.listeners.get(port)
        others = [m.adapter for m in mounted if m.adapter.port is not None and m.adapter is not adapter]
        # The port's adapters of this kind already agree with each other: the first speaks for all
        # (comparing with every one made placing N files quadratic, issue 22).
        others += [m.adapter for m in (listener.mounted.get(adapter.kind, [])[:1] if listener else [])]
        policy = adapter.authentication.policy if adapter.authentication else None
        for other in others:
            if other.kind != adapter.kind or other.port is None or other.port + self.settings.port_offset != port:
                continue
            if (other.authentication.policy if other.authentication else None) != policy:
                return [
                    Finding.error(
                        adapter.at,
                        f"the {adapter.kind} adapter '{adapter.namespace}' on port {port} must declare the same "
                        f"authentication as the {other.kind} adapter '{other.namespace}' sharing that port (D90)",
                    )
                ]
        return []

    def _management_conflicts(self, adapter: ExposedAdapter, port: int, mounted: Sequence[Mounted]) -> list[Finding]:
        """A kind that is ``port_alone`` (the management plane, ``control``) has its port to itself:
        never reachable through a business port, nor a business adapter through it."""
        listener = self.listeners.get(port)
        kinds = {
            m.adapter.kind
            for m in mounted
            if m.adapter.port is not None and m.adapter.port + self.settings.port_offset == port
        }
        kinds |= set(listener.mounted) if listener else set()
        if KINDS[adapter.kind].port_alone and len(kinds) > 1:
            others = ", ".join(sorted(kinds - {adapter.kind}))
            return [
                Finding.error(
                    adapter.at, f"the {adapter.kind} adapter cannot share port {port} with a {others} adapter"
                )
            ]
        alone = sorted(kind for kind in (listener.mounted if listener else ()) if KINDS[kind].port_alone)
        if alone and adapter.kind not in alone:
            return [
                Finding.error(adapter.at, f"port {port} is a {alone[0]} port; a {adapter.kind} adapter cannot share it")
            ]
        return []

    def _conflicts(self, port: int, claims: list[Claimed]) -> list[Finding]:
        """D32: a key claimed twice, or a route under a path prefix that another adapter owns.

        Linear in the file's claims: the port's earlier claims are looked up by key, by owned
        prefix and by first route segment (comparing each new claim with every earlier one was
        quadratic, and most of a 21-file start-up)."""
        listener = self.listeners.get(port) or Listener("", port)
        problems: list[Finding] = []
        seen: dict[tuple[object, ...], Claimed] = {}
        for entry in claims:
            claim = entry.claim
            first = listener.claimed.get(claim.key) or seen.get(claim.key)
            if first is not None:
                problems.append(Finding.error(claim.at, f"{claim.label} conflicts with {first.place} (D32)"))
            else:
                seen[claim.key] = entry
        own: dict[tuple[str | None, ...], list[Claimed]] = {}
        for entry in claims:
            if entry.claim.prefix is not None:
                own.setdefault(entry.claim.prefix, []).append(entry)
        for entry in claims:
            problems += [
                Finding.error(entry.claim.at, f"{entry.claim.label} collides with {other.claim.label} (D32)")
                for other in [*listener.owners_over(entry.claim), *_owners_over(own, entry.claim)]
            ]
            if entry.claim.prefix is not None:
                problems += [
                    Finding.error(
                        entry.claim.at,
                        f"{entry.claim.label} collides with the route {other.claim.label} at {other.place} (D32)",
                    )
                    for other in listener.routes_under(entry.claim.prefix)
                    if _shadows(entry.claim, other.claim)
                ]
        return problems

    def _mount(self, mounted: Mounted) -> None:
        adapter = mounted.adapter
        if adapter.port is None:
            self.portless.append(mounted)
            return
        port = adapter.port + self.settings.port_offset
        listener = self.listeners.setdefault(port, Listener(self.address(adapter.address), port))
        listener.mounted.setdefault(adapter.kind, []).append(mounted)

    def every_mounted(self) -> list[Mounted]:
        return [
            m for listener in self.listeners.values() for each in listener.mounted.values() for m in each
        ] + self.portless
