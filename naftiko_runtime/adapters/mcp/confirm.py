"""Asking the user before a destructive tool runs (``[mcp] confirm_destructive``, D112).

MCP 2026-07-28 asks through an input request: the first ``tools/call`` is answered with an
``InputRequiredResult`` holding one form elicitation (a yes/no ``confirm``), and the client calls
again with the user's answer in ``inputResponses``. The endpoint is stateless, so the answer is
read from that second call alone: only an ``accept`` whose ``confirm`` is true lets the tool run.

A client at an earlier protocol over this stateless endpoint cannot be asked (the server may not
send it a request), so the tool refuses to run for it: opting in means nothing destructive
happens unconfirmed, whoever calls.
"""

from __future__ import annotations

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

CONFIRM_KEY = "confirm"
"""The input request's key, and the form's one field."""
CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {CONFIRM_KEY: {"type": "boolean", "title": "Run it", "description": "true to run the tool"}},
    "required": [CONFIRM_KEY],
}


def _refused(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def confirmation_gate(
    protocol_version: str, params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult | None:
    """``None`` when the user confirmed; else what to answer instead of running the tool."""
    name = params.name
    if protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return _refused(
            f"Tool {name} is destructive and this gateway asks the user before it runs; a client at "
            f"protocol {protocol_version} cannot be asked here: connect at {MODERN_PROTOCOL_VERSIONS[-1]}. "
            "Nothing was run."
        )
    answer = (params.input_responses or {}).get(CONFIRM_KEY)
    if answer is None:
        request = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=f"Tool {name} is marked destructive. Run it with these arguments: {params.arguments or {}}?",
                requested_schema=CONFIRM_SCHEMA,
            )
        )
        return types.InputRequiredResult(input_requests={CONFIRM_KEY: request})
    if isinstance(answer, types.ElicitResult) and answer.action == "accept" and (answer.content or {}).get(CONFIRM_KEY):
        return None
    action = answer.action if isinstance(answer, types.ElicitResult) else "an answer that is not an elicitation result"
    return _refused(f"Tool {name} was not confirmed ({action}): nothing was run.")
