"""Runtime type validation of function arguments: :func:`validate_types`.

Each annotation is compiled once, at the first call, into a checker: a plain class becomes an
``isinstance`` test written straight into a generated wrapper, a container becomes a loop that
runs in C on the fast path and only walks the data again, to name the failing path, when a
check fails. The wrapper has the function's own signature, so Python binds the arguments and
a call costs one extra frame and the checks, nothing more. Until that first call the wrapper
keeps the frames of the scopes enclosing the function, so that annotations naming local
classes, even ones defined after the function, resolve.

What a hint means at run time:

* Classes (``isinstance``, so ``bool`` passes for ``int``, and, following PEP 484's numeric
  tower, ``int`` for ``float`` and ``int``/``float`` for ``complex``); runtime-checkable
  protocols; ``Any``/``object`` (never checked); ``None``.
* ``X | Y``, ``Optional``, ``Union``, ``Literal`` (value *and* exact type: ``True`` is not
  ``Literal[1]``), ``Annotated`` (metadata ignored), ``NewType`` (its supertype), ``TypeVar``
  (its bound or constraints; a bare one is ``Any``), ``LiteralString`` (``str``), ``Never``.
* Containers, checked in full, every element, in iteration order: ``list``, ``set``,
  ``frozenset``, ``deque``, ``dict`` and its relatives, ``tuple[T, ...]``, ``tuple[A, B]``,
  ``TypedDict`` classes, and the ``collections.abc`` ones that can be iterated again
  (``Sequence``, ``MutableSequence``, ``Set``, ``Collection``, ``Mapping``, views...).
* ``Iterable``, ``Iterator``, ``Generator``, ``Awaitable`` and user generics are checked as a
  class only (never consumed); ``Callable[...]`` as ``callable()``; ``type[T]`` as a subclass.
* ``typing.Self`` and ``ParamSpec`` components are not checked. Recursive aliases (a string
  forward reference to themselves) and cyclic data work.

Anything else is a ``TypeError`` naming the annotation.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import functools
import inspect
import logging
import reprlib
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat
from operator import itemgetter, methodcaller
from types import FrameType, FunctionType, NoneType, UnionType
from typing import Any, ForwardRef, Literal, Protocol, TypeAlias, TypeVar, overload

from python_mastery_portfolio._utils import is_async_callable
from python_mastery_portfolio.exceptions import ValidationError

__all__ = ["validate_types"]

logger = logging.getLogger(__name__)

# classmethod and staticmethod are not subscriptable at run time before Python 3.12.
_F = TypeVar("_F", bound="Callable[..., Any] | classmethod[Any, Any, Any] | staticmethod[Any, Any]")

# (path, expected, bad value) of the first failure found.
_Failure: TypeAlias = tuple[str, str, object]
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


def _safe_repr(value: object) -> str:
    # reprlib shortens huge values and survives a __repr__ that raises.
    return _repr.repr(value)


def _name(cls: type) -> str:
    """Return the class's qualified name without the ``<locals>`` of the scopes around it."""
    return "None" if cls is NoneType else cls.__qualname__.rpartition("<locals>.")[2]


_Batch: TypeAlias = Callable[[Iterable[Any]], bool]


class _Node:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
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


_ANY = _Node("Any", _always, all_ok=_all_always)
_NEVER = _Node("Never", _never)
_CALLABLE = _Node("Callable", callable)
_values = methodcaller("values")


def _class_node(cls: type | tuple[type, ...], expected: str) -> _Node:
    def check(value: object) -> bool:
        return isinstance(value, cls)

    return _Node(expected, check, cls=cls, all_ok=_all_instances(cls))


class _Items(_Node):
    """A collection whose every item must pass ``item``."""

    __slots__ = ("indexed", "item")

    def __init__(self, origin: type, item: _Node, expected: str) -> None:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
        """Return the first failing item, with its index (or ``{item}`` for sets)."""
        if not isinstance(value, typing.cast("type", self.outer)):
            return path, self.expected, value
        item = self.item
        for index, element in enumerate(typing.cast("Iterable[object]", value)):
            if not item.check(element):
                where = f"[{index}]" if self.indexed else f"{{{_safe_repr(element)}}}"
                failure = item.find(element, path + where, seen)
                if failure is not None:
                    return failure
        return None


class _Pairs(_Node):
    """A mapping whose keys pass ``key`` and values pass ``value``."""

    __slots__ = ("key", "value")

    def __init__(self, origin: type, key: _Node, value: _Node, expected: str) -> None:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
        """Return the first failing key (``{key}``) or value (``[key]``)."""
        if not isinstance(value, typing.cast("type", self.outer)):
            return path, self.expected, value
        for key, item in typing.cast("Mapping[object, object]", value).items():
            where = _safe_repr(key)
            failure = None
            if not self.key.check(key):
                failure = self.key.find(key, f"{path}{{{where}}}", seen)
            if failure is None and not self.value.check(item):
                failure = self.value.find(item, f"{path}[{where}]", seen)
            if failure is not None:
                return failure
        return None


class _Fixed(_Node):
    """A tuple of a fixed length whose items pass their own nodes."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[_Node, ...], expected: str) -> None:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
        """Return the first failing item, or the tuple itself when its length is wrong."""
        if not isinstance(value, tuple) or len(value) != len(self.items):
            return path, self.expected, value
        for index, (item, element) in enumerate(zip(self.items, value, strict=True)):
            failure = item.find(element, f"{path}[{index}]", seen)
            if failure is not None:
                return failure
        return None


class _Union(_Node):
    """Any of ``members``; the classes among the alternatives are tested with one isinstance."""

    __slots__ = ("members",)

    def __init__(
        self, members: tuple[_Node, ...], classes: tuple[type, ...], expected: str
    ) -> None:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
        """Blame the one member whose shape the value has, else the union itself."""
        if self.check(value):
            return None
        shaped = [m for m in self.members if m.outer is not None and isinstance(value, m.outer)]
        if len(shaped) == 1:
            return shaped[0].find(value, path, seen)
        return path, self.expected, value


class _Ref(_Node):
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
        self.target: _Node = _ANY
        self.used = False

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
        """Delegate to the target, stopping where the path runs round a cycle."""
        key = (id(self), id(value))
        if key in seen:
            return None
        seen.add(key)
        try:
            return self.target.find(value, path, seen)
        finally:
            seen.discard(key)


class _TypedDict(_Node):
    """A dict with the required keys of a ``TypedDict``, each present key's value checked."""

    __slots__ = ("fields", "required")

    def __init__(self, required: frozenset[str], fields: dict[str, _Node], name: str) -> None:
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

    def find(self, value: object, path: str, seen: set[tuple[int, int]]) -> _Failure | None:
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


class _Compiler:
    """Compile the annotations of one function, resolving strings in its scope."""

    def __init__(
        self, globalns: dict[str, Any], localns: Mapping[str, Any], *, lazy: bool = False
    ) -> None:
        self.globalns = globalns
        self.localns = localns
        self.lazy = lazy  # at decoration time strings are left for the first call
        self.memo: dict[object, _Node] = {}

    def compile(self, hint: object) -> _Node:
        """Return the node for ``hint``; raise TypeError when it cannot be checked."""
        if hint is Any or hint is object:
            return _ANY
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

    def _special(self, hint: object) -> _Node:
        if hint is typing.LiteralString:
            return _class_node(str, "LiteralString")
        if hint is typing.Never or hint is typing.NoReturn:
            return _NEVER
        if hint is typing.Self or isinstance(hint, _UNCHECKED_FORMS):
            return _ANY
        if _TypeAliasType is not None and isinstance(
            hint, _TypeAliasType
        ):  # pragma: no cover - Python 3.12+
            alias: Any = hint
            return self._memoised(alias, alias.__name__, lambda: self.compile(alias.__value__))
        raise TypeError(f"unsupported annotation {hint!r}")

    def _memoised(self, key: object, name: str, build: Callable[[], _Node]) -> _Node:
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

    def _forward(self, hint: str | ForwardRef) -> _Node:
        source = hint if isinstance(hint, str) else hint.__forward_arg__
        if self.lazy:
            return _ANY
        return self._memoised(source, source, lambda: self.compile(self.evaluate(source)))

    def evaluate(self, source: str) -> object:
        """Evaluate a string annotation in the function's scope."""
        if source.startswith("*"):  # *tuple[int, str] or *Ts, as typing.ForwardRef does
            source = f"({source},)[0]"
        try:
            # The string is an annotation the function's author wrote, evaluated the way
            # typing.get_type_hints does, in the function's own scope.
            return eval(source, self.globalns, dict(self.localns))  # noqa: S307 - see above
        except NameError as error:
            raise NameError(f"cannot resolve it: {error}", name=error.name) from error
        except Exception as error:
            raise TypeError(f"cannot evaluate it: {error!r}") from error

    def _typevar(self, hint: TypeVar) -> _Node:
        if hint.__bound__ is not None:
            return self.compile(hint.__bound__)
        if hint.__constraints__:
            return self._union(hint.__constraints__)
        return _ANY

    def _class(self, cls: type) -> _Node:
        if typing.is_typeddict(cls):
            if self.lazy:  # its annotations may name classes that do not exist yet
                return _ANY
            return self._memoised(cls, _name(cls), lambda: self._typeddict(cls))
        _require_checkable(cls)
        return _class_node(_PROMOTIONS.get(cls, cls), _name(cls))

    def _typeddict(self, cls: type) -> _Node:
        module = sys.modules.get(cls.__module__)
        globalns = vars(module) if module else None
        hints = typing.get_type_hints(cls, globalns, dict(self.localns), include_extras=True)
        # Python 3.11 cannot see Required/NotRequired inside string annotations when it
        # computes __required_keys__, so the resolved hints have the last word.
        required = set(getattr(cls, "__required_keys__", ()))
        fields: dict[str, _Node] = {}
        for key, hint in hints.items():
            inner = hint
            while (qualifier := typing.get_origin(inner)) in _KEY_QUALIFIERS:
                if qualifier is typing.NotRequired:
                    required.discard(key)
                if qualifier is typing.Required:
                    required.add(key)
                inner = typing.get_args(inner)[0]
            fields[key] = self.compile(inner)
        return _TypedDict(frozenset(required), fields, _name(cls))

    def _generic(self, hint: object, origin: object, args: tuple[Any, ...]) -> _Node:
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

    def _union(self, hints: Iterable[object]) -> _Node:
        nodes: list[_Node] = []
        for node in map(self.compile, hints):
            if node is _ANY:
                return _ANY
            nodes.extend(node.members if isinstance(node, _Union) else (node,))
        expected = " | ".join(dict.fromkeys(node.expected for node in nodes))
        classes: list[type] = []
        others: list[_Node] = []
        for node in nodes:
            if node.cls is None:
                others.append(node)
            else:
                classes.extend(node.cls if isinstance(node.cls, tuple) else (node.cls,))
        unique = tuple(dict.fromkeys(classes))
        if not others:
            return _class_node(unique, expected)
        return _Union(tuple(others), unique, expected)

    def _subclass(self, hint: object) -> _Node:
        inner = self.compile(hint)
        if inner is _ANY:
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

        return _Node(f"type[{inner.expected}]", check)

    def _tuple(self, hint: object, args: tuple[Any, ...]) -> _Node:
        if hint is typing.Tuple:  # noqa: UP006 - the bare alias, which is not tuple[()]
            return _class_node(tuple, "tuple")
        if len(args) == 2 and args[1] is Ellipsis:
            item = self.compile(args[0])
            return _items(tuple, item, f"tuple[{item.expected}, ...]")
        if any(getattr(arg, "__unpacked__", False) or _is_unpack(arg) for arg in args):
            raise TypeError(f"unsupported annotation {hint!r}")
        items = tuple(map(self.compile, args))
        return _Fixed(items, f"tuple[{', '.join(i.expected for i in items) or '()'}]")

    def _container(self, origin: type, args: tuple[Any, ...]) -> _Node:
        if typing.is_typeddict(origin):  # a generic TypedDict: its type variables are Any
            return self._class(origin)
        _require_checkable(origin)
        name = _name(origin)
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
    return _name(hint) if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _is_unpack(hint: object) -> bool:
    return typing.get_origin(hint) is typing.Unpack


def _items(origin: type, item: _Node, expected: str) -> _Node:
    if item is _ANY:
        return _class_node(origin, expected)
    return _Items(origin, item, expected)


def _literal(values: tuple[Any, ...]) -> _Node:
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

    return _Node(f"Literal[{', '.join(map(repr, values))}]", check)


def _require_checkable(cls: type) -> None:
    """Raise TypeError now for a class that refuses isinstance (a plain Protocol, say)."""
    try:
        isinstance(None, cls)
    except TypeError as error:
        raise TypeError(f"{cls.__qualname__} cannot be checked at run time: {error}") from error


# ---------------------------------------------------------------------------------------------
# The decorator: a wrapper generated with the function's own signature.

_EMPTY = inspect.Parameter.empty
_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_ONE, _EACH, _WHOLE = "one", "each", "whole"


def _lexical_frames(func: object, frame: FrameType | None) -> list[FrameType]:
    """Return the frames of the scopes ``func`` is defined in, innermost first.

    A function defined inside another function or a class body may name, in its
    annotations, classes that live only in those scopes. The frames are kept (not a copy of
    their locals) so that classes defined *after* the function are seen at the first call.
    """
    qualname = getattr(func, "__qualname__", "")
    frames: list[FrameType] = []
    scopes: set[str] = set()
    # Lexical scopes run inside the module that defines them: stop at the first module frame.
    while frame is not None and "." in qualname and frame.f_code.co_name != "<module>":
        scope = frame.f_code.co_qualname
        if scope not in scopes and qualname.startswith(scope + "."):
            frames.append(frame)
            scopes.add(scope)
        frame = frame.f_back
    return frames


def _globals_of(func: object) -> dict[str, Any]:
    target = inspect.unwrap(typing.cast("Callable[..., Any]", func))
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    found = getattr(target, "__globals__", None)
    if found is None:  # a callable instance: its class's __call__ knows the module
        found = getattr(getattr(type(target), "__call__", None), "__globals__", {})  # noqa: B004 - the method, not callability
    return typing.cast("dict[str, Any]", found)


def _unpacked(hint: object) -> object | None:
    """Return ``X`` for ``Unpack[X]`` or ``*X``, else None."""
    if _is_unpack(hint):
        inner: object = typing.get_args(hint)[0]
        return inner
    if getattr(hint, "__unpacked__", False):
        return tuple.__class_getitem__(typing.get_args(hint))
    return None


class _Validated:
    """The state behind one decorated function: its parameters, checkers and wrapper."""

    def __init__(
        self, func: Callable[..., Any], explicit: dict[str, object] | None, frame: FrameType | None
    ) -> None:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError) as error:
            raise TypeError(f"@validate_types cannot read the signature of {func!r}") from error
        self.func = func
        self.qualname: str = getattr(func, "__qualname__", None) or type(func).__qualname__
        self.params = params
        self.explicit = explicit
        if explicit is not None:
            self._check_explicit(explicit)
        self.frames: list[FrameType] | None = _lexical_frames(func, frame)
        self.lock = threading.Lock()
        self.resolved = False
        self.nodes: dict[int, _Node] = {}
        reserved = {param.name for param in params}
        prefix = "_pmp_"
        while any(name.startswith(prefix) for name in reserved):
            prefix = "_" + prefix
        self.prefix = prefix
        self.name: str = getattr(func, "__name__", None) or type(func).__name__
        self.is_async = is_async_callable(func)
        self.namespace: dict[str, Any] = {
            f"{prefix}func": func,
            f"{prefix}resolve": self.resolve,
            f"{prefix}isinstance": isinstance,
            f"{prefix}fail": self.fail,
            f"{prefix}fail_each": self.fail_each,
        }
        for index, param in enumerate(params):
            if param.default is not _EMPTY:
                self.namespace[f"{prefix}d{index}"] = param.default
        stub = f" {prefix}resolve()\n return {self._await()}{prefix}self({self._call()})\n"
        self.wrapper = self._define(stub)
        self.wrapper.__name__, self.wrapper.__qualname__ = self.name, self.qualname
        functools.update_wrapper(self.wrapper, func)
        self.namespace[f"{prefix}self"] = self.wrapper

    def _check_explicit(self, explicit: dict[str, object]) -> None:
        unknown = sorted(explicit.keys() - {param.name for param in self.params})
        if unknown:
            raise TypeError(
                f"@validate_types got types for {', '.join(map(repr, unknown))} but "
                f"{self.qualname}() has no such parameter"
            )
        compiler = _Compiler({}, {}, lazy=True)
        for name, hint in explicit.items():
            try:
                compiler.compile(hint)
            except TypeError as error:
                raise TypeError(f"@validate_types: parameter {name!r}: {error}") from error

    def _await(self) -> str:
        return "await " if self.is_async else ""

    def _call(self) -> str:
        parts = []
        for param in self.params:
            if param.kind is _VAR_POSITIONAL:
                parts.append(f"*{param.name}")
            elif param.kind is _VAR_KEYWORD:
                parts.append(f"**{param.name}")
            elif param.kind is _KEYWORD_ONLY:
                parts.append(f"{param.name}={param.name}")
            else:
                parts.append(param.name)
        return ", ".join(parts)

    def _define(self, body: str) -> FunctionType:
        parts: list[str] = []
        star = False
        last_positional_only = max(
            (i for i, p in enumerate(self.params) if p.kind is _POSITIONAL_ONLY), default=-1
        )
        for index, param in enumerate(self.params):
            default = "" if param.default is _EMPTY else f"={self.prefix}d{index}"
            if param.kind is _VAR_POSITIONAL:
                parts.append(f"*{param.name}")
                star = True
            elif param.kind is _VAR_KEYWORD:
                parts.append(f"**{param.name}")
            else:
                if param.kind is _KEYWORD_ONLY and not star:
                    parts.append("*")
                    star = True
                parts.append(param.name + default)
            if index == last_positional_only:
                parts.append("/")
        head = "async def" if self.is_async else "def"
        source = f"{head} {self.prefix}wrapper({', '.join(parts)}):\n{body}"
        code = compile(source, f"<validate_types {self.qualname}>", "exec")
        # The source is built only from the parameters' identifiers and our own names, the
        # way dataclasses builds __init__.
        exec(code, self.namespace)  # noqa: S102 - see above
        function: FunctionType = self.namespace.pop(f"{self.prefix}wrapper")
        # Tracebacks then name the function, in a frame whose file is <validate_types ...>.
        function.__code__ = function.__code__.replace(co_name=self.name, co_qualname=self.qualname)
        return function

    def resolve(self) -> None:
        """Compile the checkers (on the first call) and install the checking code."""
        with self.lock:
            if self.resolved:
                return
            localns = collections.ChainMap(*(frame.f_locals for frame in self.frames or ()))
            compiler = _Compiler(_globals_of(self.func), localns)
            lines: list[str] = []
            for index, param in enumerate(self.params):
                hint = self._hint(param)
                if hint is _EMPTY:
                    continue
                try:
                    mode, node = self._compile(compiler, param, hint)
                except NameError as error:
                    raise NameError(self._context(param, hint, error), name=error.name) from error
                except TypeError as error:
                    raise TypeError(self._context(param, hint, error)) from error
                if node is not _ANY:
                    self.nodes[index] = node
                    lines.extend(self._lines(index, param, mode, node))
            body = "".join(lines)
            real = self._define(f"{body} return {self._await()}{self.prefix}func({self._call()})\n")
            self.wrapper.__code__ = real.__code__
            self.frames = None  # resolved: the scopes may now be freed
            self.resolved = True
            logger.debug("validate_types compiled %s: %d checked", self.qualname, len(self.nodes))

    def _hint(self, param: inspect.Parameter) -> object:
        if self.explicit is None:
            return param.annotation
        return self.explicit.get(param.name, _EMPTY)

    def _context(self, param: inspect.Parameter, hint: object, error: Exception) -> str:
        return (
            f"@validate_types on {self.qualname}(): parameter {param.name!r}: "
            f"annotation {hint!r}: {error}"
        )

    @staticmethod
    def _compile(compiler: _Compiler, param: inspect.Parameter, hint: object) -> tuple[str, _Node]:
        if param.kind is not _VAR_POSITIONAL and param.kind is not _VAR_KEYWORD:
            return _ONE, compiler.compile(hint)
        if isinstance(hint, str):
            hint = compiler.evaluate(hint)
        inner = _unpacked(hint)
        if inner is None:
            return _EACH, compiler.compile(hint)
        return _WHOLE, compiler.compile(inner)

    def _lines(self, index: int, param: inspect.Parameter, mode: str, node: _Node) -> list[str]:
        p, name = self.prefix, param.name
        if node.cls is not None:
            self.namespace[f"{p}t{index}"] = node.cls

            def test(value: str) -> str:
                return f"{p}isinstance({value}, {p}t{index})"
        else:
            self.namespace[f"{p}c{index}"] = node.check

            def test(value: str) -> str:
                return f"{p}c{index}({value})"

        if mode == _EACH:
            values = f"{name}.values()" if param.kind is _VAR_KEYWORD else name
            return [
                f" for {p}v in {values}:\n",
                f"  if not {test(p + 'v')}: raise {p}fail_each({index}, {name})\n",
            ]
        guard = "" if param.default is _EMPTY else f"{name} is not {p}d{index} and "
        return [f" if {guard}not {test(name)}: raise {p}fail({index}, {name})\n"]

    def fail(self, index: int, value: object) -> ValidationError:
        """Explain why ``value`` failed the check of parameter ``index``."""
        name = self.params[index].name
        return self._error(name, _explain(self.nodes[index], value, name))

    def fail_each(
        self, index: int, values: tuple[object, ...] | dict[str, object]
    ) -> ValidationError:
        """Explain which item of a ``*args`` tuple or ``**kwargs`` dict failed its check."""
        name = self.params[index].name
        node = self.nodes[index]
        items: Iterable[tuple[str, object]]
        if isinstance(values, dict):
            items = ((f"{name}[{key!r}]", value) for key, value in values.items())
        else:
            items = ((f"{name}[{i}]", value) for i, value in enumerate(values))
        for path, value in items:
            if not node.check(value):
                return self._error(name, _explain(node, value, path))
        return self._error(name, (name, node.expected, values))  # a check changed its mind

    def _error(self, field: str, failure: _Failure) -> ValidationError:
        path, expected, value = failure
        where = "" if path == field else f" at {path}"
        actual = "None" if value is None else f"{_name(type(value))}: {_safe_repr(value)}"
        return ValidationError(
            f"{self.qualname}() argument {field!r}{where} expected {expected}, got {actual}",
            field=field,
            value=value,
            path=path,
            expected=expected,
            function=self.qualname,
        )


def _explain(node: _Node, value: object, path: str) -> _Failure:
    return node.find(value, path, set()) or (path, node.expected, value)


def _decorate(func: Any, explicit: dict[str, object] | None, frame: FrameType | None) -> Any:
    if isinstance(func, classmethod | staticmethod):
        return type(func)(_decorate(func.__func__, explicit, frame))
    if isinstance(func, type) or not callable(func):
        raise TypeError(f"@validate_types decorates functions and methods, got {func!r}")
    return _Validated(func, explicit, frame).wrapper


class _TypeValidator(Protocol):
    """The decorator returned by ``validate_types(**types)``."""

    def __call__(self, func: _F, /) -> _F: ...


@overload
def validate_types(func: _F, /) -> _F: ...


@overload
def validate_types(**types: object) -> _TypeValidator: ...


def validate_types(func: Any = None, /, **types: object) -> Any:
    """Check the types of a function's arguments on every call.

    ``@validate_types`` (or ``@validate_types()``) checks every annotated parameter against
    its annotation; ``@validate_types(name=str, age=int)`` checks exactly the parameters it
    names, and naming one the function lacks is a ``TypeError`` at once. Annotations are
    resolved at the first call, so ``from __future__ import annotations`` and classes
    defined after the function work; an annotation that cannot be resolved then raises
    ``NameError`` (or ``TypeError`` when it cannot be checked), naming it, and the next call
    tries again.

    Arguments are checked whether passed by position or keyword; ``*args`` and ``**kwargs``
    annotations apply to each item (``*args: Unpack[tuple[...]]`` and
    ``**kwargs: Unpack[SomeTypedDict]`` to the whole). A parameter left at its default (the
    very default object) is not checked, so sentinels work. An unannotated ``self`` or
    ``cls`` is not checked. ``bool`` passes where ``int`` is expected, because ``bool``
    subclasses ``int``, and ``int`` passes for ``float`` (PEP 484's numeric tower). The
    return value is not checked. A coroutine function stays one and is checked when the
    coroutine starts. Put the decorator below or above ``@classmethod``/``@staticmethod``.

    Args:
        func: The function, for the bare ``@validate_types`` form.
        **types: Parameter names and the annotations to check them against.

    Returns:
        The checking wrapper (``functools.wraps`` keeps the name, docstring and
        ``__wrapped__``), or a decorator making one.

    Raises:
        ValidationError: On a call, when an argument does not match: ``field`` is the
            parameter, ``value`` the offending value (the item, inside a container), the
            message names the expected and actual types and the path
            (``data['k'][2]``; ``{x}`` for a set item or a mapping key).
        TypeError: When decorating, for a mapping naming a missing parameter, an annotation
            that cannot be checked, or something that is not a function.

    Example:
        >>> @validate_types(name=str, age=int)
        ... def create_user(name: str, age: int) -> str:
        ...     return f"{name} ({age})"
        >>> create_user("Ada", age=36)
        'Ada (36)'
        >>> try:
        ...     create_user("Ada", "36")
        ... except ValidationError as error:
        ...     print(error)
        create_user() argument 'age' expected int, got str: '36'
        >>> @validate_types
        ... def total(data: dict[str, list[int]]) -> int:
        ...     return sum(map(sum, data.values()))
        >>> total({"a": [1, 2], "b": [3]})
        6
        >>> try:
        ...     total({"a": [1, 2, "3"]})
        ... except ValidationError as error:
        ...     print(error, "|", error.field, error.value)
        total() argument 'data' at data['a'][2] expected int, got str: '3' | data 3
    """
    if func is None:
        explicit = types or None

        def decorate(target: Any) -> Any:
            return _decorate(target, explicit, sys._getframe(1))

        return decorate
    return _decorate(func, types or None, sys._getframe(1))
