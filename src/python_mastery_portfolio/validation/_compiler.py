"""Compile type annotations into the checkers of :mod:`._checks`, resolving strings in scope.

:class:`Compiler` memoises what it compiled, ties recursive aliases into a cycle through a
:class:`~._checks.RefNode`, and at decoration time (``lazy``) leaves string annotations and
TypedDicts for the first call, when the classes they name exist.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from types import NoneType, UnionType
from typing import Any, ForwardRef, Literal, TypeVar

from python_mastery_portfolio._internal.annotations import evaluate as evaluate_annotation
from python_mastery_portfolio.validation._checks import (
    ANY,
    CALLABLE,
    ITEM_ORIGINS,
    NEVER,
    PAIR_ORIGINS,
    PROMOTIONS,
    TYPE_ALIAS_TYPE,
    FixedNode,
    ItemsNode,
    NamedTupleNode,
    Node,
    PairsNode,
    RefNode,
    TypedDictNode,
    UnionNode,
    class_node,
    io_node,
    protocol_node,
    type_name,
)

__all__ = ["Compiler", "is_unpack"]


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
            return class_node(NoneType, "None")
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
            return class_node(str, "LiteralString")
        if hint is typing.Never or hint is typing.NoReturn:
            return NEVER
        if hint is typing.Self or isinstance(hint, _UNCHECKED_FORMS):
            return ANY
        if TYPE_ALIAS_TYPE is not None and isinstance(
            hint, TYPE_ALIAS_TYPE
        ):  # pragma: no cover - Python 3.12+
            alias: Any = hint
            return self._memoised(alias, alias.__name__, lambda: self.compile(alias.__value__))
        raise TypeError(f"unsupported annotation {hint!r}")

    def _memoised(self, key: object, name: str, build: Callable[[], Node]) -> Node:
        """Build the node for ``key`` once, tying a recursive reference into a cycle."""
        known = self.memo.get(key)
        if known is not None:
            if isinstance(known, RefNode):
                known.used = True
            return known
        ref = RefNode(name)
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
        ref.outer = node.outer  # so a union can blame the recursive member by its shape
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
        io_kind = _IO_CLASSES.get(cls)
        if io_kind is not None:
            return io_node(io_kind, type_name(cls))
        if typing.is_typeddict(cls):
            if self.lazy:  # its annotations may name classes that do not exist yet
                return ANY
            return self._memoised(cls, type_name(cls), lambda: self._typeddict(cls))
        if typing.NamedTuple in getattr(cls, "__orig_bases__", ()) and not self.lazy:
            return self._memoised(cls, type_name(cls), lambda: self._namedtuple(cls))
        if _is_structural(cls):
            return protocol_node(cls, type_name(cls))
        _require_checkable(cls)
        return class_node(PROMOTIONS.get(cls, cls), type_name(cls))

    def _hints(self, cls: type) -> dict[str, Any]:
        """Return the resolved annotations of a class, in its module and the function's scope."""
        module = sys.modules.get(cls.__module__)
        globalns = vars(module) if module else None
        return typing.get_type_hints(cls, globalns, dict(self.localns), include_extras=True)

    def _namedtuple(self, cls: type) -> Node:
        hints = self._hints(cls)
        fields: dict[str, tuple[int, Node]] = {}
        names = typing.cast("tuple[str, ...]", cls.__match_args__)  # type: ignore[attr-defined]  # a NamedTuple's fields, in order
        for index, field in enumerate(names):
            node = self.compile(hints.get(field, Any))
            if node is not ANY:
                fields[field] = (index, node)
        if not fields:  # nothing but the class to check: the wrapper may inline it
            return class_node(cls, type_name(cls))
        return NamedTupleNode(cls, fields, type_name(cls))

    def _typeddict(self, cls: type) -> Node:
        hints = self._hints(cls)
        # Python 3.11 cannot see Required/NotRequired inside string annotations when it
        # computes __required_keys__, so the resolved hints have the last word.
        required: set[str] = set(getattr(cls, "__required_keys__", ()))
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
        return TypedDictNode(frozenset(required), fields, type_name(cls))

    def _generic(self, hint: object, origin: object, args: tuple[Any, ...]) -> Node:
        if origin is typing.Annotated:
            return self.compile(args[0])
        if origin is typing.Union or origin is UnionType:
            return self._union(args)
        if origin is Literal:
            return _literal(args)
        if origin is type:
            return self._subclass(args[0] if args else Any)
        if origin is cabc.Callable:  # pyright: ignore[reportUnknownMemberType]  # the class itself
            return CALLABLE
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
            nodes.extend(node.members if isinstance(node, UnionNode) else (node,))
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
            return class_node(unique, expected)
        return UnionNode(tuple(others), unique, expected)

    def _subclass(self, hint: object) -> Node:
        inner = self.compile(hint)
        if inner is ANY:
            return class_node(type, "type")
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
            return class_node(tuple, "tuple")
        if len(args) == 2 and args[1] is Ellipsis:
            item = self.compile(args[0])
            return _items(tuple, item, f"tuple[{item.expected}, ...]")
        if any(getattr(arg, "__unpacked__", False) or is_unpack(arg) for arg in args):
            raise TypeError(f"unsupported annotation {hint!r}")
        items = tuple(map(self.compile, args))
        return FixedNode(items, f"tuple[{', '.join(i.expected for i in items) or '()'}]")

    def _container(self, origin: type, args: tuple[Any, ...]) -> Node:
        if typing.is_typeddict(origin) or typing.NamedTuple in getattr(
            origin, "__orig_bases__", ()
        ):  # a generic TypedDict or NamedTuple: its type variables are Any
            return self._class(origin)
        if _is_structural(origin):  # a generic protocol: its members, not their types
            return protocol_node(origin, _hint_name(origin))
        if origin is typing.IO:
            kind = {str: "text", bytes: "binary"}.get(args[0], "any")
            return io_node(kind, f"IO[{_hint_name(args[0])}]")
        _require_checkable(origin)
        name = type_name(origin)
        if origin is collections.Counter and len(args) == 1:
            key = self.compile(args[0])
            return PairsNode(origin, key, class_node(int, "int"), f"Counter[{key.expected}]")
        if origin in PAIR_ORIGINS and len(args) == 2:
            key, value = self.compile(args[0]), self.compile(args[1])
            return PairsNode(origin, key, value, f"{name}[{key.expected}, {value.expected}]")
        if origin is cabc.ItemsView and len(args) == 2:
            key, value = self.compile(args[0]), self.compile(args[1])
            pair = FixedNode((key, value), f"tuple[{key.expected}, {value.expected}]")
            return ItemsNode(origin, pair, f"ItemsView[{key.expected}, {value.expected}]")
        if origin in ITEM_ORIGINS and len(args) == 1:
            item = self.compile(args[0])
            return _items(origin, item, f"{name}[{item.expected}]")
        # Iterables and iterators would be consumed and user generics have parameters of
        # unknown meaning: the class is all that can be checked without changing the program.
        return class_node(origin, f"{name}[{', '.join(map(_hint_name, args))}]" if args else name)


_KEY_QUALIFIERS = frozenset(
    form
    for form in (typing.Required, typing.NotRequired, getattr(typing, "ReadOnly", None))
    if form is not None
)
# typing.IO[str] is also a text file; IO[Any] (or IO of a type variable) any file.
_IO_CLASSES: dict[object, str] = {
    typing.TextIO: "text",
    typing.BinaryIO: "binary",
    typing.IO: "any",
}
_UNCHECKED_FORMS = (typing.ParamSpecArgs, typing.ParamSpecKwargs, typing.TypeVarTuple)


def _hint_name(hint: object) -> str:
    return type_name(hint) if isinstance(hint, type) else repr(hint).replace("typing.", "")


def is_unpack(hint: object) -> bool:
    return typing.get_origin(hint) is typing.Unpack


def _items(origin: type, item: Node, expected: str) -> Node:
    if item is ANY:
        return class_node(origin, expected)
    return ItemsNode(origin, item, expected)


def _literal(values: tuple[Any, ...]) -> Node:
    by_type: dict[type, set[object]] = {}
    try:
        for value in values:
            by_type.setdefault(type(value), set()).add(value)  # pyright: ignore[reportUnknownArgumentType]  # type() of an Any
    except TypeError as error:
        raise TypeError(f"unsupported Literal values {values!r}: {error}") from error
    frozen = {kind: frozenset(items) for kind, items in by_type.items()}

    def check(value: object) -> bool:
        # The exact type first: True == 1 and 1.0 == 1, but neither is Literal[1].
        allowed = frozen.get(type(value))
        return allowed is not None and value in allowed

    return Node(f"Literal[{', '.join(map(repr, values))}]", check)


def _is_structural(cls: type) -> bool:
    """Tell a protocol that isinstance refuses (not runtime-checkable) from other classes."""
    if typing.Protocol not in cls.__mro__ or cls is typing.Protocol:
        return False
    try:
        isinstance(None, cls)
    except TypeError:
        return True
    return False


def _require_checkable(cls: type) -> None:
    """Raise TypeError now for a class that refuses isinstance (a plain Protocol, say)."""
    try:
        isinstance(None, cls)
    except TypeError as error:
        raise TypeError(f"{cls.__qualname__} cannot be checked at run time: {error}") from error
