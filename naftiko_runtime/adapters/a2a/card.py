"""The agent card: the capability's ``info`` as the agent, the source MCP adapters' tools as its skills.

A skill has no input schema in A2A: each skill's first example is the data part that calls it
(``{"skill": ..., "arguments": {...}}``, the argument types as placeholders), its second the
arguments' JSON Schema, as MCP's ``tools/list`` gives it. The card advertises the same JSON-RPC
endpoint twice, at protocol 1.0 and 0.3: the SDK's server answers both on one path, and a 0.3
client picks the interface it speaks.
"""

from __future__ import annotations

import json
from typing import Any

from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from a2a.utils.constants import PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_1_0, TransportProtocol

from ..base import Mounted
from ..mcp.schemas import input_schema
from .model import RPC_PATH, A2aAdapter, skill_tools

DATA = "application/json"
UNVERSIONED = "0.0.0"
"""A2A requires a version; a capability without ``info.version`` (alpha2 has none) gets this."""


def call_example(name: str, schema: dict[str, Any]) -> str:
    arguments = {arg: f"<{spec.get('type', 'any')}>" for arg, spec in schema["properties"].items()}
    return json.dumps({"skill": name, "arguments": arguments})


def skills(mounted: Mounted) -> list[AgentSkill]:
    found = []
    for tool, source in skill_tools(mounted):
        schema = input_schema(source.plan(tool))
        found.append(
            AgentSkill(
                id=tool.name,
                name=tool.label or tool.name,
                description=tool.description or tool.label or tool.name,
                tags=[source.adapter.namespace],
                examples=[call_example(tool.name, schema), json.dumps(schema)],
                input_modes=[DATA],
                output_modes=[DATA],
            )
        )
    return found


def agent_card(mounted: Mounted, base_url: str) -> AgentCard:
    agent = mounted.adapter
    assert isinstance(agent, A2aAdapter)
    capability = mounted.capability
    name = (capability.label if capability else None) or agent.namespace
    url = base_url.rstrip("/") + RPC_PATH
    binding = TransportProtocol.JSONRPC.value
    return AgentCard(
        name=name,
        description=agent.description or (capability.description if capability else None) or name,
        version=(capability.info_version if capability else None) or UNVERSIONED,
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding=binding, protocol_version=version)
            for version in (PROTOCOL_VERSION_1_0, PROTOCOL_VERSION_0_3)
        ],
        capabilities=AgentCapabilities(streaming=False, push_notifications=False),
        default_input_modes=[DATA],
        default_output_modes=[DATA, "text/plain"],
        skills=skills(mounted),
    )
