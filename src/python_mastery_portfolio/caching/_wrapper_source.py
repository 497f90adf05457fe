"""Generate the cache wrappers' source from the decorated function's own signature.

A wrapper with exactly the function's parameters lets the interpreter bind the arguments
(positional or keyword, defaults applied) at C speed, so ``f(1)``, ``f(a=1)`` and -- where
``a`` defaults to 1 -- ``f()`` arrive with the same values and build the same key without
``inspect.Signature.bind`` on any call. The key of a one-parameter function is the argument
itself, otherwise the tuple of the arguments in signature order (``*args`` as its tuple,
``**kwargs`` as sorted items), followed by their types when ``typed``.

The generated hit path does one dict lookup, one clock reading (none without a ttl), one
``move_to_end`` and one counter increment, all C calls, and holds no lock: each of those is
atomic under the GIL, the entry is unpacked in one step, and a concurrent removal kills the
entry before it goes (see ``_lru``). A missing key reads as a dead entry rather than ``None``,
which spares the hit path a test. Measured on CPython 3.11, this path is about 0.3x the cost
of a ``cachetools.cached(TTLCache)`` hit.

A ``def`` wrapper also runs the uncontended miss itself: it registers the computation
without a lock (``dict.setdefault`` of a new token, atomic under the GIL), calls the
function directly with its own parameters, and takes the cache's lock once, to store the
value. Joining a computation under way, re-entry, and a value that landed since the lookup
are handed to ``miss`` and ``adopt`` (see ``_flight``); ``async def`` wrappers hand every
miss to ``miss``.

All of the above is the path over our own :class:`LRUCache`, whose entry layout it reads
(through :meth:`LRUCache.operations`). Over any other :class:`CacheStore` the wrapper only
builds and checks the key, and hands the call to ``fetch`` (``Memo.fetch``/``Memo.afetch``).
"""

from __future__ import annotations

import functools
import inspect
import math
from builtins import enumerate, hash, map, repr, sorted, tuple, type  # noqa: A004, UP029 - a builtin patched with its cached self must not serve its own cache
from collections.abc import Callable
from typing import Any

from python_mastery_portfolio._internal.codegen import define

__all__ = ["Switch", "compile_wrapper", "unhashable_error"]

Switch = Callable[[Callable[[], object], Callable[[], object]], None]
"""Replace a generated wrapper's hit and miss counters (see :func:`compile_wrapper`)."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _kw_key(kwargs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    # Sorting compares the (distinct) names only, so unhashable values fail at the lookup,
    # where the error names them.
    return tuple(sorted(kwargs.items()))


def _kw_types(kwargs: dict[str, Any]) -> tuple[type[Any], ...]:
    return tuple(type(value) for _, value in sorted(kwargs.items()))  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]  # type() of an Any


def _types(values: tuple[Any, ...]) -> tuple[type, ...]:
    return tuple(map(type, values))


def unhashable_error(
    qualname: str, error: TypeError, labelled: tuple[tuple[str, Any], ...]
) -> TypeError:
    """Build the ``TypeError`` naming the first unhashable argument in ``labelled``.

    ``labelled`` pairs each argument's name with its value; ``*name`` marks a ``*args``
    tuple and ``**name`` a ``**kwargs`` dict, whose items are checked one by one.
    """
    for label, value in labelled:
        if label.startswith("**"):
            items = [(repr(name), item) for name, item in value.items()]
        elif label.startswith("*"):
            items = [(f"{label}[{index}]", item) for index, item in enumerate(value)]
        else:
            items = [(repr(label), value)]
        for name, item in items:
            try:
                hash(item)
            except TypeError:
                new = TypeError(
                    f"{qualname}: argument {name} is unhashable "
                    f"({type(item).__name__}) and cannot be part of a cache key"
                )
                new.__cause__ = error
                return new
    if not labelled:
        new = TypeError(f"{qualname}: the cache key is unhashable ({error})")
        new.__cause__ = error
        return new
    return error


def _signature(params: list[inspect.Parameter], defaults: dict[str, str]) -> str:
    """Write ``params`` as source, naming each default after ``defaults[name]``."""
    parts: list[str] = []
    star = False
    for index, param in enumerate(params):
        if param.kind is param.VAR_POSITIONAL:
            piece, star = f"*{param.name}", True
        elif param.kind is param.VAR_KEYWORD:
            piece = f"**{param.name}"
        else:
            if param.kind is param.KEYWORD_ONLY and not star:
                parts.append("*")
                star = True
            piece = param.name
            if param.default is not param.empty:
                piece += f"={defaults[param.name]}"
        parts.append(piece)
        following = params[index + 1].kind if index + 1 < len(params) else None
        if param.kind is param.POSITIONAL_ONLY and following is not param.POSITIONAL_ONLY:
            parts.append("/")
    return ", ".join(parts)


def _call(params: list[inspect.Parameter]) -> tuple[str, str]:
    """Return the source of the positional tuple and keyword dict that re-pass ``params``."""
    positional: list[str] = []
    keywords: list[str] = []
    for param in params:
        if param.kind in _POSITIONAL:
            positional.append(param.name)
        elif param.kind is param.VAR_POSITIONAL:
            positional.append(f"*{param.name}")
        elif param.kind is param.KEYWORD_ONLY:
            keywords.append(f"{param.name!r}: {param.name}")
        else:
            keywords.append(f"**{param.name}")
    args = f"({', '.join(positional)},)" if positional else "()"
    return args, "{" + ", ".join(keywords) + "}"


def _forward(params: list[inspect.Parameter]) -> str:
    """Return the source of the arguments that pass ``params`` on to the function."""
    parts: list[str] = []
    for param in params:
        if param.kind in _POSITIONAL:
            parts.append(param.name)
        elif param.kind is param.VAR_POSITIONAL:
            parts.append(f"*{param.name}")
        elif param.kind is param.KEYWORD_ONLY:
            parts.append(f"{param.name}={param.name}")
        else:
            parts.append(f"**{param.name}")
    return ", ".join(parts)


def _key(params: list[inspect.Parameter], p: str, *, typed: bool, custom: bool) -> str:
    """Return the source of the key expression over ``params``."""
    if custom:
        args, kwargs = _call(params)
        return f"{p}keyfn(*{args}, **{kwargs})"
    parts: list[str] = []
    types: list[str] = []
    for param in params:
        if param.kind is param.VAR_KEYWORD:
            parts.append(f"{p}kw_key({param.name})")
            types.append(f"{p}kw_types({param.name})")
        elif param.kind is param.VAR_POSITIONAL:
            parts.append(param.name)
            types.append(f"{p}types({param.name})")
        else:
            parts.append(param.name)
            types.append(f"{p}type({param.name})")
    if typed:
        parts += types
    elif len(parts) == 1:
        return parts[0]
    return f"({', '.join(parts)},)" if parts else "()"


def _labelled(params: list[inspect.Parameter]) -> str:
    """Return the source of the ``(name, value)`` pairs that ``unhashable_error`` checks."""
    pairs: list[str] = []
    for param in params:
        label = param.name
        if param.kind is param.VAR_POSITIONAL:
            label = "*" + label
        elif param.kind is param.VAR_KEYWORD:
            label = "**" + label
        pairs.append(f"({label!r}, {param.name})")
    return f"({', '.join(pairs)},)" if pairs else "()"


def _switch(wrapper: Callable[..., Any], p: str) -> Switch:
    """Return the :data:`Switch` of a generated wrapper whose bindings start with ``p``."""
    code = wrapper.__code__
    cells = dict(zip(code.co_freevars, wrapper.__closure__ or (), strict=True))
    hit_cell = cells[f"{p}hit"]
    miss_cell = cells.get(f"{p}count_miss")  # async wrappers hand every miss on

    def switch(hit: Callable[[], object], count_miss: Callable[[], object]) -> None:
        hit_cell.cell_contents = hit
        if miss_cell is not None:
            miss_cell.cell_contents = count_miss

    return switch


def compile_wrapper(
    params: list[inspect.Parameter],
    *,
    qualname: str,
    method: bool,
    typed: bool,
    custom_key: bool,
    is_async: bool,
    expires: bool,
    fast: bool = True,
) -> Callable[..., tuple[Callable[..., Any], Callable[..., Any], Switch | None]]:
    """Compile, once per decorated function, a maker of ``(wrapper, keyof)`` pairs.

    Without ``fast`` (a store other than our :class:`LRUCache`), the maker takes ``fetch``
    (``Memo.fetch`` or ``Memo.afetch``) and ``keyfn``. With it, the maker takes the operations
    of one cache by keyword, from :meth:`LRUCache.operations` -- ``get`` and ``move`` (the
    store's ``get`` and ``move_to_end``), ``hit`` (count a hit), ``now`` (read the clock),
    ``never`` (the expiry of an entry without ttl), ``miss(key, args, kwargs)`` and ``keyfn``
    (the user's key function or ``None``); for the inlined miss, ``ident`` (the thread's
    ident), ``register`` (the registry's ``setdefault``), ``count_miss``, ``acquire`` and
    ``release`` (the cache's lock), ``flights`` (the registry), ``data`` (the store's dict),
    ``insert`` (``put``), ``publish``, ``land`` and ``adopt`` (of ``Memo``) and
    ``func``; with ``method``, ``owner`` (a weak reference to the instance whose cache this
    is) and ``rebind`` (the descriptor's ``__get__``, for a call on any other instance) --
    and returns the wrapper, ``keyof``, which maps the same arguments to their key (for
    ``cache_invalidate``), and ``switch``.

    ``switch(hit, count_miss)`` replaces the wrapper's ``hit`` and ``count_miss`` (their
    closure cells; an ``async def`` wrapper has no ``count_miss``): the instrumentation
    hook turns reporting on by swapping in counters that also report, so that the wrapper
    pays nothing for it while it is off. ``None`` without ``fast``.

    Args:
        params: The decorated function's parameters.
        qualname: Used in error messages and in the generated file name.
        method: Leave the first parameter (the instance) out of the key.
        typed: Add the arguments' types to the key.
        custom_key: Build the key with ``keyfn`` instead.
        is_async: Generate ``async def`` awaiting ``miss``.
        expires: Entries carry a ttl: check the clock on a hit.
        fast: Generate the lock-free hit path (and inlined miss) over an :class:`LRUCache`.
    """
    names = [param.name for param in params]
    p = "_pmp_"
    while any(name.startswith(p) for name in names):
        p += "_"
    defaults = {param.name: f"{p}d_{param.name}" for param in params}
    key_params = params[1:] if method else params
    key = _key(key_params, p, typed=typed, custom=custom_key)
    args, kwargs = _call(params)
    labelled = "()" if custom_key else _labelled(key_params)
    live = f"{p}now() < {p}expiry" if expires else f"{p}expiry is {p}never"
    def_ = "async def" if is_async else "def"
    # A one-parameter key is the argument itself: no local to store it in.
    k, bind_key = (key, "") if key.isidentifier() else (f"{p}key", f"\n        {p}key = {key}")
    bindings = ["get", "move", "hit", "now", "never", "miss", "keyfn", "unhashable", "absent"]
    # The uncontended miss, inlined into ``def`` wrappers (see ``Memo`` for the others).
    bindings += ["ident", "register", "count_miss", "acquire", "release", "flights", "data"]
    bindings += ["insert", "publish", "land", "adopt", "func"]
    # The ones ``make`` fixes; builtins too, since a parameter may be called ``hash``.
    bindings += ["type", "types", "kw_key", "kw_types", "hash", "TypeError", "KeyError"]
    bindings += ["BaseException"]
    factory_params = [f"{p}{name}" for name in bindings] + [
        defaults[param.name] for param in params if param.default is not param.empty
    ]
    if is_async:
        tail = f"return await {p}miss({k}, {args}, {kwargs})"
    else:
        # Registered without the lock (``setdefault`` is atomic and a new tuple unique), the
        # cache's lock taken once, to store. A value stored since the lookup is found after
        # registering, as landing stores before it leaves the registry.
        tail = f"""{p}me = ({p}ident(),)
        if {p}register({k}, {p}me) is not {p}me:
            return {p}miss({k}, {args}, {kwargs})  # to join, re-enter, or after a landing
        try:
            if {k} in {p}data:  # landed since the lookup, or expired
                {p}me = None
            else:
                {p}count_miss()
                {p}value = {p}func({_forward(params)})
        except {p}BaseException as {p}error:
            {p}land({k}, None, {p}error)
            raise
        if {p}me is None:
            return {p}adopt({k}, {args}, {kwargs})
        {p}acquire()
        try:
            {p}flight = {p}flights[{k}]
            if {p}flight is {p}me:  # nobody joined or invalidated it
                try:
                    {p}insert({k}, {p}value)
                finally:
                    del {p}flights[{k}]
                return {p}value
            {p}waiter = {p}publish({p}flight, {k}, {p}value, None)
        finally:
            {p}release()
        if {p}waiter is not None:
            {p}waiter.release()
        return {p}value"""
    if not fast:
        bindings = ["fetch", "keyfn", "unhashable", "absent"]
        bindings += ["type", "types", "kw_key", "kw_types", "hash", "TypeError", "KeyError"]
        bindings += ["BaseException"]
        factory_params = [f"{p}{name}" for name in bindings] + [
            defaults[param.name] for param in params if param.default is not param.empty
        ]
        wait = "await " if is_async else ""
        # Hashed first: the key goes into the flights' registry (a dict) whatever the store.
        body = f"""{bind_key}
        try:
            {p}hash({k})
        except {p}TypeError as {p}error:
            raise {p}unhashable({p}error, {labelled})  # it sets __cause__
        return {wait}{p}fetch({k}, {args}, {kwargs})"""
    else:
        guard = ""
        if method:
            # A bound method rebuilt over another instance (copy.deepcopy makes
            # MethodType(this wrapper, the copy)) must use that instance's own cache.
            wait = "await " if is_async else ""
            guard = f"""
        if {p}owner() is not {names[0]}:
            return {wait}{p}rebind({names[0]})({_forward(params[1:])})"""
            bindings += ["owner", "rebind"]
            factory_params += [f"{p}owner", f"{p}rebind"]
        body = f"""{guard}{bind_key}
        try:
            {p}value, {p}expiry, {p}stored = {p}get({k}, {p}absent)
            if {live}:
                {p}move({k})  # a KeyError here: evicted since the lookup, so a miss
                {p}hit()
                return {p}value
        except {p}KeyError:
            pass
        except {p}TypeError as {p}error:
            raise {p}unhashable({p}error, {labelled})  # it sets __cause__
        {tail}"""
    source = f"""\
def {p}factory(*, {", ".join(factory_params)}):
    {def_} wrapper({_signature(params, defaults)}):{body}

    def keyof({_signature(key_params, defaults)}):
        {p}key = {key}
        try:
            {p}hash({p}key)
        except {p}TypeError as {p}error:
            raise {p}unhashable({p}error, {labelled})  # it sets __cause__
        return {p}key

    return wrapper, keyof
"""
    # Registered in linecache so that tracebacks through the wrapper show its source.
    factory = define(source, f"cache wrapper of {qualname}", {})[f"{p}factory"]
    fixed = {
        f"{p}unhashable": functools.partial(unhashable_error, qualname),
        f"{p}type": type,
        f"{p}types": _types,
        f"{p}kw_key": _kw_key,
        f"{p}kw_types": _kw_types,
        f"{p}hash": hash,
        f"{p}TypeError": TypeError,
        f"{p}KeyError": KeyError,
        f"{p}BaseException": BaseException,
        f"{p}absent": (None, -math.inf, None),  # what a missing key reads as: a dead entry
    }
    fixed.update(
        (defaults[param.name], param.default)
        for param in params
        if param.default is not param.empty
    )

    def make(**bindings: Any) -> tuple[Callable[..., Any], Callable[..., Any], Switch | None]:
        wrapper, keyof = factory(**fixed, **{p + name: value for name, value in bindings.items()})
        return wrapper, keyof, _switch(wrapper, p) if fast else None

    return make
