"""The one execution core: checked inputs in, the plan's steps run upstream, a mapped reply out.

Both adapters call ``Executor.execute`` with inputs already checked against the plan (the REST
adapter from an HTTP request, the MCP adapter from tool arguments); nothing about calling an
upstream exists anywhere else. Runtime errors are raised as ``Problem``; an upstream's own error
is a ``Reply`` with ``ok = False`` and the upstream body untouched (D51) - except that a secret
the gateway holds is redacted from every upstream body and passed-back header (D56: an upstream
that echoes the request's ``Authorization`` must not hand the key to the caller).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..spec.expressions import Lookup
from .codecs import DecodeError, check_json
from .observe import Observation, Observer
from .pagination import walk
from .plans import CallStep, OperationPlan, Paging, UpstreamCall
from .problems import Problem, encode_json
from .redaction import redact_bytes, redact_stream
from .requests import Outgoing, build_outgoing
from .steps import Step, StepRun, with_results
from .upstream import UpstreamClients, UpstreamResponse, UpstreamStream

PASSED_BACK_HEADERS = re.compile(
    r"^(location|retry-after|etag|last-modified|cache-control|link|x-ratelimit-[a-z-]+|ratelimit(-[a-z-]+)?"
    r"|x-rate-limit-[a-z-]+)$"
)
"""D52: response headers worth passing back; Content-Type is handled on its own."""
FAILED_STEP_HEADER = "naftiko-failed-step"
"""D80: names the step whose upstream failed on the error reply of an orchestrated operation."""
PAGES_HEADER = "naftiko-pages"
"""D121: how many upstream pages a gathered answer holds."""
log = logging.getLogger("naftiko_runtime.steps")
Answer = TypeVar("Answer", UpstreamResponse, UpstreamStream)
T = TypeVar("T")


@functools.lru_cache(maxsize=1024)
def passed_back(name: str) -> bool:
    """Upstreams send the same few header names on every reply: decide each name once."""
    return PASSED_BACK_HEADERS.match(name.lower()) is not None


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]
    value: Any
    """The mapped result for a 2xx reply (``None`` for an empty body); unused for errors."""
    step: str | None = None
    """The failing step of an orchestrated operation (D80)."""
    stream: AsyncGenerator[bytes, None] | None = None
    """A binary 2xx answer still arriving (``outputRawFormat: binary``): ``body`` is empty, and the
    adapter passes the chunks on (REST) or collects them (MCP). Closing it closes the exchange."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _redacted(
    forms: tuple[bytes, ...], response: UpstreamResponse, keep: Callable[[str], bool] = passed_back
) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """The reply's body and the headers ``keep`` passes back, with the gateway's secrets replaced (D56)."""
    headers = tuple((k.lower(), v) for k, v in response.items if keep(k))
    if not forms:
        return response.body, headers
    return (
        redact_bytes(response.body, forms),
        tuple((k, redact_bytes(v.encode(), forms).decode()) for k, v in headers),
    )


class StepFailed(Exception):
    """An upstream error answered to a step: the chain stops and the reply is the answer (D80)."""

    def __init__(self, reply: Reply):
        super().__init__(f"step '{reply.step}' answered {reply.status}")
        self.reply = reply


class Executor:
    def __init__(self, clients: UpstreamClients, observer: Observer | None = None):
        self.clients = clients
        self.observer = observer
        """Metrics and traces (``core.observe``); ``None`` when nothing observes."""

    def execute(self, plan: OperationPlan, inputs: Mapping[str, Any], *, keep_value: bool = True) -> Awaitable[Reply]:
        """The plan's reply. ``keep_value=False`` (the REST adapter, which answers with the bytes)
        leaves a pass-through's ``Reply.value`` ``None``: its body is only proved JSON (D46, D158).
        The execution's own coroutine, observed or not: no frame of this method's on the stack."""
        return self._execute(plan, inputs, keep_value)

    async def relay(self, call: UpstreamCall, request: Outgoing, keep: Callable[[str], bool]) -> Reply:
        """A request built by an adapter (a REST forward, D82), sent and answered like every other
        call: observed, redacted, its headers filtered by ``keep``; the body is not decoded."""
        response = await self._send(call, request)
        body, headers = _redacted(self.clients.secret_forms(call), response, keep)
        return Reply(response.status, body, response.headers.get("content-type"), headers, None)

    def _send(self, call: UpstreamCall, request: Outgoing) -> Awaitable[UpstreamResponse]:
        """The exchange's own coroutine when nothing observes it: no frame of ``_observed`` (D166)."""
        if self.observer is None:
            return self.clients.send(call, request)
        return self._observed(call, request, self.clients.send)

    async def _observed(
        self,
        call: UpstreamCall,
        request: Outgoing,
        exchange: Callable[[UpstreamCall, Outgoing], Awaitable[Answer]],
        within: Observation | None = None,
    ) -> Answer:
        """``exchange`` (a whole answer, or a stream's head) reported to the observer, if any: the
        observer sees the request before it goes (it may add ``traceparent``) and the status after.
        One coroutine either way: an observed call had two, this one and a wrapper's (issue 22)."""
        observer = self.observer
        if observer is None:
            return await exchange(call, request)
        observation = observer.upstream(call, request, within)
        status = 500
        try:
            response = await exchange(call, request)
            status = response.status
            return response
        except Problem as exc:
            status = exc.status
            raise
        finally:
            observation.finish(status)

    async def _execute(self, plan: OperationPlan, inputs: Mapping[str, Any], keep_value: bool = True) -> Reply:
        """Simple mode: one step whose decoded answer the outputs map (D45); orchestrated and
        mock plans go through ``_orchestrate``. Observed, the request's observation starts and
        finishes in this coroutine, with no wrapper of its own (D164), and so does its one upstream
        call's (D178): every other call is observed by ``_send``."""
        observer = self.observer
        observation = None if observer is None else observer.request(plan)
        status = 500
        try:
            lookup = plan.lookup(inputs)
            call = None if plan.orchestrated else _simple_call(plan)
            if call is None:
                reply = await self._orchestrate(plan, inputs, lookup)
            elif call.binary is not None:
                reply = await self._binary(plan, call, inputs, lookup, observation)
            elif plan.paging is not None:
                reply = await self._pages(plan, plan.paging, call, build_outgoing(call, inputs, lookup), lookup)
            elif observation is None:
                response = await self.clients.send(call, build_outgoing(call, inputs, lookup))
                reply = self._simple_reply(plan, call, response, lookup, keep_value)
            else:  # the call observed in this frame, as ``_observed`` would: no coroutine of its (D178)
                request = build_outgoing(call, inputs, lookup)
                observation.call(call, request)
                try:
                    response = await self.clients.send(call, request)
                except Problem as exc:
                    observation.called(exc.status)
                    raise
                except BaseException:
                    observation.called(500)
                    raise
                observation.called(response.status)
                reply = self._simple_reply(plan, call, response, lookup, keep_value)
            status = reply.status
            return reply
        except Problem as exc:
            status = exc.status
            raise
        finally:
            if observation is not None:
                observation.finish(status)

    def _simple_reply(
        self, plan: OperationPlan, call: UpstreamCall, response: UpstreamResponse, lookup: Lookup, keep_value: bool
    ) -> Reply:
        """A simple plan's reply from its upstream answer: an error or an empty body as it came, a
        pass-through's bytes as they came, or the outputs' mapping of the decoded document."""
        body, headers = _redacted(self.clients.secret_forms(call), response)
        content_type = response.headers.get("content-type")
        if not 200 <= response.status < 300 or not body:
            return Reply(response.status, body, content_type, headers, None)
        if plan.mapper.passthrough and call.decoder.format == "json":
            # D46: the upstream bytes go back as they came; decoding only proves them well-formed.
            # Another format passes through as its decoded structure, in JSON (D50).
            document = _decode(call, response.status, body, content_type, "", keep_value)
            return Reply(response.status, body, content_type or "application/json", headers, document)
        value = plan.mapper.apply(_decode(call, response.status, body, content_type, ""), lookup)
        body = encode_json(value, 502, f"the mapped answer of {call.label}")
        return Reply(response.status, body, "application/json", headers, value)

    async def _pages(
        self, plan: OperationPlan, paging: Paging, call: UpstreamCall, request: Outgoing, lookup: Lookup
    ) -> Reply:
        """D121: every page's items in one list, which the outputs map; an error page is the answer."""

        async def fetch(page: Outgoing) -> tuple[UpstreamResponse, Any]:
            response = await self._send(call, page)
            ok = 200 <= response.status < 300 and response.body
            content_type = response.headers.get("content-type")
            return response, _decode(call, response.status, response.body, content_type, "") if ok else None

        pages = await walk(paging, request, fetch)
        if pages.failed is not None:
            body, headers = _redacted(self.clients.secret_forms(call), pages.failed)
            return Reply(pages.failed.status, body, pages.failed.headers.get("content-type"), headers, None)
        value = pages.items if plan.mapper.passthrough else plan.mapper.apply(pages.items, lookup)
        body = encode_json(value, 502, f"the pages of {call.label}")
        return Reply(200, body, "application/json", ((PAGES_HEADER, str(pages.count)),), value)

    async def _binary(
        self,
        plan: OperationPlan,
        call: UpstreamCall,
        inputs: Mapping[str, Any],
        lookup: Lookup,
        within: Observation | None,
    ) -> Reply:
        """``outputRawFormat: binary``: the body goes to the caller as it arrives, within
        ``maxBinarySize``, with the declared media type (the exposed response's, else the
        operation's ``outputMediaType``, else the upstream's) and the upstream's Content-Disposition
        and Content-Length."""
        assert call.binary is not None
        limit = call.binary.max_size or self.clients.settings.max_upstream_body
        opening = functools.partial(self.clients.stream, limit=limit)
        response = await self._observed(call, build_outgoing(call, inputs, lookup), opening, within)
        passed = UpstreamResponse(response.status, response.headers, response.items, response.body)
        forms = self.clients.secret_forms(call)
        body, headers = _redacted(forms, passed)
        upstream_type = response.headers.get("content-type")
        if response.chunks is None:
            return Reply(response.status, body, upstream_type, headers, None)
        extra = tuple(
            (name, redact_bytes(value.encode(), forms).decode() if forms else value)
            # A redacted body may change length: then it goes chunked, without the upstream's length.
            for name in ("content-disposition", "content-length")[: 1 if forms else 2]
            if (value := response.headers.get(name)) is not None
        )
        media_type = plan.exposed.response_media_type or call.binary.media_type or upstream_type
        stream = redact_stream(response.chunks, forms) if forms else response.chunks
        return Reply(
            response.status, b"", media_type or "application/octet-stream", headers + extra, None, stream=stream
        )

    async def _orchestrate(self, plan: OperationPlan, inputs: Mapping[str, Any], lookup: Lookup) -> Reply:
        """D80: steps in declared order, each result kept by step name; the first failing step
        (in declared order) is the answer and no later wave runs. Every upstream request of one
        chain is logged with one correlation id. A plan without steps is a mock: no network (D81).

        A wave is one step, or (``Settings.concurrent_steps``) consecutive call steps that read
        none of each other's results, sent together."""
        results: dict[str, Any] = {}
        chain = secrets.token_hex(6) if plan.steps else ""
        send = functools.partial(self._call, chain=chain)
        run = StepRun(inputs, results, with_results(lookup, results), send, self.clients)
        for wave in plan.waves:
            if len(wave) == 1:
                step = wave[0]
                try:
                    results[step.name] = await self._timed(plan, step, step.run(run))
                except StepFailed as failed:
                    return failed.reply
                continue
            outcomes = await asyncio.gather(
                *(self._timed(plan, step, step.run(run)) for step in wave), return_exceptions=True
            )
            for step, outcome in zip(wave, outcomes, strict=True):
                if isinstance(outcome, StepFailed):
                    return outcome.reply
                if isinstance(outcome, BaseException):
                    raise outcome
                results[step.name] = outcome
        value = plan.mapper.apply(results if plan.steps else None, run.lookup)
        return Reply(200, encode_json(value, 502, "the mapped answer"), "application/json", (), value)

    def _timed(self, plan: OperationPlan, step: Step, work: Awaitable[T]) -> Awaitable[T]:
        """``work``, one step of ``plan``, timed by the observer (the engine's step duration,
        D115); unobserved, ``work`` itself."""
        if self.observer is None:
            return work
        return self._timing(self.observer.step(plan, plan.step_kinds.get(step.name, "call")), work)

    @staticmethod
    async def _timing(observation: Observation, work: Awaitable[T]) -> T:
        status = 500
        try:
            result = await work
            status = 200
            return result
        except StepFailed as failed:
            status = failed.reply.status
            raise
        finally:
            observation.finish(status)

    async def _call(self, step: CallStep, run: StepRun, *, chain: str) -> Any:
        """One call step: its decoded result; an upstream error is ``StepFailed`` with the
        ``Reply`` naming the step (D80)."""
        call = step.call
        request = build_outgoing(call, run.inputs, run.lookup, run.results)
        try:
            response = await self._send(call, request)
        except Problem as problem:
            log.info("chain %s step %s: %s %s failed: %s", chain, step.name, call.method, call.label, problem)
            raise Problem(problem.status, f"step '{step.name}': {problem.detail}", headers=problem.headers) from problem
        log.info("chain %s step %s: %s %s -> %d", chain, step.name, request.method, call.label, response.status)
        body, headers = _redacted(self.clients.secret_forms(call), response)
        content_type = response.headers.get("content-type")
        if not 200 <= response.status < 300:
            headers += ((FAILED_STEP_HEADER, step.name),)
            raise StepFailed(Reply(response.status, body, content_type, headers, None, step.name))
        result = _decode(call, response.status, body, content_type, step.name) if body else None
        return result if step.shape is None else step.shape.apply(result, run.lookup)


def _decode(
    call: UpstreamCall, status: int, body: bytes, content_type: str | None, step: str, keep_value: bool = True
) -> Any:
    """The decoded body; without ``keep_value`` (a JSON pass-through) only checked, ``None``."""
    try:
        return call.decoder.decode(body) if keep_value else check_json(body)
    except DecodeError as exc:
        where = f"step '{step}': " if step else ""
        raise Problem(
            502,
            f"{where}upstream {call.label} answered {status} with a body that is not "
            f"{call.decoder.name} ({content_type or 'no Content-Type'}): {exc}",
        ) from exc


def _simple_call(plan: OperationPlan) -> UpstreamCall:
    """The one call of a plan in simple mode (D45): its only step."""
    step = plan.steps[0]
    assert isinstance(step, CallStep)
    return step.call
