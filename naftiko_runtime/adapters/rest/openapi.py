"""The OpenAPI 3.1 document of one port's REST routes (issue 14, item 1): a pure function of plans.

It is read from the same ``RestEndpoint`` tables the requests are read with, so the document says
exactly what the endpoint accepts: each input's location (path, query, header, cookie, body field
or whole body, D25), type, pattern and whether it is required; credential headers the gateway fills
are left out (D29). Response schemas come from the output parameters (D40-D44): a pass-through
says nothing about the upstream's shape, so its schema is empty. The runtime's own errors are RFC
9457 problems (D53); any other status is the upstream's, passed through (D51). No ``servers``:
the document describes the port that serves it, so the docs page calls the same origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from ...core.inputs import JSON_INPUT_TYPES, InputSpec
from ...spec.expressions import PLACEHOLDER
from ...spec.model import Authentication, ExposedAdapter, OutputParameter
from .endpoints import RestEndpoint

OPENAPI_VERSION = "3.1.0"
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_STATUSES = {
    400: "invalid input: every problem listed in `errors` (D27)",
    404: "no operation at this path",
    405: "another method is exposed at this path; see `Allow`",
    413: "the request body is over the gateway's limit",
    415: "a request body must be sent as application/json",
    502: "the upstream could not be reached, or its answer could not be decoded",
    504: "the upstream did not answer in time",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status", "detail"],
}


def _schema(spec: InputSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if spec.type in JSON_INPUT_TYPES:
        schema["type"] = spec.type
    if spec.type == "array":
        schema["items"] = {}
    if spec.pattern is not None and spec.type in (None, "string"):
        schema["pattern"] = spec.pattern.pattern
    if spec.description:
        schema["description"] = spec.description
    return schema


def _parameter(spec: InputSpec, location: str, name: str | None = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name or spec.name,
        "in": location,
        "required": spec.required or location == "path",
        "schema": _schema(spec),
    }
    if spec.description:
        parameter["description"] = spec.description
    if location == "query" and spec.type == "object":
        parameter.update(style="deepObject", explode=True)  # D16: params[key]=value
    return parameter


def _parameters(endpoint: RestEndpoint) -> list[dict[str, Any]]:
    parameters = [_parameter(spec, "path", placeholder) for spec, placeholder in endpoint.path]
    parameters += [_parameter(spec, "query") for spec in endpoint.query.values()]
    parameters += [_parameter(spec, "header") for spec in endpoint.headers.values() if not spec.credential]
    parameters += [_parameter(spec, "cookie") for spec in endpoint.cookies.values()]
    return parameters


def _request_body(endpoint: RestEndpoint) -> dict[str, Any] | None:
    if endpoint.whole_body is not None:
        spec = endpoint.whole_body
        return {"required": spec.required, "content": {"application/json": {"schema": _schema(spec)}}}
    if not endpoint.body_fields:
        return None
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {spec.name: _schema(spec) for spec in endpoint.body_fields},
    }
    required = [spec.name for spec in endpoint.body_fields if spec.required]
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


def _output_node(output: OutputParameter) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": output.type} if output.type in JSON_INPUT_TYPES else {}
    if output.properties is not None:
        schema["properties"] = {name: _output_node(child) for name, child in output.properties.items()}
    if output.items is not None:
        schema["items"] = _output_node(output.items)
    if schema.get("type") in ("object", "array") and output.properties is None and output.items is None:
        return {}  # D40: a pass-through of whatever JSON the upstream sends
    return schema


def response_schema(outputs: Sequence[OutputParameter]) -> dict[str, Any]:
    """D44: one unnamed output is the body itself; named ones an object keyed by name. Mapped
    values may be ``null`` when the path matches nothing (D41, D42), so only shapes are stated."""
    if not outputs:
        return {}
    if len(outputs) == 1 and not outputs[0].name:
        return _relaxed(_output_node(outputs[0]))
    return {
        "type": "object",
        "properties": {o.name or f"output{i}": _relaxed(_output_node(o)) for i, o in enumerate(outputs)},
    }


def _relaxed(schema: dict[str, Any]) -> dict[str, Any]:
    """A mapped value may be null (D41) and a static one converted (D43): ``type`` admits null."""
    if "type" in schema:
        schema = dict(schema, type=[schema["type"], "null"])
    if "properties" in schema:
        schema["properties"] = {name: _relaxed(child) for name, child in schema["properties"].items()}
    if "items" in schema:
        schema["items"] = _relaxed(schema["items"])
    return schema


def _operation(endpoint: RestEndpoint, operation_id: str) -> dict[str, Any]:
    exposed = endpoint.plan.exposed
    responses: dict[str, Any] = {
        "200": {
            "description": "the upstream's answer, mapped by the operation's outputs (D50)",
            "content": {"application/json": {"schema": response_schema(exposed.outputs)}},
        },
        "default": {"description": "the upstream's own status and body, passed through unchanged (D51)"},
    }
    statuses = [400, 404, 405, 413, 502, 504] + ([415] if endpoint.reads_body else [])
    responses.update({str(status): {"$ref": f"#/components/responses/{status}"} for status in sorted(statuses)})
    operation: dict[str, Any] = {"operationId": operation_id, "tags": [exposed.namespace], "responses": responses}
    if exposed.label or exposed.name:
        operation["summary"] = exposed.label or exposed.name
    if exposed.description:
        operation["description"] = exposed.description
    if parameters := _parameters(endpoint):
        operation["parameters"] = parameters
    if (body := _request_body(endpoint)) is not None:
        operation["requestBody"] = body
    return operation


def _path(template: str) -> str:
    """``/syncs/{{id}}`` -> ``/syncs/{id}``, always with one leading ``/``."""
    return "/" + PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", template.strip()).strip("/")


def _operation_id(endpoint: RestEndpoint, taken: set[str]) -> str:
    exposed = endpoint.plan.exposed
    base = f"{exposed.namespace}.{exposed.name}" if exposed.name else f"{exposed.method} {exposed.path}"
    operation_id, n = base, 2
    while operation_id in taken:
        operation_id, n = f"{base}-{n}", n + 1
    taken.add(operation_id)
    return operation_id


def security_scheme(auth: Authentication) -> dict[str, Any]:
    """How a caller authenticates to an adapter (D90), as OpenAPI says it; never its secret."""
    if auth.type == "apikey":
        return {"type": "apiKey", "name": auth.key or "", "in": auth.placement}
    if auth.type == "oauth2":
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token of the authorization server named in "
            "/.well-known/oauth-protected-resource (RFC 9728).",
        }
    return {"type": "http", "scheme": auth.type}


def openapi_document(adapters: Iterable[ExposedAdapter], endpoints: Iterable[RestEndpoint]) -> dict[str, Any]:
    """The document of one port: its REST adapters and the endpoints of their routes."""
    adapters = list(adapters)
    schemes = {a.namespace: security_scheme(a.authentication) for a in adapters if a.authentication is not None}
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for endpoint in endpoints:
        exposed = endpoint.plan.exposed
        operation = _operation(endpoint, _operation_id(endpoint, taken))
        if exposed.namespace in schemes:
            operation["security"] = [{exposed.namespace: []}]
        paths.setdefault(_path(exposed.path), {})[exposed.method.lower()] = operation
    descriptions = [f"**{a.namespace}**: {a.description}" for a in adapters if a.description]
    info: dict[str, Any] = {
        "title": ", ".join(a.namespace for a in adapters) or "naftiko",
        "version": "1.0.0",
    }
    if descriptions:
        info["description"] = "\n\n".join(descriptions)
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "tags": [{"name": a.namespace, **({"description": a.description} if a.description else {})} for a in adapters],
        "paths": dict(sorted(paths.items())),
        "components": {
            **({"securitySchemes": schemes} if schemes else {}),
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "responses": {
                str(status): {
                    "description": f"{HTTPStatus(status).phrase}: {why} (RFC 9457)",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
                for status, why in PROBLEM_STATUSES.items()
            },
        },
    }
