"""Script steps in JavaScript, sandboxed in QuickJS (CONTRACT D83).

Each run gets a fresh QuickJS context: nothing survives from one request to the next. The context
has only the language itself - no ``std``/``os`` modules, no ``require``, no host callables - so a
script reads no file, opens no connection, starts no process and sees no environment. It gets one
global, ``context`` (JSON: the inputs, every earlier step's result by name, its own ``with``), and
answers by setting ``result`` (JSON-serialisable). Time (QuickJS counts CPU time) and memory are
limited per run; the run happens on a script thread, so a script that loops holds one thread for
at most its time limit while the event loop keeps serving.

QuickJS is the ``scripts`` extra: imported by the first script compiled, after the loader checked
that it is installed (``extras.SCRIPTS``), never by a capability that has no script step.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from ..records import dataclass
from ..spec.exactjson import dumps
from ..spec.expressions import WithSource
from .problems import Problem
from .steps import StepRun, StepValue, read_source

READ_RESULT = "typeof result === 'undefined' ? undefined : JSON.stringify(result)"
STACK_LIMIT = 512 * 1024
"""Bytes of native stack for one run: deep recursion is a RangeError, not a crash."""
SCRIPT_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="naftiko-script")
"""Scripts run on their own threads (QuickJS releases the GIL while it runs): looping scripts
can only keep other scripts waiting, never the default executor that resolves upstream names."""


class ScriptSyntaxError(ValueError):
    """A script that does not compile, reported at load time with the step's position."""


@dataclass
class ScriptGovernance:
    """A file's scripting governance as it stands now (the control adapter's ``scripting``): one
    object shared by the file's script steps and its control port, where ``PUT /scripting``
    turns it off or changes its timeout while serving, and ``GET /scripting`` reads its counts."""

    enabled: bool = True
    """``false``: every script step fails without running, saying why."""
    timeout: float | None = None
    """Seconds; ``None`` leaves the serve's limit. Never beyond the serve's limit."""
    executions: int = 0
    errors: int = 0
    seconds: float = 0.0
    """Run time of every execution, summed."""
    last_execution_at: str | None = None

    def ran(self, seconds: float, failed: bool) -> None:
        self.executions += 1
        self.errors += failed
        self.seconds += seconds
        self.last_execution_at = datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ScriptLimits:
    timeout: float
    """Seconds of run time per script step: the serve's ceiling."""
    memory: int
    """Bytes the script's heap may reach."""
    governance: ScriptGovernance | None = None
    """The file's control adapter's scripting governance, when it declares one."""

    @property
    def seconds(self) -> float:
        """The time limit now: the governance's, within the serve's."""
        chosen = self.governance.timeout if self.governance is not None else None
        return self.timeout if chosen is None else min(self.timeout, chosen)


@dataclass(frozen=True)
class ScriptStep:
    name: str
    sources: tuple[str, ...]
    """The dependencies in order, then the main script."""
    with_: tuple[tuple[str, WithSource | StepValue], ...]
    limits: ScriptLimits

    concurrent: ClassVar[bool] = False

    async def run(self, run: StepRun) -> Any:
        governance = self.limits.governance
        if governance is not None and not governance.enabled:
            raise Problem(
                500, f"step '{self.name}': script steps are disabled (the control adapter's scripting.enabled: false)"
            )
        context: dict[str, Any] = {**run.inputs, **run.results}
        for key, source in self.with_:
            present, value = read_source(source, run)
            if present:
                context[key] = value
        try:
            document = dumps(context).decode()
        except TypeError as exc:
            raise Problem(500, f"step '{self.name}': its context is not JSON: {exc}") from exc
        seconds = self.limits.seconds
        evaluation = asyncio.get_running_loop().run_in_executor(SCRIPT_THREADS, self._run, document, seconds)
        if governance is None:
            return await evaluation
        started, failed = time.perf_counter(), True
        try:
            answer = await evaluation
            failed = False
            return answer
        finally:
            governance.ran(time.perf_counter() - started, failed)

    def _run(self, document: str, seconds: float) -> Any:
        import quickjs

        js = quickjs.Context()
        js.set_memory_limit(self.limits.memory)
        js.set_time_limit(seconds)
        js.set_max_stack_size(STACK_LIMIT)
        try:
            js.eval(f"var context = {document};")
            for source in self.sources:
                js.eval(source)
            answer = js.eval(READ_RESULT)
        except quickjs.JSException as exc:
            raise Problem(500, f"step '{self.name}': {self._explain(str(exc), seconds)}") from None
        return None if answer is None else orjson.loads(answer)

    def _explain(self, message: str, seconds: float) -> str:
        first = message.strip().splitlines()[0] if message.strip() else "error"
        if first == "InternalError: interrupted":
            return f"the script ran longer than its limit of {seconds:g} s and was stopped"
        if first == "InternalError: out of memory":
            return f"the script exceeded its memory limit of {self.limits.memory // (1024 * 1024)} MiB"
        return f"the script failed: {first}"


def check_syntax(source: str) -> None:
    """Compile without running (``new Function``): a syntax error is a load error (D3)."""
    import quickjs

    js = quickjs.Context()
    js.set_time_limit(1.0)
    js.set_memory_limit(64 * 1024 * 1024)
    js.set("source", source)
    try:
        js.eval("new Function(source); undefined")
    except quickjs.JSException as exc:
        raise ScriptSyntaxError(str(exc).strip().splitlines()[0]) from None
