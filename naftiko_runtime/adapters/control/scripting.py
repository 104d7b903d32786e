"""``GET``/``PUT /scripting`` on the control port: the engine's scripting governance endpoint
(issue 20). ``GET`` reads the governance as the file set it and as it stands now, with the
counts of the script steps run; ``PUT`` turns script steps off or on and changes their timeout
while serving, from the next run on. The defaults, ``allowedLanguages`` and ``statementLimit``
shape the steps when the file loads: a ``PUT`` of them is refused, naming the file and reload."""

from __future__ import annotations

from typing import Any

from ...core.problems import Problem
from ...core.scripts import ScriptGovernance
from .model import Scripting

AT_LOAD = ("defaultLocation", "defaultLanguage", "allowedLanguages", "statementLimit")


class ScriptingEndpoint:
    def __init__(self, declared: Scripting, governance: ScriptGovernance):
        self.declared = declared
        self.governance = governance

    def describe(self) -> dict[str, Any]:
        declared, now = self.declared, self.governance
        answer: dict[str, Any] = {"enabled": now.enabled}
        if now.timeout is not None:
            answer["timeout"] = round(now.timeout * 1000)
        for key, value in (
            ("defaultLocation", declared.default_location),
            ("defaultLanguage", declared.default_language),
            ("statementLimit", declared.statement_limit),
            ("allowedLanguages", list(declared.allowed_languages) if declared.allowed_languages is not None else None),
        ):
            if value is not None:
                answer[key] = value
        average = now.seconds * 1000 / now.executions if now.executions else 0.0
        stats: dict[str, Any] = {
            "totalExecutions": now.executions,
            "totalErrors": now.errors,
            "averageDurationMs": round(average, 2),
        }
        if now.last_execution_at is not None:
            stats["lastExecutionAt"] = now.last_execution_at
        return {**answer, "stats": stats}

    def change(self, update: Any) -> None:
        """Checked whole before anything changes: a refused body changes nothing."""
        if not isinstance(update, dict):
            raise Problem(400, "the body must be a JSON object")
        fixed = [key for key in AT_LOAD if key in update]
        if fixed:
            raise Problem(
                400, f"{', '.join(fixed)} shape the script steps when the file loads: change the file and reload"
            )
        unknown = sorted(set(update) - {"enabled", "timeout"})
        if unknown:
            raise Problem(400, f"unknown scripting setting(s) {', '.join(unknown)}: expected enabled, timeout")
        enabled, timeout = update.get("enabled", self.governance.enabled), update.get("timeout")
        if not isinstance(enabled, bool):
            raise Problem(400, "'enabled' must be true or false")
        if "timeout" in update and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
            raise Problem(400, "'timeout' must be an integer greater than or equal to 1")
        self.governance.enabled = enabled
        if timeout is not None:
            self.governance.timeout = timeout / 1000
