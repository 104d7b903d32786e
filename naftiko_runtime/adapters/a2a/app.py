"""The agent as served: the SDK's JSON-RPC endpoint (1.0 and, on the same path, 0.3) over an
in-memory task store, and the agent card at its well-known path.

The card is built per request from the URL the client used, so the endpoint it advertises is one
that client can reach, behind a port offset or a proxy alike.
"""

from __future__ import annotations

from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..base import MountContext, Mounted
from .agent import Skill, ToolAgent
from .card import agent_card
from .model import CARD_PATH, RPC_PATH, skill_tools


def agent_app(mounted: Mounted, context: MountContext) -> ASGIApp:
    skills = {}
    for tool, source in skill_tools(mounted):
        plan = source.plan(tool)
        skills[tool.name] = Skill(plan, tuple(spec for spec in plan.inputs if not spec.credential))
    handler = DefaultRequestHandler(
        agent_executor=ToolAgent(skills, context.executor),
        task_store=InMemoryTaskStore(),
        agent_card=agent_card(mounted, "http://localhost"),
    )

    async def card(request: Request) -> JSONResponse:
        return JSONResponse(agent_card_to_dict(agent_card(mounted, str(request.base_url))))

    routes = [Route(CARD_PATH, card, methods=["GET"])]
    routes += create_jsonrpc_routes(handler, RPC_PATH, enable_v0_3_compat=True)
    return Starlette(routes=routes)
