"""The one code-generation helper: compile generated source so that tracebacks can show it.

Our hot-path wrappers (the cache wrappers, the type-checking wrappers) are generated from the
decorated function's own signature, the way :mod:`dataclasses` builds ``__init__``: the
interpreter then binds arguments at C speed. Each generated "file" is registered in
:mod:`linecache` under a unique name, so a traceback through a wrapper prints its source.
"""

from __future__ import annotations

import itertools
import linecache
from typing import Any

__all__ = ["define"]

_serial = itertools.count(1)  # tells apart the generated "files" of same-named functions


def define(source: str, what: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute generated ``source`` in ``namespace`` and return the namespace.

    Args:
        source: Module-level source built only from identifiers and our own names.
        what: Describes the source in the generated file name, e.g. ``"cache wrapper of f"``.
        namespace: The globals the source runs in; its definitions land there.

    Example:
        >>> ns = define("def double(x): return 2 * x", "example", {})
        >>> ns["double"](21), ns["double"].__code__.co_filename.startswith("<example ")
        (42, True)
    """
    filename = f"<{what} {next(_serial)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - callers build the source from identifiers only
    return namespace
