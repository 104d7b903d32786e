"""Script steps in JavaScript, sandboxed in QuickJS (CONTRACT D83).

Each run gets a fresh QuickJS context: nothing survives from one request to the next. The context
has only the language itself - no ``std``/``os`` modules, no ``require``, no host callables - so a
script reads no file, opens no connection, starts no process and sees no environment. It gets one
global, ``context`` (JSON: the inputs, every earlier step's result by name, its own ``with``), and
answers by setting ``result`` (JSON-serialisable). Time (QuickJS counts CPU time) and memory are
limited per run; the run happens on a script thread, so a script that loops holds one thread for
at most its time limit while the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import quickjs

from ..spec.exactjson import dumps
from ..spec.expressions import Lookup, WithSource, resolve
from .problems import Problem
from .steps import Results, StepValue

READ_RESULT = "typeof result === 'undefined' ? undefined : JSON.stringify(result)"
STACK_LIMIT = 512 * 1024
"""Bytes of native stack for one run: deep recursion is a RangeError, not a crash."""
SCRIPT_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="naftiko-script")
"""Scripts run on their own threads (QuickJS releases the GIL while it runs): looping scripts
can only keep other scripts waiting, never the default executor that resolves upstream names."""


class ScriptSyntaxError(ValueError):
    """A script that does not compile, reported at load time with the step's position."""


@dataclass(frozen=True)
class ScriptLimits:
    timeout: float
    """Seconds of run time per script step."""
    memory: int
    """Bytes the script's heap may reach."""


@dataclass(frozen=True)
class ScriptStep:
    name: str
    sources: tuple[str, ...]
    """The dependencies in order, then the main script."""
    with_: tuple[tuple[str, WithSource | StepValue], ...]
    limits: ScriptLimits

    async def run(self, inputs: Mapping[str, Any], results: Results, lookup: Lookup) -> Any:
        context: dict[str, Any] = {**inputs, **results}
        for key, source in self.with_:
            if isinstance(source, StepValue):
                context[key] = source.extract(results)
            else:
                present, value = resolve(source, lookup, inputs)
                if present:
                    context[key] = value
        try:
            document = dumps(context).decode()
        except TypeError as exc:
            raise Problem(500, f"step '{self.name}': its context is not JSON: {exc}") from exc
        return await asyncio.get_running_loop().run_in_executor(SCRIPT_THREADS, self._run, document)

    def _run(self, document: str) -> Any:
        js = quickjs.Context()
        js.set_memory_limit(self.limits.memory)
        js.set_time_limit(self.limits.timeout)
        js.set_max_stack_size(STACK_LIMIT)
        try:
            js.eval(f"var context = {document};")
            for source in self.sources:
                js.eval(source)
            answer = js.eval(READ_RESULT)
        except quickjs.JSException as exc:
            raise Problem(500, f"step '{self.name}': {self._explain(str(exc))}") from None
        return None if answer is None else orjson.loads(answer)

    def _explain(self, message: str) -> str:
        first = message.strip().splitlines()[0] if message.strip() else "error"
        if first == "InternalError: interrupted":
            return f"the script ran longer than its limit of {self.limits.timeout:g} s and was stopped"
        if first == "InternalError: out of memory":
            return f"the script exceeded its memory limit of {self.limits.memory // (1024 * 1024)} MiB"
        return f"the script failed: {first}"


def check_syntax(source: str) -> None:
    """Compile without running (``new Function``): a syntax error is a load error (D3)."""
    js = quickjs.Context()
    js.set_time_limit(1.0)
    js.set_memory_limit(64 * 1024 * 1024)
    js.set("source", source)
    try:
        js.eval("new Function(source); undefined")
    except quickjs.JSException as exc:
        raise ScriptSyntaxError(str(exc).strip().splitlines()[0]) from None
