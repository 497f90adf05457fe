"""Re-making an object's process-local state in a child made by ``os.fork()``.

A fork copies only the thread that called it: a ``threading.Lock`` another thread held at
that moment stays held in the child forever, and its first use there hangs. Objects that
own such locks (or connections, or threads) register a bound method here; every forked
child calls it before anything else runs, for as long as the object lives (a weak
reference: registering keeps nothing alive).
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Callable

__all__ = ["after_fork_in_child"]

_CALLBACKS: dict[int, weakref.WeakMethod[Callable[[], None]]] = {}
_KEYS = itertools.count()


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in every child forked while its object lives."""
    key = next(_KEYS)
    _CALLBACKS[key] = weakref.WeakMethod(method, lambda _: _CALLBACKS.pop(key, None))


def _run_in_child() -> None:  # pragma: no cover - runs in forked children (the fork tests)
    for method in list(_CALLBACKS.values()):
        bound = method()
        if bound is not None:
            bound()


os.register_at_fork(after_in_child=_run_in_child)
