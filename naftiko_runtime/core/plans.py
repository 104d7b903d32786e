"""What an exposed operation or tool compiles into, once, at load time (``compiler``).

A plan has two sides. The exposed side is what the caller deals with: the inputs (declared, and
inferred from ``with``, D25), the steps, and the output mapping. Each step's ``UpstreamCall`` is
the consumed side (``consumed``): which namespace's client, the method and URL template, where each
``with`` value comes from (D20) and which consumed parameter it fills (D21), the body template, the
response decoder, the credentials and the secrets to redact. At request time the executor only
reads the plan; nothing is parsed or looked up by name there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, ClassVar

from ..records import dataclass
from ..settings import CachePolicy
from ..spec.binds import BindValues
from ..spec.expressions import Lookup, Reference, WithSource
from ..spec.model import Exposed, Parameter
from .bodies import BodyTemplate
from .codecs import Decoder
from .credentials import Credentials
from .inputs import InputSpec
from .outputs import Extract, Mapper
from .scripts import ScriptLimits
from .steps import Compound, Step, StepRun, StepShape, StepValue

FORWARD_OPERATION = "(forward)"
"""The operation name of a forward's call: no consumed operation can be named so."""


@dataclass(frozen=True)
class Argument:
    """One consumed parameter and where its value comes from."""

    parameter: Parameter
    source: WithSource | StepValue


@dataclass(frozen=True)
class BinaryOutput:
    """``outputRawFormat: binary`` (beta4): the body is streamed to the caller, never decoded."""

    media_type: str | None
    """``outputMediaType``; ``None`` passes the upstream's Content-Type on."""
    max_size: int | None
    """``maxBinarySize`` in bytes; ``None`` means the serve-time ``--max-body-size``."""


@dataclass(frozen=True)
class UpstreamCall:
    """The consumed side of one step: everything needed to build, send and decode one request."""

    namespace: str
    operation: str
    method: str
    base_uri: str
    path_parts: tuple[str | Reference, ...]
    arguments: tuple[Argument, ...]
    body: BodyTemplate | None
    decoder: Decoder
    credentials: Credentials
    secret_forms: tuple[bytes, ...]
    """The gateway's secrets as they may appear in an upstream reply: redacted from every reply
    before an adapter sees it (D55, D56)."""
    binary: BinaryOutput | None = None
    cache: CachePolicy | None = None
    """The operation's ``x-naftiko-cache`` rule, over its namespace's policy (D123)."""

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.operation}"

    def with_arguments(self, arguments: tuple[Argument, ...]) -> UpstreamCall:
        """This call with an operation's arguments: what ``dataclasses.replace`` makes, without its
        walk over the fields at each of the ~23,000 calls of a 1,000-file start (D184)."""
        return UpstreamCall(
            self.namespace,
            self.operation,
            self.method,
            self.base_uri,
            self.path_parts,
            arguments,
            self.body,
            self.decoder,
            self.credentials,
            self.secret_forms,
            self.binary,
            self.cache,
        )


@dataclass(frozen=True)
class CallStep:
    """One upstream call of an operation. Simple mode (``call`` + ``with``) is a plan of one step."""

    name: str
    call: UpstreamCall
    shape: StepShape | None = None
    """In orchestrated mode, what the result carries: the consumed operation's outputs (D45)."""
    concurrent: ClassVar[bool] = True

    async def run(self, run: StepRun) -> Any:
        return await run.send(self, run)


@dataclass(frozen=True)
class Paging:
    """A consumed list's paging, compiled for one plan (``pagination.walk`` follows it, D121)."""

    style: str
    items: Extract
    cursor: Extract | None
    parameter: str | None
    limit_parameter: str
    limit: int
    first_page: int
    max_pages: int


DEFAULT_SCRIPT_LIMITS = ScriptLimits(timeout=60.0, memory=64 * 1024 * 1024)
"""The spec's engine default time (60,000 ms); ``Settings`` passes the served values."""


@dataclass(frozen=True)
class OperationPlan:
    exposed: Exposed
    inputs: tuple[InputSpec, ...]
    steps: tuple[Step, ...]
    mapper: Mapper
    binds: BindValues
    orchestrated: bool = False
    """The mapper reads every step's result by name (``$.<step>.<path>``), not one reply; with
    no steps at all the plan is a mock and the mapper reads only the inputs (D81)."""
    waves: tuple[tuple[Step, ...], ...] = ()
    """The steps grouped as they run: one by one, or (``Settings.concurrent_steps``) consecutive
    call steps that read none of each other's results together (D80)."""
    step_kinds: Mapping[str, str] = field(default_factory=dict)
    """Each step's ``type`` by its name: the label of its duration (D115)."""
    paging: Paging | None = None
    """``pages: all`` over a paginated consumed list (D121): the mapper reads every page's items."""

    @property
    def calls(self) -> tuple[UpstreamCall, ...]:
        """The upstream calls the plan may make, for opening clients and listing routes."""
        steps = self.steps
        if len(steps) == 1 and steps[0].__class__ is CallStep:
            return (steps[0].call,)  # a simple plan's (D184): read for every plan at each start
        return tuple(_calls(steps))

    def lookup(self, inputs: Mapping[str, Any]) -> Lookup:
        """Template lookup for this operation: bind variables first, then inputs (D12)."""
        binds, aliases = self.binds, self.exposed.aliases

        def find(reference: Reference) -> tuple[bool, Any]:
            is_bind, value = binds.lookup(reference)
            if is_bind:
                return value is not None, value
            if reference.namespace is None or reference.namespace in aliases:
                return (reference.name in inputs), inputs.get(reference.name)
            return False, None

        return find


def _calls(steps: Iterable[Step]) -> Iterator[UpstreamCall]:
    """Every call of ``steps``, those inside compound steps (``Compound``: issue 21) too."""
    for step in steps:
        if isinstance(step, CallStep):
            yield step.call
        elif isinstance(step, Compound):
            yield from _calls(step.inner)
