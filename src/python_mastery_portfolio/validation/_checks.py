"""The checkers that annotations compile into, for :mod:`~python_mastery_portfolio.validation`.

The compiler turns one annotation into a :class:`Node`: ``check(value)`` tells whether a
value passes, ``all_ok(items)`` whether every item of a re-iterable does (the loop stays in C
wherever it can: ``isinstance`` mapped over the items, nested containers flattened with
``itertools.chain``), and ``cls`` is set when the check is exactly one ``isinstance`` so the
decorator can write it straight into its generated wrapper. ``find`` walks a value again,
only after a check has failed, to name the innermost failing item and its path (``[2]``,
``['k']``, ``{x}``); :func:`explain` is its entry point. Recursive aliases compile into a
cycle through :class:`RefNode`, which also stops on cyclic data.

The meaning of each hint at run time is documented in :mod:`.validation`.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import io
import reprlib
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat
from operator import itemgetter, methodcaller
from types import NoneType
from typing import Any, TypeAlias

from python_mastery_portfolio.exceptions import ValidationError

__all__ = [
    "ANY",
    "CALLABLE",
    "ITEM_ORIGINS",
    "NEVER",
    "PAIR_ORIGINS",
    "PROMOTIONS",
    "TYPE_ALIAS_TYPE",
    "Failure",
    "FixedNode",
    "ItemsNode",
    "NamedTupleNode",
    "Node",
    "PairsNode",
    "RefNode",
    "TypedDictNode",
    "UnionNode",
    "class_node",
    "explain",
    "failure_error",
    "io_node",
    "protocol_node",
    "safe_repr",
    "type_name",
]

# (path, expected, bad value) of the first failure found.
Failure: TypeAlias = tuple[str, str, object]
_Check: TypeAlias = Callable[[object], bool]

# Emptying an iterator through a zero-length deque runs entirely in C.
_consume = collections.deque[object](maxlen=0).extend
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_guard = threading.local()  # the (node, value) pairs a recursive check is inside, per thread

# PEP 484's numeric tower: where a float is expected an int is fine, and so on.
PROMOTIONS: dict[type, tuple[type, ...]] = {float: (float, int), complex: (complex, float, int)}
# Unbound C methods that take no argument, cost nothing and refuse any other type with
# TypeError: mapping one over a container checks its items faster than isinstance can.
_FAST_METHODS: dict[type, Callable[[Any], object]] = {
    int: int.conjugate,
    float: float.conjugate,
    str: str.isascii,  # O(1): CPython keeps an ASCII flag per string
}
ITEM_ORIGINS = frozenset({
    list, set, frozenset, collections.deque, cabc.Sequence, cabc.MutableSequence, cabc.Set,
    cabc.MutableSet, cabc.Collection, cabc.KeysView, cabc.ValuesView,
})  # fmt: skip
PAIR_ORIGINS = frozenset({
    dict, collections.defaultdict, collections.OrderedDict, collections.ChainMap,
    cabc.Mapping, cabc.MutableMapping,
})  # fmt: skip
TYPE_ALIAS_TYPE: Any = getattr(typing, "TypeAliasType", None)


def safe_repr(value: object) -> str:
    """Return a short repr of ``value`` for an error message."""
    # reprlib shortens huge values and survives a __repr__ that raises.
    return _repr.repr(value)


def type_name(cls: type) -> str:
    """Return the class's qualified name without the ``<locals>`` of the scopes around it."""
    return "None" if cls is NoneType else cls.__qualname__.rpartition("<locals>.")[2]


_Batch: TypeAlias = Callable[[Iterable[Any]], bool]


class Node:
    """A compiled annotation: fast ``check``/``all_ok`` and a slow ``find`` for messages.

    ``check(v)`` tells whether one value passes; ``all_ok(items)`` whether every item of a
    re-iterable does, staying in C where it can. ``cls`` is set when ``check(v)`` is exactly
    ``isinstance(v, cls)``, so the wrapper may inline it; ``outer`` is the class a value needs
    to have this node's shape (it picks the union member to blame for a failure).
    """

    __slots__ = ("all_ok", "check", "cls", "expected", "outer")

    def __init__(
        self,
        expected: str,
        check: _Check,
        *,
        cls: type | tuple[type, ...] | None = None,
        outer: type | tuple[type, ...] | None = None,
        all_ok: _Batch | None = None,
    ) -> None:
        self.expected = expected
        self.check = check
        self.cls = cls
        self.outer = outer if outer is not None else cls
        self.all_ok = all_ok if all_ok is not None else _all_checked(check)

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the innermost failure inside ``value``, or None when it passes."""
        return None if self.check(value) else (path, self.expected, value)


def _all_checked(check: _Check) -> _Batch:
    def all_checked(items: Iterable[Any]) -> bool:
        return all(map(check, items))

    return all_checked


def _all_instances(cls: type | tuple[type, ...]) -> _Batch:
    method = _FAST_METHODS.get(cls if isinstance(cls, type) else cls[0])
    if method is None:

        def all_instances(items: Iterable[Any]) -> bool:
            return all(map(isinstance, items, repeat(cls)))

        return all_instances

    def all_fast(items: Iterable[Any]) -> bool:
        try:
            _consume(map(method, items))
        except TypeError:  # some item is not exactly the class: isinstance decides
            return all(map(isinstance, items, repeat(cls)))
        return True

    return all_fast


class _Flat:
    """The items of every collection in ``collections``, re-iterable, chained in C."""

    __slots__ = ("collections",)

    def __init__(self, collections: Iterable[Any]) -> None:
        self.collections = collections

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self.collections)


class _Each:
    """``func`` applied to every item of ``items``, re-iterable."""

    __slots__ = ("func", "items")

    def __init__(self, func: Callable[[Any], Any], items: Iterable[Any]) -> None:
        self.func = func
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return map(self.func, self.items)


def _always(value: object) -> bool:
    return True


def _all_always(items: Iterable[Any]) -> bool:
    return True


def _never(value: object) -> bool:
    return False


ANY = Node("Any", _always, all_ok=_all_always)
NEVER = Node("Never", _never)
CALLABLE = Node("Callable", callable)
_values = methodcaller("values")


def class_node(cls: type | tuple[type, ...], expected: str) -> Node:
    def check(value: object) -> bool:
        return isinstance(value, cls)

    return Node(expected, check, cls=cls, all_ok=_all_instances(cls))


# What a file of each kind is at run time, as typeguard decides it: typing's IO classes are
# only for annotations (real files do not inherit them), the io base classes are what
# open(), sys.stdout, StringIO and BytesIO are. typing's own classes stay accepted, so a
# user class deriving from typing.TextIO passes as before.
_IO_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "text": ((io.TextIOBase, typing.TextIO), "a text file, io.TextIOBase"),
    "binary": (
        (io.RawIOBase, io.BufferedIOBase, typing.BinaryIO),
        "a binary file, io.RawIOBase or io.BufferedIOBase",
    ),
    "any": ((io.IOBase, typing.IO), "a file, io.IOBase"),
}


class _IONode(Node):
    """A file of one kind; ``find`` says when a text file came for a binary one or back."""

    __slots__ = ("kind",)

    def __init__(self, kind: str, expected: str) -> None:
        classes = _IO_KINDS[kind][0]

        def check(value: object) -> bool:
            return isinstance(value, classes)

        super().__init__(expected, check, cls=classes, all_ok=_all_instances(classes))
        self.kind = kind

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Name the kind of file expected, and why a file of the other kind fails."""
        if self.check(value):
            return None
        wanted = _IO_KINDS[self.kind][1]
        if self.kind == "binary" and isinstance(value, io.TextIOBase):
            wanted += "; this is a text file: open it in 'rb' mode or pass its .buffer"
        elif self.kind == "text" and isinstance(value, io.IOBase):
            wanted += "; this is a binary file: open it in text mode or wrap it in io.TextIOWrapper"
        return path, f"{self.expected} ({wanted})", value


def io_node(kind: str, expected: str) -> Node:
    """Return the node for a file annotation: ``kind`` is ``text``, ``binary`` or ``any``."""
    return _IONode(kind, expected)


class ItemsNode(Node):
    """A collection whose every item must pass ``item``."""

    __slots__ = ("indexed", "item")

    def __init__(self, origin: type, item: Node, expected: str) -> None:
        items_ok = item.all_ok
        kind: Any = origin  # keeps mypy from narrowing the checked value to object

        def check(value: Any) -> bool:
            return isinstance(value, kind) and items_ok(value)

        def all_ok(values: Iterable[Any]) -> bool:
            # Nested collections are flattened, so list[list[int]] is one C loop per level.
            return all(map(isinstance, values, repeat(origin))) and items_ok(_Flat(values))

        super().__init__(expected, check, outer=origin, all_ok=all_ok)
        self.item = item
        self.indexed = issubclass(origin, cabc.Sequence)

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the first failing item, with its index (or ``{item}`` for sets)."""
        if not isinstance(value, typing.cast("type", self.outer)):
            return path, self.expected, value
        item = self.item
        for index, element in enumerate(typing.cast("Iterable[object]", value)):
            if not item.check(element):
                where = f"[{index}]" if self.indexed else f"{{{safe_repr(element)}}}"
                failure = item.find(element, path + where, seen)
                if failure is not None:
                    return failure
        return None


class PairsNode(Node):
    """A mapping whose keys pass ``key`` and values pass ``value``."""

    __slots__ = ("key", "value")

    def __init__(self, origin: type, key: Node, value: Node, expected: str) -> None:
        keys_ok, values_ok = key.all_ok, value.all_ok
        kind: Any = origin  # keeps mypy from narrowing the checked value to object

        def check(mapping: Any) -> bool:
            return (
                isinstance(mapping, kind)
                and keys_ok(mapping.keys())
                and values_ok(mapping.values())
            )

        def all_ok(mappings: Iterable[Any]) -> bool:
            return (
                all(map(isinstance, mappings, repeat(origin)))
                and keys_ok(_Flat(mappings))
                and values_ok(_Flat(_Each(_values, mappings)))
            )

        super().__init__(expected, check, outer=origin, all_ok=all_ok)
        self.key = key
        self.value = value

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the first failing key (``{key}``) or value (``[key]``)."""
        if not isinstance(value, typing.cast("type", self.outer)):
            return path, self.expected, value
        for key, item in typing.cast("Mapping[object, object]", value).items():
            where = safe_repr(key)
            failure = None
            if not self.key.check(key):
                failure = self.key.find(key, f"{path}{{{where}}}", seen)
            if failure is None and not self.value.check(item):
                failure = self.value.find(item, f"{path}[{where}]", seen)
            if failure is not None:
                return failure
        return None


class FixedNode(Node):
    """A tuple of a fixed length whose items pass their own nodes."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Node, ...], expected: str) -> None:
        checks = tuple(item.check for item in items)
        size = len(items)
        columns = tuple((itemgetter(index), item.all_ok) for index, item in enumerate(items))

        def check(value: object) -> bool:
            # isinstance() on an object leaves a tuple's item type unknown: the checks take any.
            if not isinstance(value, tuple) or len(value) != size:  # pyright: ignore[reportUnknownArgumentType]
                return False
            for item_check, element in zip(checks, value, strict=True):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                if not item_check(element):  # pyright: ignore[reportUnknownArgumentType]
                    return False
            return True

        def all_ok(values: Iterable[Any]) -> bool:
            if not all(map(isinstance, values, repeat(tuple))):
                return False
            if not all(map(size.__eq__, map(len, values))):
                return False
            for get, column_ok in columns:  # noqa: SIM110 - clearer than any() over a genexpr
                if not column_ok(_Each(get, values)):
                    return False
            return True

        super().__init__(expected, check, outer=tuple, all_ok=all_ok)
        self.items = items

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the first failing item, or the tuple itself when its length is wrong."""
        # isinstance() on an object leaves a tuple's item type unknown: the checks take any.
        if not isinstance(value, tuple) or len(value) != len(self.items):  # pyright: ignore[reportUnknownArgumentType]
            return path, self.expected, value  # pyright: ignore[reportUnknownVariableType]
        for index, (item, element) in enumerate(zip(self.items, value, strict=True)):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            failure = item.find(element, f"{path}[{index}]", seen)  # pyright: ignore[reportUnknownArgumentType]
            if failure is not None:
                return failure
        return None


class UnionNode(Node):
    """Any of ``members``; the classes among the alternatives are tested with one isinstance."""

    __slots__ = ("members",)

    def __init__(self, members: tuple[Node, ...], classes: tuple[type, ...], expected: str) -> None:
        checks = tuple(member.check for member in members)

        def check(value: object) -> bool:
            if isinstance(value, classes):
                return True
            for member_check in checks:  # noqa: SIM110 - no generator per call on the hot path
                if member_check(value):
                    return True
            return False

        super().__init__(expected, check)
        self.members = members

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Blame the one member whose shape the value has, else the union itself."""
        if self.check(value):
            return None
        shaped = [m for m in self.members if m.outer is not None and isinstance(value, m.outer)]
        if len(shaped) == 1:
            return shaped[0].find(value, path, seen)
        return path, self.expected, value


class RefNode(Node):
    """A recursive reference, resolved once its target is compiled; tolerates cyclic data."""

    __slots__ = ("target", "used")

    def __init__(self, expected: str) -> None:
        ref = self

        def check(value: object) -> bool:
            active: set[tuple[int, int]] | None = getattr(_guard, "active", None)
            if active is None:
                # active's declaration above types it; the chained _guard.active hides that.
                active = _guard.active = set()  # pyright: ignore[reportUnknownVariableType]
            key = (id(ref), id(value))
            if key in active:  # a cycle: the value is valid unless shown otherwise elsewhere
                return True
            active.add(key)
            try:
                return ref.target.check(value)
            finally:
                active.discard(key)

        super().__init__(expected, check)
        self.target: Node = ANY
        self.used = False

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Delegate to the target, stopping where the path runs round a cycle."""
        key = (id(self), id(value))
        if key in seen:
            return None
        seen.add(key)
        try:
            return self.target.find(value, path, seen)
        finally:
            seen.discard(key)


class TypedDictNode(Node):
    """A dict with the required keys of a ``TypedDict``, each present key's value checked."""

    __slots__ = ("fields", "required")

    def __init__(self, required: frozenset[str], fields: dict[str, Node], name: str) -> None:
        checks = [(key, node.check) for key, node in fields.items()]

        def check(value: object) -> bool:
            if not isinstance(value, dict) or not required <= value.keys():
                return False
            # isinstance() on an object leaves a dict's value type unknown: the check takes any.
            for key, field_check in checks:
                if key in value and not field_check(value[key]):  # pyright: ignore[reportUnknownArgumentType]
                    return False
            return True

        super().__init__(name, check, outer=dict)
        self.required = required
        self.fields = fields

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the first missing key or failing value."""
        if not isinstance(value, dict):
            return path, self.expected, value
        missing = sorted(self.required - value.keys())
        # isinstance() on an object leaves a dict's key and value types unknown: any fits.
        if missing:
            return path, f"{self.expected} (missing key {missing[0]!r})", value  # pyright: ignore[reportUnknownVariableType]
        for key, node in self.fields.items():
            if key in value:
                failure = node.find(value[key], f"{path}[{key!r}]", seen)  # pyright: ignore[reportUnknownArgumentType]
                if failure is not None:
                    return failure
        return None


class NamedTupleNode(Node):
    """An instance of a ``NamedTuple`` class whose every annotated field passes its node."""

    __slots__ = ("fields",)

    def __init__(self, cls: type, fields: dict[str, tuple[int, Node]], name: str) -> None:
        checks = [(index, node.check) for index, node in fields.values()]

        def check(value: object) -> bool:
            if not isinstance(value, cls):
                return False
            row = typing.cast("tuple[object, ...]", value)
            for index, field_check in checks:  # noqa: SIM110 - no generator per call
                if not field_check(row[index]):
                    return False
            return True

        super().__init__(name, check, outer=cls)
        self.fields = fields

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Return the first failing field, its path written as an attribute (``p.x``)."""
        if not isinstance(value, typing.cast("type", self.outer)):
            return path, self.expected, value
        row = typing.cast("tuple[object, ...]", value)
        for field, (index, node) in self.fields.items():
            failure = node.find(row[index], f"{path}.{field}", seen)
            if failure is not None:
                return failure
        return None


# What a class body holds that is not a member a protocol asks of its implementations.
_NOT_MEMBERS = frozenset({
    "__abstractmethods__", "__annotations__", "__callable_proto_members_only__",
    "__class_getitem__", "__dict__", "__doc__", "__firstlineno__", "__init__",
    "__init_subclass__", "__module__", "__new__", "__non_callable_proto_members__",
    "__orig_bases__", "__parameters__", "__protocol_attrs__", "__qualname__", "__slots__",
    "__static_attributes__", "__subclasshook__", "__type_params__", "__weakref__",
    "_is_protocol", "_is_runtime_protocol",
})  # fmt: skip
_ROOTS = frozenset({object, typing.Protocol, typing.Generic})


def _protocol_members(cls: type) -> dict[str, bool]:
    """Return the members ``cls`` asks for, each mapped to whether it must be callable."""
    members: dict[str, bool] = {}
    for base in cls.__mro__:
        if base in _ROOTS:
            continue
        namespace = vars(base)
        for name in (*namespace, *namespace.get("__annotations__", {})):
            if name in members or name in _NOT_MEMBERS or name.startswith("_abc_"):
                continue
            attribute = namespace.get(name)
            # Methods, classmethods and staticmethods must be callable on an implementation;
            # data members (annotations, properties, plain values) only present.
            members[name] = callable(attribute) or isinstance(attribute, classmethod | staticmethod)
    return members


class _ProtocolNode(Node):
    """A structural check of a protocol that is not runtime-checkable: its members present."""

    __slots__ = ("members",)

    def __init__(self, members: dict[str, bool], name: str) -> None:
        methods = tuple(member for member, is_method in members.items() if is_method)
        data = tuple(member for member, is_method in members.items() if not is_method)

        def check(value: object) -> bool:
            for member in methods:
                if not callable(getattr(value, member, None)):
                    return False
            for member in data:  # noqa: SIM110 - no generator per call
                if not hasattr(value, member):
                    return False
            return True

        super().__init__(name, check)
        self.members = members

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> Failure | None:
        """Name the first member that is missing, or not callable where it must be."""
        for member, is_method in self.members.items():
            if not hasattr(value, member):
                return path, f"{self.expected} (missing member {member!r})", value
            if is_method and not callable(getattr(value, member)):
                return path, f"{self.expected} (member {member!r} is not callable)", value
        return None


def protocol_node(cls: type, name: str) -> Node:
    """Return the structural check of ``cls``, a protocol that is not runtime-checkable.

    Every member the protocol declares, inherited ones included, must be present on the
    value, and its methods callable, as typeguard checks; signatures are not compared.
    """
    return _ProtocolNode(_protocol_members(cls), name)


def explain(node: Node, value: object, path: str) -> Failure:
    """Return the (path, expected, value) of the innermost failure of ``value`` at ``path``."""
    return node.find(value, path, set()) or (path, node.expected, value)


def failure_error(
    subject: str, field: str, failure: Failure, function: str | None = None
) -> ValidationError:
    """Return the ValidationError for ``failure`` of ``field``, its message led by ``subject``."""
    path, expected, value = failure
    where = "" if path == field else f" at {path}"
    actual = "None" if value is None else f"{type_name(type(value))}: {safe_repr(value)}"
    context: dict[str, Any] = {"path": path, "expected": expected}
    if function is not None:
        context["function"] = function
    return ValidationError(
        f"{subject}{where} expected {expected}, got {actual}", field=field, value=value, **context
    )
