"""Issue 22 item 2 (D155): an ``Alt`` checks the branches whose findings it can never report for a
verdict only (``Context(verdict_only=True)``: the first finding ends the branch). The findings a
document gets must be exactly those of checking every branch in full, valid or not, in every
dialect; and a valid capability's check formats no message at all."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import CAPABILITIES, SHARED

from naftiko_runtime.spec import shapes
from naftiko_runtime.spec.dialects import check_shape, detect
from naftiko_runtime.spec.source import SourceError, read_source


def _documents() -> list[Any]:
    """Every capability of the project and of the reference corpus that parses, both dialects."""
    paths = [*CAPABILITIES, *sorted((SHARED / "reference").rglob("*capability*.yaml"))]
    found = []
    for path in paths:
        try:
            data = read_source(path).data
        except SourceError:
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


DOCUMENTS = _documents()
REPLACEMENTS: list[Any] = [
    None, 1, "x", True, [], {}, [{}], {"import": "x"}, {"type": "mcp"}, {"type": "http"},
    {"name": "n", "call": "a.b"}, {"steps": []}, {"outputParameters": []}, {"ref": "a.b"},
]  # fmt: skip


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every container's child path (where a mutation may land)."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    found = []
    for key, child in children:
        found.append((*at, key))
        found += _paths(child, (*at, key))
    return found


def _mutated(document: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    data = copy.deepcopy(document)
    holder = data
    for key in path[:-1]:
        holder = holder[key]
    if drop and isinstance(holder, dict):
        del holder[path[-1]]
    else:
        holder[path[-1]] = copy.deepcopy(value)
    return data


def _findings(data: Any) -> list[tuple[Any, ...]]:
    return [(f.severity, f.at, f.message) for f in check_shape(data, detect(data))]


def _in_full(monkeypatch: pytest.MonkeyPatch, data: Any) -> list[tuple[Any, ...]]:
    """The findings with every branch checked in full and kept (before D155): the oracle."""
    with monkeypatch.context() as patched:
        patched.setattr(shapes.Context, "scratch", lambda self, verdict_only=False: shapes.Context(self.shared))
        return _findings(data)


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_findings_are_those_of_every_branch_checked_in_full(
    monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    document = data.draw(st.sampled_from(DOCUMENTS))
    mutations = data.draw(
        st.lists(st.tuples(st.sampled_from(_paths(document)), st.sampled_from(REPLACEMENTS), st.booleans()), max_size=3)
    )
    for path, value, drop in mutations:
        paths = _paths(document)
        if path in paths:
            document = _mutated(document, path, value, drop)
    assert _findings(document) == _in_full(monkeypatch, document)


def test_the_corpus_gets_the_same_findings_and_some_have_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(DOCUMENTS) > 20
    with_findings = 0
    for document in DOCUMENTS:
        found = _findings(document)
        assert found == _in_full(monkeypatch, document)
        with_findings += bool(found)
    assert with_findings < len(DOCUMENTS)


def test_a_valid_capability_formats_no_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Polytomic file made nine findings in branches it never reported (an ``import`` form
    tried against a full ``consumes`` entry...), each with its allowed keys sorted and a
    did-you-mean looked up: none now."""
    made: list[str] = []
    real_add = shapes.Context.add

    def counting_add(self: shapes.Context, path: shapes.Path, message: str) -> None:
        made.append(message)
        real_add(self, path, message)

    monkeypatch.setattr(shapes.Context, "add", counting_add)
    polytomic = [p for p in CAPABILITIES if Path(p).name.startswith("polytomic-")]
    assert polytomic
    for path in polytomic:
        assert _findings(read_source(path).data) == [], path
    assert made == []
