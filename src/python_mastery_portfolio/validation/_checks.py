"""Compile type annotations into checkers for :mod:`~python_mastery_portfolio.validation`.

:class:`Compiler` turns one annotation into a :class:`Node`: ``check(value)`` tells whether a
value passes, ``all_ok(items)`` whether every item of a re-iterable does (the loop stays in C
wherever it can: ``isinstance`` mapped over the items, nested containers flattened with
``itertools.chain``), and ``cls`` is set when the check is exactly one ``isinstance`` so the
decorator can write it straight into its generated wrapper. ``find`` walks a value again,
only after a check has failed, to name the innermost failing item and its path (``[2]``,
``['k']``, ``{x}``); :func:`explain` is its entry point. Recursive aliases compile into a
cycle through :class:`_Ref`, which also stops on cyclic data.

The meaning of each hint at run time is documented in :mod:`.validation`.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import reprlib
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat
from operator import itemgetter, methodcaller
from types import NoneType, UnionType
from typing import Any, ForwardRef, Literal, TypeAlias, TypeVar

from python_mastery_portfolio._internal.annotations import evaluate as evaluate_annotation

__all__ = [
    "ANY",
    "Compiler",
    "Failure",
    "Node",
    "explain",
    "is_unpack",
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
_PROMOTIONS: dict[type, tuple[type, ...]] = {float: (float, int), complex: (complex, float, int)}
# Unbound C methods that take no argument, cost nothing and refuse any other type with
# TypeError: mapping one over a container checks its items faster than isinstance can.
_FAST_METHODS: dict[type, Callable[[Any], object]] = {
    int: int.conjugate,
    float: float.conjugate,
    str: str.isascii,  # O(1): CPython keeps an ASCII flag per string
}
_ITEM_ORIGINS = frozenset({
    list, set, frozenset, collections.deque, cabc.Sequence, cabc.MutableSequence, cabc.Set,
    cabc.MutableSet, cabc.Collection, cabc.KeysView, cabc.ValuesView,
})  # fmt: skip
_PAIR_ORIGINS = frozenset({
    dict, collections.defaultdict, collections.OrderedDict, collections.ChainMap,
    cabc.Mapping, cabc.MutableMapping,
})  # fmt: skip
_TypeAliasType: Any = getattr(typing, "TypeAliasType", None)


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
_NEVER = Node("Never", _never)
_CALLABLE = Node("Callable", callable)
_values = methodcaller("values")


def _class_node(cls: type | tuple[type, ...], expected: str) -> Node:
    def check(value: object) -> bool:
        return isinstance(value, cls)

    return Node(expected, check, cls=cls, all_ok=_all_instances(cls))


class _Items(Node):
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


class _Pairs(Node):
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


class _Fixed(Node):
    """A tuple of a fixed length whose items pass their own nodes."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Node, ...], expected: str) -> None:
        checks = tuple(item.check for item in items)
        size = len(items)
        columns = tuple((itemgetter(index), item.all_ok) for index, item in enumerate(items))

        def check(value: object) -> bool:
            if not isinstance(value, tuple) or len(value) != size:
                return False
            for item_check, element in zip(checks, value, strict=True):
                if not item_check(element):
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
        if not isinstance(value, tuple) or len(value) != len(self.items):
            return path, self.expected, value
        for index, (item, element) in enumerate(zip(self.items, value, strict=True)):
            failure = item.find(element, f"{path}[{index}]", seen)
            if failure is not None:
                return failure
        return None


class _Union(Node):
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


class _Ref(Node):
    """A recursive reference, resolved once its target is compiled; tolerates cyclic data."""

    __slots__ = ("target", "used")

    def __init__(self, expected: str) -> None:
        ref = self

        def check(value: object) -> bool:
            active: set[tuple[int, int]] | None = getattr(_guard, "active", None)
            if active is None:
                active = _guard.active = set()
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


class _TypedDict(Node):
    """A dict with the required keys of a ``TypedDict``, each present key's value checked."""

    __slots__ = ("fields", "required")

    def __init__(self, required: frozenset[str], fields: dict[str, Node], name: str) -> None:
        checks = [(key, node.check) for key, node in fields.items()]

        def check(value: object) -> bool:
            if not isinstance(value, dict) or not required <= value.keys():
                return False
            for key, field_check in checks:
                if key in value and not field_check(value[key]):
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
        if missing:
            return path, f"{self.expected} (missing key {missing[0]!r})", value
        for key, node in self.fields.items():
            if key in value:
                failure = node.find(value[key], f"{path}[{key!r}]", seen)
                if failure is not None:
                    return failure
        return None


class Compiler:
    """Compile the annotations of one function, resolving strings in its scope."""

    def __init__(
        self, globalns: dict[str, Any], localns: Mapping[str, Any], *, lazy: bool = False
    ) -> None:
        self.globalns = globalns
        self.localns = localns
        self.lazy = lazy  # at decoration time strings are left for the first call
        self.memo: dict[object, Node] = {}

    def compile(self, hint: object) -> Node:
        """Return the node for ``hint``; raise TypeError when it cannot be checked."""
        if hint is Any or hint is object:
            return ANY
        if hint is None or hint is NoneType:
            return _class_node(NoneType, "None")
        if isinstance(hint, str | ForwardRef):
            return self._forward(hint)
        origin = typing.get_origin(hint)
        if origin is not None:
            return self._generic(hint, origin, typing.get_args(hint))
        if isinstance(hint, type):
            return self._class(hint)
        if isinstance(hint, TypeVar):
            return self._typevar(hint)
        if isinstance(hint, typing.NewType):
            return self.compile(hint.__supertype__)
        return self._special(hint)

    def _special(self, hint: object) -> Node:
        if hint is typing.LiteralString:
            return _class_node(str, "LiteralString")
        if hint is typing.Never or hint is typing.NoReturn:
            return _NEVER
        if hint is typing.Self or isinstance(hint, _UNCHECKED_FORMS):
            return ANY
        if _TypeAliasType is not None and isinstance(
            hint, _TypeAliasType
        ):  # pragma: no cover - Python 3.12+
            alias: Any = hint
            return self._memoised(alias, alias.__name__, lambda: self.compile(alias.__value__))
        raise TypeError(f"unsupported annotation {hint!r}")

    def _memoised(self, key: object, name: str, build: Callable[[], Node]) -> Node:
        """Build the node for ``key`` once, tying a recursive reference into a cycle."""
        known = self.memo.get(key)
        if known is not None:
            if isinstance(known, _Ref):
                known.used = True
            return known
        ref = _Ref(name)
        self.memo[key] = ref
        try:
            node = build()
        except BaseException:
            del self.memo[key]
            raise
        if not ref.used:  # not recursive: the direct node is faster
            self.memo[key] = node
            return node
        ref.target = node
        return ref

    def _forward(self, hint: str | ForwardRef) -> Node:
        source = hint if isinstance(hint, str) else hint.__forward_arg__
        if self.lazy:
            return ANY
        return self._memoised(source, source, lambda: self.compile(self.evaluate(source)))

    def evaluate(self, source: str) -> object:
        """Evaluate a string annotation in the function's scope."""
        try:
            return evaluate_annotation(source, self.globalns, self.localns)
        except NameError as error:
            raise NameError(f"cannot resolve it: {error}", name=error.name) from error
        except Exception as error:
            raise TypeError(f"cannot evaluate it: {error!r}") from error

    def _typevar(self, hint: TypeVar) -> Node:
        if hint.__bound__ is not None:
            return self.compile(hint.__bound__)
        if hint.__constraints__:
            return self._union(hint.__constraints__)
        return ANY

    def _class(self, cls: type) -> Node:
        if typing.is_typeddict(cls):
            if self.lazy:  # its annotations may name classes that do not exist yet
                return ANY
            return self._memoised(cls, type_name(cls), lambda: self._typeddict(cls))
        _require_checkable(cls)
        return _class_node(_PROMOTIONS.get(cls, cls), type_name(cls))

    def _typeddict(self, cls: type) -> Node:
        module = sys.modules.get(cls.__module__)
        globalns = vars(module) if module else None
        hints = typing.get_type_hints(cls, globalns, dict(self.localns), include_extras=True)
        # Python 3.11 cannot see Required/NotRequired inside string annotations when it
        # computes __required_keys__, so the resolved hints have the last word.
        required = set(getattr(cls, "__required_keys__", ()))
        fields: dict[str, Node] = {}
        for key, hint in hints.items():
            inner = hint
            while (qualifier := typing.get_origin(inner)) in _KEY_QUALIFIERS:
                if qualifier is typing.NotRequired:
                    required.discard(key)
                if qualifier is typing.Required:
                    required.add(key)
                inner = typing.get_args(inner)[0]
            fields[key] = self.compile(inner)
        return _TypedDict(frozenset(required), fields, type_name(cls))

    def _generic(self, hint: object, origin: object, args: tuple[Any, ...]) -> Node:
        if origin is typing.Annotated:
            return self.compile(args[0])
        if origin is typing.Union or origin is UnionType:
            return self._union(args)
        if origin is Literal:
            return _literal(args)
        if origin is type:
            return self._subclass(args[0] if args else Any)
        if origin is cabc.Callable:
            return _CALLABLE
        if origin is tuple:
            return self._tuple(hint, args)
        if isinstance(origin, type):
            return self._container(origin, args)
        raise TypeError(f"unsupported annotation {hint!r}")

    def _union(self, hints: Iterable[object]) -> Node:
        nodes: list[Node] = []
        for node in map(self.compile, hints):
            if node is ANY:
                return ANY
            nodes.extend(node.members if isinstance(node, _Union) else (node,))
        expected = " | ".join(dict.fromkeys(node.expected for node in nodes))
        classes: list[type] = []
        others: list[Node] = []
        for node in nodes:
            if node.cls is None:
                others.append(node)
            else:
                classes.extend(node.cls if isinstance(node.cls, tuple) else (node.cls,))
        unique = tuple(dict.fromkeys(classes))
        if not others:
            return _class_node(unique, expected)
        return _Union(tuple(others), unique, expected)

    def _subclass(self, hint: object) -> Node:
        inner = self.compile(hint)
        if inner is ANY:
            return _class_node(type, "type")
        bases = inner.outer
        try:
            if bases is None:
                raise TypeError("it has no class")  # noqa: TRY301 - shares the message below
            issubclass(object, bases)  # a protocol with data members refuses issubclass
        except TypeError as error:
            raise TypeError(f"unsupported annotation type[{inner.expected}]: {error}") from error
        checked = bases

        def check(value: object) -> bool:
            return isinstance(value, type) and issubclass(value, checked)

        return Node(f"type[{inner.expected}]", check)

    def _tuple(self, hint: object, args: tuple[Any, ...]) -> Node:
        if hint is typing.Tuple:  # noqa: UP006 - the bare alias, which is not tuple[()]
            return _class_node(tuple, "tuple")
        if len(args) == 2 and args[1] is Ellipsis:
            item = self.compile(args[0])
            return _items(tuple, item, f"tuple[{item.expected}, ...]")
        if any(getattr(arg, "__unpacked__", False) or is_unpack(arg) for arg in args):
            raise TypeError(f"unsupported annotation {hint!r}")
        items = tuple(map(self.compile, args))
        return _Fixed(items, f"tuple[{', '.join(i.expected for i in items) or '()'}]")

    def _container(self, origin: type, args: tuple[Any, ...]) -> Node:
        if typing.is_typeddict(origin):  # a generic TypedDict: its type variables are Any
            return self._class(origin)
        _require_checkable(origin)
        name = type_name(origin)
        if origin is collections.Counter and len(args) == 1:
            key = self.compile(args[0])
            return _Pairs(origin, key, _class_node(int, "int"), f"Counter[{key.expected}]")
        if origin in _PAIR_ORIGINS and len(args) == 2:
            key, value = self.compile(args[0]), self.compile(args[1])
            return _Pairs(origin, key, value, f"{name}[{key.expected}, {value.expected}]")
        if origin is cabc.ItemsView and len(args) == 2:
            key, value = self.compile(args[0]), self.compile(args[1])
            pair = _Fixed((key, value), f"tuple[{key.expected}, {value.expected}]")
            return _Items(origin, pair, f"ItemsView[{key.expected}, {value.expected}]")
        if origin in _ITEM_ORIGINS and len(args) == 1:
            item = self.compile(args[0])
            return _items(origin, item, f"{name}[{item.expected}]")
        # Iterables and iterators would be consumed and user generics have parameters of
        # unknown meaning: the class is all that can be checked without changing the program.
        return _class_node(origin, f"{name}[{', '.join(map(_hint_name, args))}]" if args else name)


_KEY_QUALIFIERS = frozenset(
    form
    for form in (typing.Required, typing.NotRequired, getattr(typing, "ReadOnly", None))
    if form is not None
)
_UNCHECKED_FORMS = (typing.ParamSpecArgs, typing.ParamSpecKwargs, typing.TypeVarTuple)


def _hint_name(hint: object) -> str:
    return type_name(hint) if isinstance(hint, type) else repr(hint).replace("typing.", "")


def is_unpack(hint: object) -> bool:
    return typing.get_origin(hint) is typing.Unpack


def _items(origin: type, item: Node, expected: str) -> Node:
    if item is ANY:
        return _class_node(origin, expected)
    return _Items(origin, item, expected)


def _literal(values: tuple[Any, ...]) -> Node:
    by_type: dict[type, set[object]] = {}
    try:
        for value in values:
            by_type.setdefault(type(value), set()).add(value)
    except TypeError as error:
        raise TypeError(f"unsupported Literal values {values!r}: {error}") from error
    frozen = {kind: frozenset(items) for kind, items in by_type.items()}

    def check(value: object) -> bool:
        # The exact type first: True == 1 and 1.0 == 1, but neither is Literal[1].
        allowed = frozen.get(type(value))
        return allowed is not None and value in allowed

    return Node(f"Literal[{', '.join(map(repr, values))}]", check)


def _require_checkable(cls: type) -> None:
    """Raise TypeError now for a class that refuses isinstance (a plain Protocol, say)."""
    try:
        isinstance(None, cls)
    except TypeError as error:
        raise TypeError(f"{cls.__qualname__} cannot be checked at run time: {error}") from error


def explain(node: Node, value: object, path: str) -> Failure:
    """Return the (path, expected, value) of the innermost failure of ``value`` at ``path``."""
    return node.find(value, path, set()) or (path, node.expected, value)
