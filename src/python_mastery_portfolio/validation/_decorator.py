"""The ``validate_types`` decorator over compiled annotation checks."""

from __future__ import annotations

import collections
import functools
import inspect
import logging
import threading
import typing
from collections.abc import Callable, Iterable
from types import FrameType, FunctionType
from typing import Any, Protocol, TypeVar, overload

from python_mastery_portfolio._internal.annotations import globals_of
from python_mastery_portfolio._internal.callables import decorate_function, is_async_callable
from python_mastery_portfolio._internal.codegen import define
from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.validation._checks import (
    ANY,
    Failure,
    Node,
    explain,
    failure_error,
)
from python_mastery_portfolio.validation._compiler import Compiler, is_unpack
from python_mastery_portfolio.validation._type_checking import type_checking_names

__all__ = ["validate_types"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

# classmethod and staticmethod are not subscriptable at run time before Python 3.12.
_F = TypeVar("_F", bound="Callable[..., Any] | classmethod[Any, Any, Any] | staticmethod[Any, Any]")

_EMPTY = inspect.Parameter.empty
_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_ONE, _EACH, _WHOLE = "one", "each", "whole"


def _lexical_frames(func: object, frame: FrameType | None) -> list[FrameType]:
    """Return the frames of the scopes ``func`` is defined in, innermost first.

    A function defined inside another function or a class body may name, in its
    annotations, classes that live only in those scopes; :func:`_scope_namespaces` keeps
    what the first call needs of them.
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


def _scope_namespaces(frames: list[FrameType]) -> list[FrameType | dict[str, Any]]:
    """Keep, of each enclosing scope, what resolving annotations at the first call needs.

    A class body's ``f_locals`` is its namespace itself, live, so the dict is kept and the
    frame let go. A function's locals live in slots that no dict mirrors: a copy of
    ``f_locals`` taken now would miss a class defined after the decorated function, and frames
    refuse weak references, so the frame itself is kept and read at the first call. The cost:
    until that call succeeds, all of that function's locals stay alive and, once it has
    returned, so do its callers' frames (a finished frame owns its ``f_back``); a wrapper that
    is never called holds them for as long as it lives. Holding them up to the first call is
    what makes late local classes work; the reference is dropped as soon as it has served.
    """
    return [
        frame if frame.f_code.co_flags & inspect.CO_OPTIMIZED else frame.f_locals
        for frame in frames
    ]


def _unpacked(hint: object) -> object | None:
    """Return ``X`` for ``Unpack[X]`` or ``*X``, else None."""
    if is_unpack(hint):
        inner: object = typing.get_args(hint)[0]
        return inner
    if getattr(hint, "__unpacked__", False):
        return tuple.__class_getitem__(typing.get_args(hint))
    return None


class _Validated:
    """The state behind one decorated function: its parameters, checkers and wrapper."""

    def __init__(
        self,
        func: Callable[..., Any],
        explicit: dict[str, object] | None,
        frame: FrameType | None,
        check_return: bool,
    ) -> None:
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as error:
            raise TypeError(f"@validate_types cannot read the signature of {func!r}") from error
        params = list(signature.parameters.values())
        self.func = func
        # The return annotation, or empty when the return value is not to be checked.
        self.returns: object = signature.return_annotation if check_return else _EMPTY
        self.return_node: Node = ANY
        self.qualname: str = getattr(func, "__qualname__", None) or type(func).__qualname__
        self.params = params
        self.explicit = explicit
        if explicit is not None:
            self._check_explicit(explicit)
        self.scopes: list[FrameType | dict[str, Any]] | None = _scope_namespaces(
            _lexical_frames(func, frame)
        )
        self.lock = threading.Lock()
        self.resolved = False
        self.nodes: dict[int, Node] = {}
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
            f"{prefix}fail_return": self.fail_return,
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
        compiler = Compiler({}, {}, lazy=True)
        for name, hint in explicit.items():
            try:
                compiler.compile(hint)
            except TypeError as error:
                raise TypeError(f"@validate_types: parameter {name!r}: {error}") from error

    def _await(self) -> str:
        return "await " if self.is_async else ""

    def _call(self) -> str:
        parts: list[str] = []
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
        # The source is built only from the parameters' identifiers and our own names, the
        # way dataclasses builds __init__; define() registers it so tracebacks can show it.
        define(source, f"validate_types {self.qualname}", self.namespace)
        function: FunctionType = self.namespace.pop(f"{self.prefix}wrapper")
        # Tracebacks then name the function, in a frame whose file is <validate_types ...>.
        function.__code__ = function.__code__.replace(co_name=self.name, co_qualname=self.qualname)
        return function

    def resolve(self) -> None:
        """Compile the checkers (on the first call) and install the checking code."""
        with self.lock:
            if self.resolved:
                return
            localns = collections.ChainMap(*(
                scope.f_locals if isinstance(scope, FrameType) else scope
                for scope in self.scopes or ()
            ))  # fmt: skip
            compiler = Compiler(globals_of(self.func), localns)
            lines: list[str] = []
            skipped: dict[str, str] = {}  # what is not checked -> the TYPE_CHECKING name
            for index, param in enumerate(self.params):
                hint = self._hint(param)
                if hint is _EMPTY:
                    continue
                where = f"parameter {param.name!r}"
                try:
                    mode, node = self._compile(compiler, param, hint)
                except NameError as error:
                    skipped[where] = self._type_checking_only(where, hint, error)
                    continue
                except TypeError as error:
                    raise TypeError(self._context(where, hint, error)) from error
                if node is not ANY:
                    self.nodes[index] = node
                    lines.extend(self._lines(index, param, mode, node))
            lines.extend(self._return_lines(compiler, skipped))
            real = self._define("".join(lines))
            self.wrapper.__code__ = real.__code__
            self.scopes = None  # resolved: the frames and namespaces may now be freed
            self.resolved = True
            if skipped:
                # Once per function: resolution happens once, and a log record (not
                # warnings.warn) cannot be turned into an exception by a warnings filter.
                logger.warning(
                    "@validate_types on %s(): %s not checked: the annotation names %s, "
                    "which the module imports or defines only under TYPE_CHECKING",
                    self.qualname,
                    ", ".join(skipped),
                    ", ".join(dict.fromkeys(skipped.values())),
                )
            logger.debug("validate_types compiled %s: %d checked", self.qualname, len(self.nodes))

    def _type_checking_only(self, where: str, hint: object, error: NameError) -> str:
        """Return the missing name if the module binds it only for type checkers, else raise."""
        module = getattr(self.func, "__module__", None)
        if error.name is not None and error.name in type_checking_names(module):
            return error.name
        raise NameError(self._context(where, hint, error), name=error.name) from error

    def _return_lines(self, compiler: Compiler, skipped: dict[str, str]) -> list[str]:
        """Return the call of the function, and the check of its result when one is asked."""
        p = self.prefix
        call = f"{self._await()}{p}func({self._call()})"
        if self.returns is not _EMPTY:
            where = "the return value"
            try:
                self.return_node = compiler.compile(self.returns)
            except NameError as error:
                skipped[where] = self._type_checking_only(where, self.returns, error)
            except TypeError as error:
                raise TypeError(self._context(where, self.returns, error)) from error
        if self.return_node is ANY:  # nothing to check: exactly the code without the option
            return [f" return {call}\n"]
        test = self._test("r", self.return_node)
        return [
            f" {p}r = {call}\n",
            f" if not {test(p + 'r')}: raise {p}fail_return({p}r)\n",
            f" return {p}r\n",
        ]

    def _hint(self, param: inspect.Parameter) -> object:
        if self.explicit is None:
            return param.annotation
        return self.explicit.get(param.name, _EMPTY)

    def _context(self, where: str, hint: object, error: Exception) -> str:
        return f"@validate_types on {self.qualname}(): {where}: annotation {hint!r}: {error}"

    @staticmethod
    def _compile(compiler: Compiler, param: inspect.Parameter, hint: object) -> tuple[str, Node]:
        if param.kind is not _VAR_POSITIONAL and param.kind is not _VAR_KEYWORD:
            return _ONE, compiler.compile(hint)
        if isinstance(hint, str):
            hint = compiler.evaluate(hint)
        inner = _unpacked(hint)
        if inner is None:
            return _EACH, compiler.compile(hint)
        return _WHOLE, compiler.compile(inner)

    def _test(self, key: object, node: Node) -> Callable[[str], str]:
        """Return a function writing the check of ``node`` on an expression, as source."""
        p = self.prefix
        if node.cls is not None:
            self.namespace[f"{p}t{key}"] = node.cls

            def test(value: str) -> str:
                return f"{p}isinstance({value}, {p}t{key})"
        else:
            self.namespace[f"{p}c{key}"] = node.check

            def test(value: str) -> str:
                return f"{p}c{key}({value})"

        return test

    def _lines(self, index: int, param: inspect.Parameter, mode: str, node: Node) -> list[str]:
        p, name = self.prefix, param.name
        test = self._test(index, node)
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
        return self._error(name, explain(self.nodes[index], value, name))

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
                return self._error(name, explain(node, value, path))
        return self._error(name, (name, node.expected, values))  # a check changed its mind

    def fail_return(self, value: object) -> ValidationError:
        """Explain why the return value ``value`` failed its check."""
        failure = explain(self.return_node, value, "return")
        return failure_error(f"{self.qualname}() return value", "return", failure, self.qualname)

    def _error(self, field: str, failure: Failure) -> ValidationError:
        subject = f"{self.qualname}() argument {field!r}"
        return failure_error(subject, field, failure, self.qualname)


def _outer_caller() -> FrameType:
    """Return the frame of the code that called the function calling this one."""
    # inspect.currentframe() is None only on Pythons without frame support, which
    # validate_types could not serve anyway: it reads enclosing scopes from frames.
    here = typing.cast("FrameType", inspect.currentframe())
    caller = typing.cast("FrameType", here.f_back)
    del here  # a local naming its own frame would keep the frame alive until the GC runs
    return typing.cast("FrameType", caller.f_back)


def _decorate(
    func: Any, explicit: dict[str, object] | None, frame: FrameType | None, check_return: bool
) -> Any:
    if isinstance(func, type) or not (callable(func) or isinstance(func, classmethod)):
        raise TypeError(f"@validate_types decorates functions and methods, got {func!r}")
    # Generator functions are fine here: their arguments are checked when they are called.
    return decorate_function(
        func,
        lambda target: _Validated(target, explicit, frame, check_return).wrapper,
        "validate_types",
        generators=True,
    )


class _TypeValidator(Protocol):
    """The decorator returned by ``validate_types(**types)``."""

    def __call__(self, func: _F, /) -> _F: ...


@overload
def validate_types(func: _F, /) -> _F: ...


@overload
def validate_types(*, check_return: bool = False, **types: object) -> _TypeValidator: ...


def validate_types(func: Any = None, /, *, check_return: bool = False, **types: object) -> Any:
    """Check the types of a function's arguments on every call.

    ``@validate_types`` (or ``@validate_types()``) checks every annotated parameter against
    its annotation; ``@validate_types(name=str, age=int)`` checks exactly the parameters it
    names, and naming one the function lacks is a ``TypeError`` at once. Annotations are
    resolved at the first call, so ``from __future__ import annotations`` and classes
    defined after the function work; an annotation that cannot be resolved then raises
    ``NameError`` (or ``TypeError`` when it cannot be checked), naming it, and the next call
    tries again. The one exception: a name the function's module imports or defines only
    inside ``if TYPE_CHECKING:`` cannot exist at run time, so the parameter (or return value)
    whose annotation needs it is not checked, and one ``WARNING`` is logged, on the
    ``python_mastery_portfolio.validation`` logger, when the function is first called (a log
    record rather than ``warnings.warn``, so that test suites turning warnings into errors
    keep working; silence it with that logger's level).

    Arguments are checked whether passed by position or keyword; ``*args`` and ``**kwargs``
    annotations apply to each item (``*args: Unpack[tuple[...]]`` and
    ``**kwargs: Unpack[SomeTypedDict]`` to the whole). A parameter left at its default (the
    very default object) is not checked, so sentinels work. An unannotated ``self`` or
    ``cls`` is not checked. ``bool`` passes where ``int`` is expected, because ``bool``
    subclasses ``int``, and ``int`` passes for ``float`` (PEP 484's numeric tower). The
    return value is checked against the return annotation only with ``check_return=True``
    (for a coroutine function, the awaited result); without it the wrapper's code is the same
    as if the option did not exist, so it costs nothing. A coroutine function stays one and
    is checked when the coroutine starts. Put the decorator below or above
    ``@classmethod``/``@staticmethod``.

    Args:
        func: The function, for the bare ``@validate_types`` form.
        check_return: Also check the return value (keyword-only, so it cannot name a
            parameter of the decorated function in ``types``).
        **types: Parameter names and the annotations to check them against.

    Returns:
        The checking wrapper (``functools.wraps`` keeps the name, docstring and
        ``__wrapped__``), or a decorator making one.

    Raises:
        ValidationError: On a call, when an argument (or, with ``check_return``, the return
            value: ``field`` is then ``"return"``) does not match: ``field`` is the
            parameter, ``value`` the offending value (the item, inside a container), the
            message names the expected and actual types and the path
            (``data['k'][2]``; ``{x}`` for a set item or a mapping key).
        TypeError: When decorating, for a mapping naming a missing parameter, an annotation
            that cannot be checked, a ``check_return`` that is not a bool, or something that
            is not a function.

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
        >>> @validate_types(check_return=True)
        ... def half(n: int) -> int:
        ...     return n // 2 if n % 2 == 0 else n / 2
        >>> half(4)
        2
        >>> try:
        ...     half(3)
        ... except ValidationError as error:
        ...     print(error, "|", error.field)
        half() return value expected int, got float: 1.5 | return
    """
    if not isinstance(check_return, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"check_return must be a bool, got {check_return!r}")
    if func is None:
        explicit = types or None

        def decorate(target: Any) -> Any:
            return _decorate(target, explicit, _outer_caller(), check_return)

        return decorate
    return _decorate(func, types or None, _outer_caller(), check_return)
