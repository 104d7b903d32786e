"""D170: this package's adapter kinds are named by where they live and imported on first use. What
every load needs of a kind before any file uses it (its ``with`` roots, its shape fragment) is
said beside its place; it must be what the kind itself says, or a load would check or warn
differently before and after the kind is imported."""

from __future__ import annotations

from importlib import import_module

import pytest

from naftiko_runtime.adapters.registry import BUILTIN, KINDS, Deferred, KindTable, reference_roots
from naftiko_runtime.spec.shape_kinds import ADAPTERS


@pytest.mark.parametrize("kind_type", sorted(BUILTIN))
def test_a_deferred_kind_says_what_its_class_says(kind_type: str) -> None:
    deferred = BUILTIN[kind_type]
    kind_class = getattr(import_module(deferred.module, "naftiko_runtime.adapters"), deferred.name)
    assert kind_class.type == kind_type
    assert kind_class.reference_roots == deferred.reference_roots
    assert kind_class.shape == deferred.shape
    if deferred.shape is not None:
        assert ADAPTERS.fragments[kind_type] is deferred.shape
    kind = KINDS[kind_type]
    assert isinstance(kind, kind_class) and KINDS[kind_type] is kind  # built once, then kept


def test_roots_come_from_the_deferred_kinds_without_importing_them() -> None:
    table = KindTable()
    table.add("one", Deferred(".nowhere", "Missing", ("event",)))
    table.add("two", Deferred(".nowhere", "Missing", ("tools", "mcp")))
    assert table.roots() == {"event", "tools", "mcp"}
    assert sorted(table) == ["one", "two"] and len(table) == 2  # listed, and never imported
    assert reference_roots() >= {root for each in BUILTIN.values() for root in each.reference_roots}


def test_an_unknown_type_is_no_kind_and_no_parser() -> None:
    """The builder's ``unknown adapter type`` message reads the parsers' ``get`` and keys."""
    assert KINDS.get("grpc") is None and KINDS.parsers.get("grpc") is None
    assert set(KINDS.parsers) == set(KINDS) >= set(BUILTIN)
    assert KINDS.parsers["rest"] == KINDS["rest"].parse
