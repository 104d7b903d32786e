"""Tool calls as tasks: the MCP Tasks extension (``io.modelcontextprotocol/tasks``, SEP-2663), D114.

At 2026-07-28 tasks are an extension: a client that lists it in its per-request capabilities may
get, in place of a tool's result, a task handle (``resultType: "task"``), and polls ``tasks/get``
until the task is ``completed`` (its ``result`` is the tool's result), ``failed`` or ``cancelled``
(``tasks/cancel``). The ``mcp`` package carries extensions (request handlers for new methods,
``resultType`` claims on the client) but implements no tasks itself, so the shapes are declared
here on its base models and served through its handlers; nothing is framed by hand.

Tasks live in the worker's memory for ``task_ttl`` seconds after they finish: a client polls the
worker that started the task (one worker, or sticky sessions).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ...records import dataclass

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
POLL_INTERVAL_MS = 200
Status = Literal["working", "completed", "failed", "cancelled"]


class _TaskFields(types.Result):
    """The fields every task answer carries."""

    task_id: str
    status: Status
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None
    status_message: str | None = None


class TaskHandle(_TaskFields):
    """What ``tools/call`` answers when it started a task (``CreateTaskResult``)."""

    result_type: Literal["task"] = "task"


class TaskState(_TaskFields):
    """``tasks/get`` and ``tasks/cancel``: the task, with its final ``result`` once completed."""

    result: dict[str, Any] | None = None


class TaskRequestParams(types.RequestParams):
    task_id: str


class GetTaskRequest(types.Request[TaskRequestParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskRequestParams
    name_param: ClassVar[str | None] = "taskId"


class CancelTaskRequest(types.Request[TaskRequestParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskRequestParams
    name_param: ClassVar[str | None] = "taskId"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class _Task:
    id: str
    runner: asyncio.Task[types.CallToolResult]
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    status: Status = "working"
    result: types.CallToolResult | None = None
    finished: float | None = None


def wants_task(context: Any) -> bool:
    """Whether this request's client takes task handles: a 2026-07-28 request that lists the
    extension in its capabilities (an older client always gets the result itself)."""
    if context.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = context.session.client_capabilities
    return capabilities is not None and TASKS_EXTENSION in (capabilities.extensions or {})


class TaskStore:
    """The tasks of one MCP endpoint."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._tasks: dict[str, _Task] = {}

    def start(self, run: Callable[[], Awaitable[types.CallToolResult]]) -> TaskHandle:
        self._forget_expired()
        task_id = secrets.token_urlsafe(16)
        runner = asyncio.create_task(self._finish(task_id, run))
        task = self._tasks[task_id] = _Task(task_id, runner)
        return TaskHandle(**self._fields(task))

    async def _finish(self, task_id: str, run: Callable[[], Awaitable[types.CallToolResult]]) -> types.CallToolResult:
        result = await run()
        task = self._tasks.get(task_id)
        if task is not None and task.status == "working":
            task.status, task.result, task.updated_at, task.finished = "completed", result, _now(), time.monotonic()
        return result

    async def get(self, context: Any, params: TaskRequestParams) -> TaskState:
        task = self._find(params.task_id)
        if task.status == "working" and task.runner.done() and task.runner.exception() is not None:
            task.status, task.updated_at, task.finished = "failed", _now(), time.monotonic()
        result = task.result.model_dump(by_alias=True, mode="json", exclude_none=True) if task.result else None
        return TaskState(**self._fields(task), result=result)

    async def cancel(self, context: Any, params: TaskRequestParams) -> TaskState:
        """The running call is cancelled, its upstream request with it; a finished task stays as it is."""
        task = self._find(params.task_id)
        if task.status == "working":
            task.runner.cancel()
            task.status, task.updated_at, task.finished = "cancelled", _now(), time.monotonic()
        return TaskState(**self._fields(task))

    def _find(self, task_id: str) -> _Task:
        self._forget_expired()
        task = self._tasks.get(task_id)
        if task is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown or expired task '{task_id[:40]}'")
        return task

    def _fields(self, task: _Task) -> dict[str, Any]:
        return {
            "task_id": task.id,
            "status": task.status,
            "created_at": task.created_at,
            "last_updated_at": task.updated_at,
            "ttl_ms": int(self.ttl * 1000),
            "poll_interval_ms": POLL_INTERVAL_MS,
        }

    def _forget_expired(self) -> None:
        limit = time.monotonic() - self.ttl
        for task_id in [t.id for t in self._tasks.values() if t.finished is not None and t.finished < limit]:
            del self._tasks[task_id]
