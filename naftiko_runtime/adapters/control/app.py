"""The control port's endpoints, each served only when its ``management`` group is on (404 else).

| path | method | group | answer |
|---|---|---|---|
| ``/health/live`` | GET | health | 200 while the process serves |
| ``/health/ready`` | GET | health | 200, or 503 while (re)loading or while every call to a namespace fails (D92) |
| ``/status``, ``/config`` | GET | info | the served files, adapters and ports (no secrets) |
| ``/config/validate`` | POST | validate | the served files loaded again, not served: 200 or 422 with the diagnostics |
| ``/config/reload`` | POST | reload | ``Runtime.reload``: 200, or 409 (the last good files keep serving) |
| ``/logs`` | GET, PUT | logs | the ``naftiko`` log level; PUT ``{"level": "DEBUG"}`` changes it |
| ``/metrics`` | GET | observability.metrics | Prometheus text exposition |
| ``/scripting`` | GET, PUT | scripting | the scripting governance and its counts; PUT ``enabled``, ``timeout`` |
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from ...core.problems import Problem
from ...core.scripts import ScriptGovernance
from ...settings import LOG_LEVELS
from ..asgi import read_body, send_problem, send_response
from ..base import RuntimeControl
from .model import Management
from .scripting import ScriptingEndpoint

PREFIXES = ("/health", "/status", "/config", "/logs", "/metrics", "/scripting")
MAX_BODY = 4096


async def _json(send: Send, status: int, value: Any) -> None:
    await send_response(send, status, orjson.dumps(value), "application/json")


class ControlApp:
    def __init__(
        self, management: Management, control: RuntimeControl | None, scripting: ScriptGovernance | None = None
    ):
        self.management = management
        self.control = control
        self.scripting = ScriptingEndpoint(management.scripting, scripting) if scripting is not None else None
        self.routes = {
            ("GET", "/health/live"): (management.health, self.live),
            ("GET", "/health/ready"): (management.health, self.ready),
            ("GET", "/status"): (management.info, self.info),
            ("GET", "/config"): (management.info, self.info),
            ("POST", "/config/validate"): (management.validate, self.validate),
            ("POST", "/config/reload"): (management.reload, self.reload),
            ("GET", "/logs"): (management.logs, self.log_level),
            ("PUT", "/logs"): (management.logs, self.set_log_level),
            ("GET", "/metrics"): (True, self.metrics),
            ("GET", "/scripting"): (self.scripting is not None, self.read_scripting),
            ("PUT", "/scripting"): (self.scripting is not None, self.change_scripting),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") or "/"
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        on, handler = self.routes.get((method, path), (False, None))
        if handler is None or not on or self.control is None:
            allowed = [m for (m, p), (enabled, _) in self.routes.items() if p == path and enabled]
            if allowed and self.control is not None:
                problem = Problem(
                    405, f"{scope['method']} is not allowed on {path}", headers={"Allow": ", ".join(allowed)}
                )
                await send_problem(send, problem, path)
                return
            await send_problem(send, Problem(404, f"nothing is served at {path} on this control port"), path)
            return
        try:
            await handler(self.control, scope, receive, send)
        except Problem as problem:
            await send_problem(send, problem, path)

    async def live(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, {"status": "UP"})

    async def ready(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        ready, reason = control.ready()
        await _json(send, 200 if ready else 503, {"status": "UP" if ready else "DOWN", "reason": reason or None})

    async def info(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, control.info())

    async def validate(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        valid, diagnostics = await control.validate()
        await _json(send, 200 if valid else 422, {"valid": valid, "diagnostics": diagnostics})

    async def reload(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        reloaded, diagnostics = await control.reload()
        await _json(send, 200 if reloaded else 409, {"reloaded": reloaded, "diagnostics": diagnostics})

    async def log_level(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, {"level": logging.getLevelName(logging.getLogger("naftiko").getEffectiveLevel())})

    async def set_log_level(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            level = orjson.loads(await read_body(receive, MAX_BODY, None)).get("level")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise Problem(400, 'the body must be JSON: {"level": "DEBUG"}') from exc
        if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
            raise Problem(400, f"'level' must be one of {', '.join(LOG_LEVELS)}")
        logging.getLogger("naftiko").setLevel(level.upper())
        await _json(send, 200, {"level": level.upper()})

    async def metrics(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        exposition = control.metrics()
        if exposition is None:
            raise Problem(404, "metrics are off (observability.metrics.local.enabled: false)")
        await send_response(send, 200, *exposition)

    async def read_scripting(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.scripting is not None
        await _json(send, 200, self.scripting.describe())

    async def change_scripting(self, control: RuntimeControl, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.scripting is not None
        try:
            update = orjson.loads(await read_body(receive, MAX_BODY, None))
        except orjson.JSONDecodeError as exc:
            raise Problem(400, "the body must be a JSON object") from exc
        self.scripting.change(update)
        await _json(send, 200, self.scripting.describe())
