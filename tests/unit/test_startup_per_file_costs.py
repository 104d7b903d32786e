"""Issue 22 item 2: the per-file costs of a start-up with many files, taken out without changing
what is served. Each plain scalar is resolved once per process and still gives the safe YAML 1.2
loader's value, within a bounded memo (D148); ``serve``'s first load is frozen before the collector
comes back, so no young collection walks it (D148); a REST port's OpenAPI document is built on
its first request, once (D149)."""

from __future__ import annotations

import datetime
import gc
import io
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plain_yaml import same

from naftiko_runtime.adapters.rest.docs import DOCS_PATH, OPENAPI_PATH, docs_pages
from naftiko_runtime.serving.loading import collector_paused
from naftiko_runtime.spec import plain_yaml
from naftiko_runtime.spec.plain_yaml import RESOLVED_MEMO_LIMIT, plain_load
from naftiko_runtime.spec.source import MAX_DEPTH, MAX_EXPANDED_NODES, _safe_yaml

# Scalars whose YAML 1.2 resolution is easy to get wrong, each of them seen many times.
TRICKY = [
    "0o17", "017", "0x1F", "1_000", "1.10", "1e3", ".inf", "-.Inf", ".nan", "true", "True", "FALSE",
    "yes", "no", "on", "off", "y", "n", "null", "Null", "~", "", "2026-12-07", "2026-12-07T02:10:28Z",
    "-0", "+1", "12:30", "name", "GET", "$.data",
]  # fmt: skip


def quoted(word: str) -> str:
    """A word as a plain scalar, the empty one as ``''``."""
    return word or "''"


def loader_value(text: str) -> Any:
    return _safe_yaml().load(io.StringIO(text))


def parsed(text: str) -> Any:
    result = plain_load(text, MAX_DEPTH, MAX_EXPANDED_NODES)
    assert result is not None, text
    return result[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=30))
def test_remembered_scalars_keep_the_loaders_values(words: list[str]) -> None:
    """The same scalars parsed again come from the memo, and still equal the loader's, type for type."""
    text = "".join(f"- {quoted(word)}\n" for word in words)
    expected = loader_value(text)
    first, again = parsed(text), parsed(text)
    assert same(first, expected) and same(again, expected)


def test_every_remembered_value_is_immutable() -> None:
    """A value shared between documents must be one no document can change."""
    parsed("".join(f"k{i}: {quoted(word)}\n" for i, word in enumerate(TRICKY)))
    immutable = (str, int, float, bool, type(None), datetime.date)
    assert plain_yaml._RESOLVED
    assert all(isinstance(value, immutable) for value in plain_yaml._RESOLVED.values())


def test_the_scalar_memo_stays_bounded() -> None:
    """Past its limit the memo starts again: a process reading many distinct files keeps no more."""
    count = RESOLVED_MEMO_LIMIT + 100
    values = parsed("".join(f"- w{i}\n" for i in range(count)))
    assert values[-1] == f"w{count - 1}" and len(values) == count
    assert len(plain_yaml._RESOLVED) <= RESOLVED_MEMO_LIMIT


def test_a_frozen_load_leaves_no_young_collection_behind() -> None:
    """Without the freeze the objects the load allocated are all young when the collector comes
    back, and the next allocation walks every one of them (~2 s of CPU at 1,000 files); frozen,
    they are out of every collection's sight, and a plain pause leaves them where they were."""
    frozen_before = gc.get_freeze_count()
    try:
        with collector_paused():
            young = [[i] for i in range(20_000)]
        assert gc.get_freeze_count() < frozen_before + len(young)
        with collector_paused(freeze_loaded=True):
            held = [[i] for i in range(20_000)]
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(held)
    finally:
        gc.unfreeze()


def test_the_openapi_document_is_built_on_its_first_request_only() -> None:
    built: list[int] = []
    document = {"openapi": "3.1.0", "info": {"title": "Syncs <beta>", "version": "1"}, "paths": {}}

    def build() -> dict[str, Any]:
        built.append(1)
        return document

    pages = docs_pages(build)
    assert built == [], "built at mount, before any request"
    assert orjson.loads(pages[OPENAPI_PATH].body()) == document
    assert orjson.loads(pages[OPENAPI_PATH].body()) == document
    page = pages[DOCS_PATH].body().decode()
    assert "<title>Syncs &lt;beta&gt;</title>" in page and OPENAPI_PATH in page
    assert pages[DOCS_PATH + "/"].body().decode() == page
    assert built == [1], "built once, then kept"
