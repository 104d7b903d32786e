"""D171: ``records.dataclass`` makes the classes ``dataclasses.dataclass`` makes, with ``__repr__``,
``__eq__`` and ``__hash__`` shared instead of compiled per class. Every class shape the runtime
uses (frozen or not, slots, fields left out of repr, comparison or hashing, inheritance, no
fields) is made both ways and held to the same repr, equality and hash on generated values."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime import records

OPTIONS = st.fixed_dictionaries(
    {
        "frozen": st.booleans(),
        "repr": st.booleans(),
        "eq": st.booleans(),
        "slots": st.booleans(),
        "kw_only": st.booleans(),
    }
)
FIELD = st.fixed_dictionaries(
    {"repr": st.booleans(), "compare": st.booleans(), "hash": st.sampled_from([None, True, False])}
)
VALUES = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.tuples(st.integers()), st.floats(allow_nan=True))


def both(options: dict[str, Any], fields: list[dict[str, Any]], parent: bool = False) -> tuple[type, type]:
    """The same class made by the standard decorator and by ours (with a dataclass parent if asked)."""
    made = []
    for decorate in (dataclasses.dataclass, records.dataclass):
        namespace: dict[str, Any] = {"__annotations__": {}}
        for index, spec in enumerate(fields):
            namespace["__annotations__"][f"f{index}"] = "Any"
            namespace[f"f{index}"] = dataclasses.field(**spec)
        bases: tuple[type, ...] = ()
        if parent:
            base_namespace = {"__annotations__": {"base": "Any"}, "base": dataclasses.field(default=0)}
            frozen = {"frozen": options["frozen"]}
            bases = (decorate(**frozen)(type("Base", (), base_namespace)),)
            for spec in namespace.values():
                if isinstance(spec, dataclasses.Field):
                    spec.default = None
        made.append(decorate(**options)(type("Record", bases, namespace)))
    return made[0], made[1]


@given(OPTIONS, st.lists(FIELD, max_size=4), st.booleans(), st.data())
def test_repr_eq_and_hash_are_the_standard_ones(options, fields, parent, data) -> None:
    standard, ours = both(options, fields, parent)
    names = [f.name for f in dataclasses.fields(standard)]
    assert names == [f.name for f in dataclasses.fields(ours)]
    one = {name: data.draw(VALUES) for name in names}
    other = {name: data.draw(st.sampled_from([one[name], data.draw(VALUES)])) for name in names}
    pairs = [(standard(**one), standard(**other)), (ours(**one), ours(**other))]
    (a, b), (c, d) = pairs
    assert re.sub(" at 0x[0-9a-f]+", "", repr(c)) == re.sub(" at 0x[0-9a-f]+", "", repr(a))
    assert (a == b) == (c == d) and (a == a) == (c == c) and (a != b) == (c != d)
    assert (a == 1) == (c == 1) and (a.__eq__(1) is NotImplemented) == (c.__eq__(1) is NotImplemented)
    hashable = type(a).__hash__ is not None
    assert hashable == (type(c).__hash__ is not None)
    if hashable:
        try:
            expected: int | None = hash(a)
        except TypeError:  # a field's value is unhashable
            expected = None
        if expected is not None and type(a).__hash__ is not object.__hash__:
            assert hash(c) == expected


def test_a_class_that_writes_its_own_methods_or_asks_for_order_gets_the_standard_decorator() -> None:
    @records.dataclass(frozen=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "mine"

    @records.dataclass(order=True)
    class Ordered:
        a: int

    assert repr(Own(1)) == "mine" and Own(1) == Own(1) and hash(Own(1)) == hash((1,))
    assert Ordered(1) < Ordered(2) and Ordered(1) == Ordered(1)


def test_a_recursive_repr_prints_dots_and_nan_is_equal_to_itself_as_in_a_tuple() -> None:
    @records.dataclass
    class Node:
        next: Any = None

    node = Node()
    node.next = node
    assert repr(node).endswith(".<locals>.Node(next=...)")
    nan = math.nan
    assert Node(nan) == Node(nan) and Node(math.nan) != Node(float("nan"))
    with pytest.raises(TypeError):
        hash(Node())


def test_frozen_records_stay_frozen_and_typed_fields_keep_their_defaults() -> None:
    @records.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = dataclasses.field(default_factory=list, compare=False)

    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    assert point == Point(1, 0, ["other"]) and hash(point) == hash((1, 0)) and not hasattr(point, "__dict__")
    assert dataclasses.replace(point, y=3) == Point(1, 3) and repr(point).endswith(".Point(x=1, y=0, tags=[])")


@given(st.booleans(), st.booleans(), st.lists(st.booleans(), max_size=3))
def test_frozen_setattr_and_delattr_do_what_the_compiled_ones_do(slots, parent, fields) -> None:
    """D182: a frozen record's shared ``__setattr__``/``__delattr__`` raise, or pass the attribute on
    to the parent class, exactly where the standard decorator's compiled ones do, with the same
    message: fields and other names, on the class itself and on a plain subclass."""
    options = {"frozen": True, "slots": slots}
    standard, ours = both(options, [{} for _ in fields], parent)
    assert dataclasses.is_dataclass(ours) and ours.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert ours.__setattr__ is not standard.__setattr__ and ours.__setattr__.__qualname__.endswith(".__setattr__")

    def attempts(kind: type) -> list[tuple[str, str]]:
        subclass = type("Sub", (kind,), {})
        outcomes = []
        for made in (kind, subclass):
            instance = made(**{f.name: 1 for f in dataclasses.fields(kind)})
            for name in [f.name for f in dataclasses.fields(kind)] + ["other"]:
                for act, more in ((setattr, (2,)), (delattr, ())):
                    try:
                        act(instance, name, *more)
                        outcomes.append(("ok", name))
                    except (dataclasses.FrozenInstanceError, AttributeError, TypeError) as exc:
                        outcomes.append((type(exc).__name__, str(exc)))
        return outcomes

    assert attempts(ours) == attempts(standard)
    stock = dataclasses._frozen_get_del_attr  # type: ignore[attr-defined]
    assert records._STOCK_FROZEN_PAIR is stock, "the standard decorator is left as it was"
