"""Read constructor and factory signatures for the DI container, and build its errors.

Private helpers of :mod:`python_mastery_portfolio.di`: they turn a class or factory
into a tuple of :class:`Param` (read once, at the first resolve), and build the
:class:`~python_mastery_portfolio.exceptions.DependencyError` family with messages that name
the whole chain of services (``Root -> Mid -> Leaf (not registered)``).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from python_mastery_portfolio._internal.annotations import evaluate, globals_of
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.exceptions import (
    CircularDependencyError,
    DependencyError,
    LifetimeError,
    ResolutionError,
    ServiceNotRegisteredError,
)

__all__ = [
    "AsyncServiceError",
    "Param",
    "chain_error",
    "extend_error",
    "find_problems",
    "local_names",
    "not_registered",
    "read_params",
    "read_return",
    "resolution_error",
    "service_name",
    "unresolvable",
]


_E = TypeVar("_E", bound=DependencyError)

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a constructor or factory, as the container sees it.

    Attributes:
        name: The parameter's name.
        positional_only: Whether it must be passed positionally.
        keyword_only: Whether it must be passed by keyword.
        key: The service type its hint names (``X`` for ``X``, ``X | None``,
            ``Optional[X]`` and ``Annotated[X, ...]``), or ``None`` when there is none.
        default: Its default value, or :data:`MISSING`.
        problem: Why ``key`` is ``None`` (no hint, a hint that cannot be evaluated, an
            ambiguous union), or ``None``.
        undefined: The name a hint uses that is neither defined nor registered, or ``None``.
    """

    name: str
    positional_only: bool
    keyword_only: bool
    key: Any
    default: Any
    problem: str | None
    undefined: str | None = None


class AsyncServiceError(TypeError):
    """A service that needs ``await`` was asked for through a sync ``resolve``.

    A ``TypeError`` for the caller; it carries ``chain`` and ``reason`` like the
    :class:`DependencyError` family, so its message names the whole chain.
    """

    def __init__(self, message: str, *, chain: tuple[str, ...], reason: str) -> None:
        super().__init__(message)
        self.chain = chain
        self.reason = reason


def service_name(key: Any) -> str:
    """Return the short name used for ``key`` in chains: a class's ``__name__``, else its repr."""
    if isinstance(key, type):
        return key.__name__
    origin = typing.get_origin(key)
    if isinstance(origin, type):
        # ``list[Plugin]``, ``Sequence[Plugin]``: short names inside too.
        return f"{origin.__name__}[{', '.join(service_name(arg) for arg in typing.get_args(key))}]"
    return repr(key)


def chain_error(cls: type[_E], chain: tuple[str, ...], reason: str, **context: Any) -> _E:
    """Return ``cls`` with the message ``A -> B -> C<reason>`` and ``chain`` set.

    ``reason`` is kept in the context, so :func:`extend_error` can rebuild the message
    with a longer chain.
    """
    return cls(" -> ".join(chain) + reason, chain=chain, reason=reason, **context)


def not_registered(name: str) -> str:
    """Return the reason of a :class:`ServiceNotRegisteredError` for ``name``, with the fix.

    Example:
        >>> "Config" + not_registered("Config")
        'Config (not registered); register it: container.register(Config, ...)'
    """
    return f" (not registered); register it: container.register({name}, ...)"


def extend_error(
    error: DependencyError | AsyncServiceError, name: str
) -> DependencyError | AsyncServiceError:
    """Return a copy of ``error`` whose chain starts with ``name``, keeping its cause."""
    chain = (name, *(error.chain or ()))
    if isinstance(error, AsyncServiceError):
        message = " -> ".join(chain) + error.reason
        extended: DependencyError | AsyncServiceError = AsyncServiceError(
            message, chain=chain, reason=error.reason
        )
    else:
        context = dict(error.context)
        context.pop("chain", None)
        reason = str(context.pop("reason", f": {error.message}"))
        extended = chain_error(type(error), chain, reason, code=error.code, **context)
    extended.__cause__ = error.__cause__
    for note in getattr(error, "__notes__", ()):
        extended.add_note(note)
    return extended


def resolution_error(name: str, target: Any, error: BaseException) -> ResolutionError:
    """Return the error for a constructor or factory of ``name`` that raised ``error``."""
    what = "constructor" if isinstance(target, type) else "factory"
    reason = f": {what} {_callable_name(target)} raised {type(error).__name__}: {error}"
    return chain_error(ResolutionError, (name,), reason)


def _callable_name(target: Any) -> str:
    while isinstance(target, functools.partial):
        target = target.func
    return str(getattr(target, "__qualname__", None) or repr(target))


def local_names(keys: Iterable[Any]) -> dict[str, Any]:
    """Map each registered class's ``__name__`` to it, leaving out names used twice.

    Hints of classes defined inside a function (tests do that) name their neighbours,
    which the module's globals do not hold; the registered classes stand in for them.
    """
    names: dict[str, Any] = {}
    seen_twice: set[str] = set()
    for key in keys:
        if isinstance(key, type):
            name = key.__name__
            if name in names and names[name] is not key:
                seen_twice.add(name)
            names[name] = key
    for name in seen_twice:
        del names[name]
    return names


def _evaluate(annotation: Any, globalns: dict[str, Any], localns: Mapping[str, Any]) -> Any:
    """Evaluate one hint in its module's globals first, then with the registered names too."""
    try:
        return _hint(annotation, globalns, None)
    except NameError:
        if not localns:
            raise
        return _hint(annotation, globalns, dict(localns))


def _hint(annotation: Any, globalns: dict[str, Any], localns: dict[str, Any] | None) -> Any:
    """Evaluate a hint as :func:`typing.get_type_hints` does (``Annotated`` stripped)."""
    if isinstance(annotation, str):
        annotation = evaluate(annotation, globalns, localns or {})
    # get_type_hints also evaluates forward references nested in the hint (``list["X"]``),
    # turns ``None`` into ``NoneType`` and strips ``Annotated``.
    holder = types.SimpleNamespace(__annotations__={"hint": annotation})
    return typing.get_type_hints(holder, globalns, localns)["hint"]


def _key_of(hint: Any) -> tuple[Any, str | None]:
    """Return the service type an evaluated hint names, or ``None`` and why not."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            return None, f"the hint {hint!r} names several types"
        hint = members[0]
    return hint, None


def read_params(target: Callable[..., Any], localns: Mapping[str, Any]) -> tuple[Param, ...]:
    """Read the injectable parameters of a class or factory.

    ``*args`` and ``**kwargs`` are skipped; a hint that cannot be evaluated is recorded as
    a problem, so a parameter with a default still works.

    Args:
        target: The class or factory.
        localns: Extra names for evaluating string hints (see :func:`local_names`).

    Raises:
        DependencyError: If the target has no signature that Python can read.
    """
    try:
        signature = inspect.signature(target)
    except ValueError:
        # Built-in classes such as ``dict`` have no signature; they are called bare.
        return ()
    except TypeError as error:
        raise chain_error(
            DependencyError, (service_name(target),), f": cannot read its signature: {error}"
        ) from error
    globalns: dict[str, Any] | None = None
    params: list[Param] = []
    for parameter in signature.parameters.values():
        if parameter.kind in _VARIADIC:
            continue
        annotation = parameter.annotation
        key: Any = None
        problem: str | None = "it has no type hint"
        undefined: str | None = None
        if annotation is not inspect.Parameter.empty:
            if globalns is None:
                globalns = globals_of(target)
            try:
                key, problem = _key_of(_evaluate(annotation, globalns, localns))
            except NameError as error:
                # Neither defined where the hint was written nor registered.
                undefined = error.name or str(annotation)
                problem = f"its hint {annotation!r} names {undefined!r}, which is not defined"
            except Exception as error:  # noqa: BLE001 - any failure to evaluate a hint is reported, not raised
                problem = f"its hint {annotation!r} cannot be evaluated ({error})"
        default = parameter.default
        params.append(
            Param(
                name=parameter.name,
                positional_only=parameter.kind is _POSITIONAL_ONLY,
                keyword_only=parameter.kind is inspect.Parameter.KEYWORD_ONLY,
                key=key,
                default=MISSING if default is inspect.Parameter.empty else default,
                problem=problem,
                undefined=undefined,
            )
        )
    return tuple(params)


def read_return(target: Callable[..., Any], localns: Mapping[str, Any]) -> Any:
    """Return the evaluated return hint of a factory, or ``None`` when it has none usable.

    Like parameter hints, a hint that cannot be read or evaluated is not an error here: the
    caller then knows nothing about the result.
    """
    try:
        annotation = inspect.signature(target).return_annotation
    except (TypeError, ValueError):
        return None
    if annotation is inspect.Signature.empty:
        return None
    try:
        return _evaluate(annotation, globals_of(target), localns)
    except Exception:  # noqa: BLE001 - an unusable hint only means "unknown"
        return None


def unresolvable(param: Param, chain: tuple[str, ...], *, suggest: bool = True) -> DependencyError:
    """Return the error for a parameter of ``chain[-1]`` that cannot be injected.

    With ``suggest``, an unregistered service's message ends with the ``register(...)`` call
    that fixes it; :meth:`DIContainer.validate` lists its problems without it.
    """
    if param.key is not None or param.undefined is not None:
        leaf = service_name(param.key) if param.undefined is None else param.undefined
        reason = not_registered(leaf) if suggest else " (not registered)"
        return chain_error(ServiceNotRegisteredError, (*chain, leaf), reason, parameter=param.name)
    return chain_error(
        DependencyError,
        chain,
        f": parameter {param.name!r} cannot be injected: {param.problem}, and it has no default",
        parameter=param.name,
    )


def _registered(key: Any, graph: Mapping[Any, object]) -> bool:
    try:
        return key in graph
    except TypeError:  # an unhashable hint cannot be a key
        return False


Graph = Mapping[Any, tuple[str, "tuple[Param, ...] | DependencyError"]]
"""Each registered key: its lifetime's value and its parameters (or why they are unreadable)."""


def find_problems(graph: Graph) -> list[DependencyError]:
    """Return every problem of a registration graph, each reported once.

    Problems: a parameter that cannot be injected, a cycle, a singleton that depends on a
    scoped service directly or through transients.
    """
    problems: list[DependencyError] = []
    edges: dict[Any, list[Any]] = {}
    for key, (_, params) in graph.items():
        edges[key] = []
        if isinstance(params, DependencyError):
            problems.append(params)
            continue
        for param in params:
            if param.key is not None and _registered(param.key, graph):
                edges[key].append(param.key)
            elif param.default is MISSING:
                problems.append(unresolvable(param, (service_name(key),), suggest=False))
    problems.extend(_cycles(edges))
    problems.extend(_captives(graph, edges))
    return problems


def _cycles(edges: Mapping[Any, list[Any]]) -> list[DependencyError]:
    """Return one error per cycle found by a depth-first search (each cycle once)."""
    order = {key: index for index, key in enumerate(edges)}
    done: set[Any] = set()
    seen: set[tuple[Any, ...]] = set()
    found: list[DependencyError] = []

    def visit(key: Any, stack: list[Any]) -> None:
        stack.append(key)
        for target in edges[key]:
            if target in stack:
                cycle = stack[stack.index(target) :]
                start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                canonical = (*cycle[start:], *cycle[:start])
                if canonical not in seen:
                    seen.add(canonical)
                    names = tuple(service_name(item) for item in (*canonical, canonical[0]))
                    found.append(
                        chain_error(CircularDependencyError, names, " (circular dependency)")
                    )
            elif target not in done:
                visit(target, stack)
        stack.pop()
        done.add(key)

    for key in edges:
        if key not in done:
            visit(key, [])
    return found


def _captives(graph: Graph, edges: Mapping[Any, list[Any]]) -> list[DependencyError]:
    """Return an error for each singleton that reaches a scoped service through transients."""
    found: list[DependencyError] = []
    for key, (lifetime, _) in graph.items():
        if lifetime != "singleton":
            continue
        path = _path_to_scoped(key, graph, edges, set())
        if path is not None:
            names = tuple(service_name(item) for item in path)
            found.append(
                chain_error(
                    LifetimeError,
                    names,
                    f": singleton {names[0]} cannot depend on scoped {names[-1]}",
                )
            )
    return found


def _path_to_scoped(
    key: Any, graph: Graph, edges: Mapping[Any, list[Any]], visited: set[Any]
) -> tuple[Any, ...] | None:
    visited.add(key)
    for target in edges[key]:
        lifetime = graph[target][0]
        if lifetime == "scoped":
            return (key, target)
        if lifetime == "transient" and target not in visited:
            rest = _path_to_scoped(target, graph, edges, visited)
            if rest is not None:
                return (key, *rest)
    return None
