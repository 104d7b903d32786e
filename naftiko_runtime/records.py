"""``dataclass`` with the same classes and a cheaper start (D171).

Python 3.11's ``dataclasses`` writes each method it adds as source text and compiles it on its
own: about 0.3 ms a method, 0.56 G instructions for the ~900 methods of a start, the largest single
item of its imports. ``__init__`` and a frozen class's ``__setattr__``/``__delattr__`` must be
compiled (their code depends on the fields, and ``frozen`` needs its own), but ``__repr__``,
``__eq__`` and ``__hash__`` read the fields in the same way for every class: here they are three
shared functions over the class's field names, worked out once when the class is made.

They behave as the generated ones do: the repr is ``Name(field=value, ...)`` of the fields with
``repr=True`` (a recursive one prints ``...``); equality holds for two instances of the same class
whose ``compare`` fields are equal as tuples (so an object equal to itself by identity, as a
tuple compares), otherwise ``NotImplemented``; a frozen class hashes the tuple of its hashed
fields and a mutable one is unhashable. A class that writes one of the three itself, asks for
``order`` or ``unsafe_hash``, gets the standard ``dataclass`` untouched. ``tests/unit/test_records.py``
holds every behaviour equal to the standard one.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
_OWN = ("__repr__", "__eq__", "__hash__")


@overload
def dataclass(cls: type[T], /) -> type[T]: ...


@overload
def dataclass(
    *,
    init: bool = True,
    repr: bool = True,
    eq: bool = True,
    order: bool = False,
    unsafe_hash: bool = False,
    frozen: bool = False,
    match_args: bool = True,
    kw_only: bool = False,
    slots: bool = False,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type[T] | None = None, /, **options: Any) -> type[T] | Callable[[type[T]], type[T]]:
    """``dataclasses.dataclass``, with ``__repr__``, ``__eq__`` and ``__hash__`` shared (see above)."""

    def wrap(cls: type[T]) -> type[T]:
        return _made(cls, options)

    return wrap if cls is None else wrap(cls)


def _made(cls: type[T], options: dict[str, Any]) -> type[T]:
    own = any(name in cls.__dict__ for name in _OWN)
    if own or options.get("order") or options.get("unsafe_hash"):
        return dataclasses.dataclass(cls, **options)
    made = dataclasses.dataclass(cls, **{**options, "repr": False, "eq": False})
    fields = dataclasses.fields(made)  # type: ignore[arg-type]
    if options.get("repr", True):
        made.__repr__ = _repr_of(tuple(f.name for f in fields if f.repr))  # type: ignore[method-assign]
    if options.get("eq", True):
        made.__eq__ = _eq_of(_getter(tuple(f.name for f in fields if f.compare)))  # type: ignore[method-assign]
        if options.get("frozen"):
            hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
            made.__hash__ = _hash_of(_getter(hashed))  # type: ignore[assignment,method-assign]
        else:
            made.__hash__ = None  # type: ignore[assignment]
    return made


def _getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """The fields' values as a tuple, whatever their number (``attrgetter`` of one name is no tuple)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return lambda instance: ()


def _repr_of(names: tuple[str, ...]) -> Callable[[object], str]:
    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({shown})"

    return __repr__


def _eq_of(values: Callable[[object], tuple[Any, ...]]) -> Callable[[object, object], bool]:
    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash_of(values: Callable[[object], tuple[Any, ...]]) -> Callable[[object], int]:
    def __hash__(self: object) -> int:
        return hash(values(self))

    return __hash__
