"""``dataclass`` with the same classes and a cheaper start (D171).

Python 3.11's ``dataclasses`` writes each method it adds as source text and compiles it on its
own: about 0.3 ms a method, 0.56 G instructions for the ~900 methods of a start, the largest single
item of its imports. ``__init__`` and a frozen class's ``__setattr__``/``__delattr__`` must be
compiled (their code depends on the fields, and ``frozen`` needs its own), but ``__repr__``,
``__eq__`` and ``__hash__`` read the fields in the same way for every class: here they are three
shared functions over the class's field names, worked out once when the class is made.

A frozen class's ``__setattr__`` and ``__delattr__`` are likewise two shared closures over the
class and its field names (D182) instead of two compiled functions: ``dataclasses`` makes them in
``_frozen_get_del_attr``, which is swapped for ``_frozen_pair`` while one of this module's classes
is made (under a lock; the closures do what the compiled pair does, so a class another thread
makes meanwhile gets the same behaviour). Where that function is not the one of 3.11-3.12 (its
arguments differ), the compiled pair is kept.

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
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
_OWN = ("__repr__", "__eq__", "__hash__")
_STOCK_FROZEN_PAIR: Callable[..., tuple[Callable[..., None], Callable[..., None]]] | None = getattr(
    dataclasses, "_frozen_get_del_attr", None
)
_SHARES_FROZEN_PAIR = _STOCK_FROZEN_PAIR is not None and _STOCK_FROZEN_PAIR.__code__.co_varnames[:3] == (
    "cls",
    "fields",
    "globals",
)
_swapping = threading.RLock()


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
        return _standard(cls, options)
    made = _standard(cls, {**options, "repr": False, "eq": False})
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


def _standard(cls: type[T], options: dict[str, Any]) -> type[T]:
    """``dataclasses.dataclass``; a frozen class gets ``_frozen_pair``'s methods (D182)."""
    if not (options.get("frozen") and _SHARES_FROZEN_PAIR):
        return dataclasses.dataclass(cls, **options)
    with _swapping:
        setattr(dataclasses, "_frozen_get_del_attr", _frozen_pair)  # noqa: B010  (a private name)
        try:
            return dataclasses.dataclass(cls, **options)
        finally:
            setattr(dataclasses, "_frozen_get_del_attr", _STOCK_FROZEN_PAIR)  # noqa: B010


def _frozen_pair(
    owner: type, fields: list[dataclasses.Field[Any]], globals: dict[str, Any]
) -> tuple[Callable[[Any, str, Any], None], Callable[[Any, str], None]]:
    """What ``dataclasses._frozen_get_del_attr`` compiles, as closures: assigning or deleting a
    field, or any attribute of an instance of the class itself, raises ``FrozenInstanceError``."""
    names = tuple(f.name for f in fields)
    frozen_error = dataclasses.FrozenInstanceError

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            raise frozen_error(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)  # type: ignore[arg-type]  # mypy: owner is a type

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            raise frozen_error(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)  # type: ignore[arg-type]

    return __setattr__, __delattr__


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
