"""Reading a REST request into inputs: where each input is, compiled per route (CONTRACT D25, D27).

A ``RestEndpoint`` is built once per route at load time: which route placeholder carries each
path input, lookup tables from query names (``-`` and ``_`` matched alike), lower-case header
names and cookie names to their ``InputSpec``, and which input is the whole JSON body, so that a
request is read in one pass over its query string and headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from ...core.inputs import WHOLE_BODY, InputSpec, check_inputs
from ...core.plans import OperationPlan
from ...core.problems import InputProblem, bad_input
from ...records import dataclass
from ...spec.exactjson import ExactDecodeError, loads
from ...spec.expressions import normalize_name


def _query_key(name: str) -> tuple[str, list[str]]:
    """``params[a][b]`` -> ``("params", ["a", "b"])`` (deepObject, D16)."""
    base, _, rest = name.partition("[")
    if not rest:
        return name, []
    keys = [part for part in ("[" + rest).replace("]", "").split("[") if part != ""]
    return base, keys


def _insert(target: dict[str, Any], keys: list[str], value: str) -> None:
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    last = keys[-1]
    if last in target:
        existing = target[last]
        target[last] = existing + [value] if isinstance(existing, list) else [existing, value]
    else:
        target[last] = value


@dataclass(frozen=True)
class RestEndpoint:
    plan: OperationPlan
    path: tuple[tuple[InputSpec, str], ...]
    """Each path input with the route placeholder that carries it (``sync-id`` for ``sync_id``)."""
    query: dict[str, InputSpec]
    headers: dict[bytes, InputSpec]
    cookies: dict[str, InputSpec]
    body_fields: tuple[InputSpec, ...]
    whole_body: InputSpec | None
    body_expressions: bool
    """Some input reads its ``value`` from the JSON request body (D25a)."""
    streams: bool = False
    """Some call answers ``outputRawFormat: binary``: the reply may be a stream (not the fast path's, D160)."""

    @classmethod
    def compile(cls, plan: OperationPlan) -> RestEndpoint:
        by: dict[str, list[InputSpec]] = {"path": [], "query": [], "header": [], "cookie": [], "body": []}
        for spec in plan.inputs:  # one pass (D184): this runs for every route of every file
            if spec.value is None and spec.location in by:
                by[spec.location].append(spec)
        placeholders = {normalize_name(name): name for name in plan.exposed.path_parameters}
        return cls(
            plan=plan,
            path=tuple((s, placeholders.get(normalize_name(s.name), s.name)) for s in by["path"]),
            query={normalize_name(s.name): s for s in by["query"]},
            headers={s.name.lower().encode("latin-1"): s for s in by["header"]},
            cookies={s.name: s for s in by["cookie"]},
            body_fields=tuple(s for s in by["body"] if s.fills != WHOLE_BODY),
            whole_body=next((s for s in by["body"] if s.fills == WHOLE_BODY), None),
            body_expressions=any(s.value is not None and s.value.reads_request for s in plan.inputs),
            streams=any(call.binary is not None for call in plan.calls),
        )

    @property
    def reads_body(self) -> bool:
        return bool(self.body_fields) or self.whole_body is not None or self.body_expressions

    def inputs(
        self, path_params: dict[str, str], query_string: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> dict[str, Any]:
        """The checked inputs of one request, or ``Problem(400)`` listing every problem (D27)."""
        raw: dict[str, tuple[Any, bool]] = {}
        for spec, placeholder in self.path:
            if placeholder in path_params:
                raw[spec.name] = (path_params[placeholder], True)
        if query_string and self.query:
            self._read_query(query_string, raw)
        if self.headers or self.cookies:
            for name, value in headers:
                header_spec = self.headers.get(name)
                if header_spec is not None:
                    raw[header_spec.name] = (value.decode("latin-1"), True)
                elif name == b"cookie" and self.cookies:
                    self._read_cookies(value.decode("latin-1"), raw)
        document = self._read_body(body, raw) if body and self.reads_body else None
        inputs, problems = check_inputs(self.plan.inputs, raw, document)
        if problems:
            raise bad_input(problems)
        return inputs

    def _read_query(self, query_string: bytes, raw: dict[str, tuple[Any, bool]]) -> None:
        objects: dict[str, dict[str, Any]] = {}
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            base, keys = _query_key(name)
            spec = self.query.get(normalize_name(base))
            if spec is None:
                continue
            if keys and spec.type == "object":
                _insert(objects.setdefault(spec.name, {}), keys, value)
            elif spec.name in raw and spec.type == "array":
                raw[spec.name] = (raw[spec.name][0] + [value], True)
            else:
                raw[spec.name] = ([value] if spec.type == "array" else value, True)
        for name, object_value in objects.items():
            raw[name] = (object_value, False)

    def _read_cookies(self, header: str, raw: dict[str, tuple[Any, bool]]) -> None:
        for pair in header.split(";"):
            name, _, value = pair.strip().partition("=")
            spec = self.cookies.get(name)
            if spec is not None:
                raw[spec.name] = (unquote(value), True)

    def _read_body(self, body: bytes, raw: dict[str, tuple[Any, bool]]) -> Any:
        """The decoded JSON body, its inputs put in ``raw``."""
        try:
            document = loads(body)  # numbers exact (issue 20): never a big integer turned float
        except ExactDecodeError as exc:
            raise bad_input([InputProblem(WHOLE_BODY, "body", f"not valid JSON: {exc}")]) from exc
        if self.whole_body is not None:
            raw[self.whole_body.name] = (document, False)
        if self.body_fields:
            if not isinstance(document, dict):
                raise bad_input([InputProblem(WHOLE_BODY, "body", "expected a JSON object")])
            for spec in self.body_fields:
                if spec.name in document:
                    raw[spec.name] = (document[spec.name], False)
        return document
