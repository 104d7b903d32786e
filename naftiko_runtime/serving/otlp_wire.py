"""OTLP/HTTP protobuf, written by hand for the two span shapes this runtime records (issue 22, D135).

The OpenTelemetry SDK's exporter builds a protobuf message object per span, attribute and value
from each ``ReadableSpan`` on every export: at full sampling that took a quarter of the gateway's
CPU. What a span of ours carries is known when a capability loads, apart from its ids, times and
answer status; so each shape's name, kind and attributes are encoded once (``SpanShape``), and a
finished span is a handful of fixed-width fields around those bytes.

The bytes are the ``opentelemetry.proto`` messages (``ExportTraceServiceRequest`` and below) with
the SDK exporter's field values: ``tests/unit/test_otlp_wire.py`` decodes them with the generated
classes and compares them with the SDK exporter's encoding of the same spans.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

from ..records import dataclass

if TYPE_CHECKING:
    from .request_records import Record

SERVER, CLIENT = 2, 3
"""``Span.SpanKind`` values (``SPAN_KIND_SERVER``, ``SPAN_KIND_CLIENT``)."""

STATUS_ERROR = 2
"""``Status.StatusCode.STATUS_CODE_ERROR``; an unset status encodes as an empty ``Status``."""

HAS_IS_REMOTE, IS_REMOTE = 0x100, 0x200
"""``SpanFlags``: the SDK exporter always says whether the parent was remote."""

_DOUBLE = struct.Struct("<d")
_INT64_MASK = (1 << 64) - 1


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string, bytes or an embedded message."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def _head(number: int, length: int) -> bytes:
    """A length-delimited field's tag and length, for data joined after it without a copy."""
    return varint(number << 3 | 2) + varint(length)


def _any_value(value: object) -> bytes:
    """``AnyValue``: string 1, bool 2, int64 3, double 4, as the SDK encodes attribute values."""
    if isinstance(value, bool):
        return varint(2 << 3) + varint(int(value))
    if isinstance(value, int):
        return varint(3 << 3) + varint(value & _INT64_MASK)
    if isinstance(value, float):
        return varint(4 << 3 | 1) + _DOUBLE.pack(value)
    return field(1, str(value).encode())


def attribute(key: str, value: object) -> bytes:
    """One ``KeyValue`` as a repeated ``attributes`` field (number 9 in a ``Span``, 1 in a ``Resource``)."""
    return field(1, key.encode()) + field(2, _any_value(value))


def attributes(number: int, pairs: Mapping[str, object]) -> bytes:
    return b"".join(field(number, attribute(key, value)) for key, value in pairs.items())


_STATUS_UNSET = field(15, b"")
_STATUS_ERROR = field(15, varint(3 << 3) + varint(STATUS_ERROR))
_FLAGS = varint(16 << 3 | 5)
_FIXED_SIZE = 2 + 16 + 2 + 8 + 1 + 8 + 1 + 8
"""Fields 1 (trace id), 2 (span id), 7 and 8 (start and end), their tags and lengths included."""


PAIRS_KEPT = 256
"""Layouts of a request's two spans a shape keeps (``SpanShape.pair``): a few statuses a call."""


@dataclass(frozen=True, slots=True, eq=False)
class SpanShape:
    """What every span of one exposed operation (or one upstream call) shares, encoded once. One
    shape per operation (``tracing.LeanTracing``): equal only to itself, hashed by identity."""

    name_and_kind: bytes
    """Fields 5 (name) and 6 (kind)."""
    attributes: bytes
    """The attributes known at the start, as field 9 entries, in the order the SDK path sets them."""
    endings: dict[int, tuple[bytes, int]] = dataclass_field(default_factory=dict, compare=False)
    """By answer status and remote parent (``status << 1 | remote``): the start attributes and the
    fields after them (the ``http.response.status_code`` attribute, the status, the flags), and the
    size of a span without a parent or trace state, encoded once each (``ending``)."""
    pairs: dict[tuple[SpanShape, int, int, bool, bool], _Pair] = dataclass_field(default_factory=dict, compare=False)
    """A request span's with the call span under it, without a trace state (``pair``), by the
    call's shape, the statuses, and the request's parent being remote and being there."""

    def ending(self, status: int, remote: bool) -> tuple[bytes, int]:
        flags = HAS_IS_REMOTE | (IS_REMOTE if remote else 0)
        answered = field(9, attribute("http.response.status_code", status))
        suffix = self.attributes + answered + (_STATUS_ERROR if status >= 500 else _STATUS_UNSET)
        suffix += _FLAGS + flags.to_bytes(4, "little")
        ending = self.endings[status << 1 | remote] = (suffix, _FIXED_SIZE + len(self.name_and_kind) + len(suffix))
        return ending

    def pair(self, key: tuple[SpanShape, int, int, bool, bool]) -> _Pair:
        """The layout of this request span with the call span under it (``Envelope.request``):
        ``key`` is the call's shape, the two statuses, and whether the request's parent is remote
        and whether it has one. Written once per key; at most ``PAIRS_KEPT`` are kept."""
        callee, status, up_status, remote, parented = key
        suffix, size = self.endings.get(status << 1 | remote) or self.ending(status, remote)
        up_suffix, up_size = callee.endings.get(up_status << 1) or callee.ending(up_status, False)
        own = 8 + len(_PARENT_ID_HEAD) + 8 if parented else 8
        size += own - 8
        up_size += len(_PARENT_ID_HEAD) + 8
        pieces = (
            _SPAN_FIELD + varint(size) + _TRACE_ID_HEAD,
            self.name_and_kind + bytes((_START_TAG,)),
            suffix + _SPAN_FIELD + varint(up_size) + _TRACE_ID_HEAD,
            callee.name_and_kind + bytes((_START_TAG,)),
            up_suffix,
        )
        layout = "<{}s16s2s{}s{}sQBQ{}s16s2s8s2s8s{}sQBQ{}s"
        packer = struct.Struct(layout.format(len(pieces[0]), own, *map(len, pieces[1:]))).pack
        if len(self.pairs) >= PAIRS_KEPT:
            self.pairs.clear()
        pair = self.pairs[key] = (packer, *pieces)
        return pair


def span_shape(name: str, kind: int, static: Mapping[str, object]) -> SpanShape:
    return SpanShape(field(5, name.encode()) + varint(6 << 3) + varint(kind), attributes(9, static))


_TRACE_ID_HEAD, _SPAN_ID_HEAD, _PARENT_ID_HEAD = _head(1, 16), _head(2, 8), _head(4, 8)
_TIMES = struct.Struct("<BQBQ")
"""Fields 7 and 8 (start and end, fixed64)."""
_START_TAG, _END_TAG = 7 << 3 | 1, 8 << 3 | 1
_SPAN_FIELD = varint(2 << 3 | 2)
"""A span's tag in ``ScopeSpans`` (``spans``, number 2)."""
_Pair = tuple[Callable[..., bytes], bytes, bytes, bytes, bytes, bytes]
"""A ``struct`` packer and the constant pieces between the varying fields of a request's span and
its call's (``SpanShape.pair``)."""
_SPLIT_CALL_IDS = struct.Struct("16x8s8s").unpack
"""A request's 32 id bytes as its span id and its call's: one call, not two slices. Its trace id is
the 32 bytes themselves: the layout's ``16s`` packs their first 16 (``struct`` truncates)."""
_NO_PAIR: _Pair = (bytes, b"", b"", b"", b"", b"")
"""The layout before a batch's first root record: never packed (its statuses match no record's)."""
_LENGTHS = [bytes((n,)) for n in range(128)] + [bytes((n & 0x7F | 0x80, n >> 7)) for n in range(128, 2048)]
"""Varints of the lengths a span usually has, looked up rather than written per span."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """The resource and the instrumentation scope every export names, encoded once."""

    resource: bytes
    scope: bytes

    def spans(self, records: Iterable[Record], anchor: int) -> bytes:
        """The ``Span`` fields of the sampled spans of ``records``, as ``ScopeSpans`` repeats them: a
        request's span and that of the call made under it, or a call's alone
        (``serving.request_records``), their times put on the wall clock's scale by ``anchor``. Made
        on the event loop when records are handed over (D197); ``request`` puts them in an export.
        Each ``Span`` has its fields in number order as protobuf writes them; its ids are the bytes
        the loop drew, its length is added up rather than measured, and all its pieces are joined
        once (D157, D174, D194). A root request with its call and no trace state, nearly every
        record, is one ``struct`` pack of its ids and times between its layout's constant pieces
        (``SpanShape.pair``, D177): the layout of the record before it, unless its shapes or
        statuses differ (D195); one under a caller's span is packed alike, its layout looked up."""
        parts: list[bytes] = []
        append, split_ids, fromhex = parts.append, _SPLIT_CALL_IDS, bytes.fromhex
        id_head, parent_head, end_tag = _SPAN_ID_HEAD, _PARENT_ID_HEAD, _END_TAG
        shape = up_shape = None
        status = up_status = -1
        pack, head, named, between, up_named, up_suffix = _NO_PAIR
        for record in records:
            if record.spans != 2 or record.state:  # two spans: a request and its call
                if record.spans:
                    self._spans(parts, record, anchor)
                continue
            if record.parent:  # under a caller's span: its layout looked up, its ids from its digits
                ids = fromhex(record.hexids)
                own, up_id = split_ids(ids)
                first = own + parent_head + fromhex(record.parent)
                key = (record.callee.shape, record.status, record.up_status, record.remote, True)
                layouts = record.route.shape
                pack, head, named, between, up_named, up_suffix = layouts.pairs.get(key) or layouts.pair(key)
                status = -1  # the layout kept is no root's now
            else:
                if (
                    record.status != status
                    or record.up_status != up_status
                    or record.route.shape is not shape
                    or record.callee.shape is not up_shape
                ):
                    status, up_status = record.status, record.up_status
                    shape, up_shape = record.route.shape, record.callee.shape
                    key = (up_shape, status, up_status, False, False)
                    pack, head, named, between, up_named, up_suffix = shape.pairs.get(key) or shape.pair(key)
                ids = record.ids
                own, up_id = split_ids(ids)
                first = own
            append(
                pack(
                    head,
                    ids,
                    id_head,
                    first,
                    named,
                    record.started + anchor,
                    end_tag,
                    record.ended + anchor,
                    between,
                    ids,
                    id_head,
                    up_id,
                    parent_head,
                    own,
                    up_named,
                    record.up_started + anchor,
                    end_tag,
                    record.up_ended + anchor,
                    up_suffix,
                )
            )
        return b"".join(parts)

    def request(self, spans: list[bytes]) -> bytes:
        """An ``ExportTraceServiceRequest`` of the ``Span`` fields in ``spans`` (each made by ``spans``):
        one resource, one scope, as the SDK's: an export joins the bytes of its hand-overs once (D197)."""
        scope_spans = len(self.scope) + sum(map(len, spans))
        inner = _head(2, scope_spans)
        outer = _head(1, len(self.resource) + len(inner) + scope_spans)
        return b"".join([outer, self.resource, inner, self.scope, *spans])

    @staticmethod
    def _spans(parts: list[bytes], record: Record, anchor: int) -> None:
        """The spans of any record, added to ``parts``: a call's alone, a request's without a call,
        or one with a trace state."""
        ids = bytes.fromhex(record.hexids)
        trace_id, own = ids[:16], ids[16:24]
        route, callee = record.route, record.callee
        state = field(3, record.state.encode()) if record.state else b""
        between = state + _PARENT_ID_HEAD + bytes.fromhex(record.parent) if record.parent else state
        spans: tuple[tuple[Any, bytes, bytes, bool, int, int, int], ...]
        if route is None:  # a call alone
            assert callee is not None
            up = (callee.shape, own, between, record.remote, record.up_started, record.up_ended, record.up_status)
            spans = (up,)
        else:
            own_span = (route.shape, own, between, record.remote, record.started, record.ended, record.status)
            if callee is None:
                spans = (own_span,)
            else:  # the call under it: the request's span is its parent
                under = state + _PARENT_ID_HEAD + own
                up = (callee.shape, ids[24:], under, False, record.up_started, record.up_ended, record.up_status)
                spans = (own_span, up)
        shape: SpanShape
        for shape, span_id, between, remote, start, end, status in spans:
            suffix, size = shape.endings.get(status << 1 | remote) or shape.ending(status, remote)
            size += len(between)
            parts += (
                _SPAN_FIELD,
                _LENGTHS[size] if size < 2048 else varint(size),
                _TRACE_ID_HEAD,
                trace_id,
                _SPAN_ID_HEAD,
                span_id,
                between,
                shape.name_and_kind,
                _TIMES.pack(_START_TAG, start + anchor, _END_TAG, end + anchor),
                suffix,
            )


def envelope(resource: Mapping[str, object], scope_name: str) -> Envelope:
    return Envelope(field(1, attributes(1, resource)), field(1, field(1, scope_name.encode())))
