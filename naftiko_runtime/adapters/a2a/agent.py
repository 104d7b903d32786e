"""The agent's logic: a ``SendMessage`` whose data part names a skill calls that tool's plan on the
shared executor, the one every adapter calls upstream through.

| the call | the answer |
|---|---|
| no data part or ``skill``, unknown skill, bad arguments | JSON-RPC ``InvalidParams`` error; nothing runs |
| answered within ``TASK_AFTER`` | a ``Message``, the result as a data part |
| still running after ``TASK_AFTER`` | a working ``Task``, completed with the result as an artifact (``GetTask``) |
| the upstream or a step fails | a ``Task`` in ``TASK_STATE_FAILED``, its message the (redacted, D55) reason |
| ``CancelTask`` on a working task | the upstream call is cancelled, the task ``TASK_STATE_CANCELED`` |
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from a2a.helpers.proto_helpers import get_data_parts, new_data_message, new_data_part, new_task, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Message, TaskState
from a2a.utils.errors import InvalidParamsError

from ...core.execution import Executor, Reply
from ...core.inputs import InputSpec, check_inputs
from ...core.plans import OperationPlan
from ...core.problems import Problem, encode_json
from ...records import dataclass

log = logging.getLogger("naftiko_runtime.a2a")
TASK_AFTER = 1.0
"""Seconds a call may take before its answer becomes a task the client polls."""


@dataclass(frozen=True)
class Skill:
    plan: OperationPlan
    inputs: tuple[InputSpec, ...]
    """What a call checks: the arguments, and the inputs the capability fills itself (D25a)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None
    reason: str = ""


def _narrowed(spec: InputSpec | None, value: Any) -> Any:
    """A2A data parts carry every number as a double: an integer input gets its integer back."""
    if spec is not None and spec.type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _outcome(reply: Reply) -> Outcome:
    if not reply.ok:
        step = f"Step '{reply.step}': " if reply.step else ""
        return Outcome(False, reason=f"{step}Upstream answered HTTP {reply.status}: {reply.text()}")
    if reply.stream is not None:
        return Outcome(False, reason="a binary answer is not served over A2A: call this tool over MCP")
    if not reply.body:
        return Outcome(True, {})
    return Outcome(True, orjson.loads(encode_json(reply.value, 502, "the skill's answer")))


class ToolAgent(AgentExecutor):
    def __init__(self, skills: dict[str, Skill], executor: Executor):
        self.skills = skills
        self.executor = executor

    def call_of(self, message: Message | None) -> tuple[Skill, dict[str, Any]]:
        """The skill and checked inputs a message asks for, or ``InvalidParamsError`` saying why."""
        calls = [part for part in get_data_parts(message.parts) if isinstance(part, dict)] if message else []
        if len(calls) != 1 or not isinstance(calls[0].get("skill"), str):
            raise InvalidParamsError('send one data part: {"skill": "<name>", "arguments": {...}}')
        name, arguments = calls[0]["skill"], calls[0].get("arguments", {})
        skill = self.skills.get(name)
        if skill is None:
            raise InvalidParamsError(f"unknown skill '{name}'; the agent's skills: {', '.join(sorted(self.skills))}")
        if not isinstance(arguments, dict):
            raise InvalidParamsError("'arguments' must be an object")
        specs = {spec.name: spec for spec in skill.inputs}
        raw = {key: (_narrowed(specs.get(key), value), False) for key, value in arguments.items()}
        inputs, problems = check_inputs(skill.inputs, raw, arguments)
        if problems:
            listed = "; ".join(f"{p.name}: {p.problem}" for p in problems)
            raise InvalidParamsError(f"invalid arguments for skill '{name}': {listed}")
        return skill, inputs

    async def run(self, skill: Skill, inputs: dict[str, Any]) -> Outcome:
        try:
            return _outcome(await self.executor.execute(skill.plan, inputs))
        except Problem as problem:
            return Outcome(False, reason=f"Error {problem.status} ({problem.title}): {problem.detail}")
        except Exception:
            log.exception("internal error in skill %s", skill.plan.exposed.name)
            return Outcome(False, reason="Internal error in the gateway; see its log.")

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        skill, inputs = self.call_of(context.message)
        task_id, context_id = context.task_id or "", context.context_id or ""
        running = asyncio.ensure_future(self.run(skill, inputs))
        try:
            done, _ = await asyncio.wait({running}, timeout=TASK_AFTER)
            if done and (outcome := running.result()).ok:
                await event_queue.enqueue_event(new_data_message(outcome.value, context_id=context_id))
                return
            history = [context.message] if context.message else []
            working = new_task(task_id, context_id, TaskState.TASK_STATE_WORKING, history=history)
            await event_queue.enqueue_event(working)
            outcome = await running
        finally:
            running.cancel()  # a no-op once done; else the SDK cancelled us, and the call goes too
        updater = TaskUpdater(event_queue, task_id, context_id)
        if outcome.ok:
            await updater.add_artifact([new_data_part(outcome.value)], name="result")
            await updater.complete()
        else:
            await updater.failed(new_text_message(outcome.reason, context_id=context_id, task_id=task_id))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """``CancelTask``: the SDK has cancelled ``execute`` (and with it the upstream call); the
        task is marked canceled."""
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()
