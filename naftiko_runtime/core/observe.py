"""The one place every exposed call passes, seen from outside: ``Executor`` reports each exposed
request and each upstream exchange to an ``Observer`` (metrics, traces, upstream health).

The executor holds ``None`` when nothing observes (no control adapter): then the only cost is one
attribute test per call. The observer's implementation lives above the core (``serving.telemetry``),
so the core depends on no metrics or tracing library.
"""

from __future__ import annotations

from typing import Protocol

from .plans import OperationPlan, UpstreamCall
from .requests import Outgoing


class Observation(Protocol):
    def finish(self, status: int) -> None:
        """The answer's status: the reply's, or the ``Problem``'s (500 for an unexpected error)."""


class RequestObservation(Observation, Protocol):
    def call(self, call: UpstreamCall, request: Outgoing) -> None:
        """A simple plan's one call starts, observed in the executor's frame (D178): as
        ``Observer.upstream`` with this request's observation ``within``, for less (D188); the
        observer may add headers."""

    def called(self, status: int) -> None:
        """That call's answer status, or its ``Problem``'s (500 for an unexpected error)."""


class Observer(Protocol):
    def request(self, plan: OperationPlan) -> RequestObservation:
        """An exposed request starts running ``plan``."""

    def upstream(self, call: UpstreamCall, request: Outgoing, within: Observation | None = None) -> Observation:
        """An upstream exchange starts; the observer may add headers (W3C ``traceparent``, B3).
        ``within`` is the observation of the request it is made for, when the executor has it at
        hand (a simple plan's call, a binary answer's): the observer need not look the request up
        (D175; a paged plan's pages find it as an orchestrated plan's steps do)."""

    def step(self, plan: OperationPlan, kind: str) -> Observation:
        """A step of an orchestrated ``plan`` starts: ``call``, ``lookup`` or ``script``."""
