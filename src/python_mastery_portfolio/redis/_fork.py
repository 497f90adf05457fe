"""Re-making an object's process-local state in a child made by ``os.fork()``.

A fork copies only the thread that called it: a ``threading.Lock`` another thread held at
that moment stays held in the child forever, and its first use there hangs. Objects that
own such locks (or connections, or threads) register a function here; every forked
child calls it before anything else runs, for as long as the object lives (a weak
reference: registering keeps nothing alive).
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ForkSafeLock", "after_fork_in_child"]

T = TypeVar("T")

_CALLBACKS: dict[int, tuple[weakref.ref[Any], Callable[[Any], None]]] = {}
_KEYS = itertools.count()


def after_fork_in_child(owner: T, reinit: Callable[[T], None]) -> None:
    """Call ``reinit(owner)`` in every child forked while ``owner`` lives.

    ``owner`` is held weakly; its entry goes when it is collected. (A plain weak reference
    and a function, not a ``WeakMethod``: those report errors when they die before their
    object, as every entry does at interpreter exit.)
    """
    key = next(_KEYS)
    callbacks = _CALLBACKS  # bound now: at interpreter exit the global may be gone first
    _CALLBACKS[key] = (weakref.ref(owner, lambda _: callbacks.pop(key, None)), reinit)


def _run_in_child() -> None:  # pragma: no cover - runs in forked children (the fork tests)
    for owner_ref, reinit in list(_CALLBACKS.values()):
        owner = owner_ref()
        if owner is not None:
            reinit(owner)


os.register_at_fork(after_in_child=_run_in_child)


class ForkSafeLock:
    """A ``threading.Lock`` made anew in every child forked while it lives.

    The stores guard their local counters with one: a parent's thread holding it at the fork
    cannot hang the child. ``with lock:``, ``acquire()`` and ``release()`` as a plain lock.

    Example:
        >>> lock = ForkSafeLock()
        >>> with lock:
        ...     lock.acquire(blocking=False)
        False
        >>> lock.acquire(), lock.release()
        (True, None)
    """

    __slots__ = ("__weakref__", "_lock", "acquire", "release")

    def __init__(self) -> None:
        self._renew()
        after_fork_in_child(self, ForkSafeLock._renew)

    def _renew(self) -> None:
        lock = threading.Lock()
        self._lock = lock
        # Bound once, so acquire() and release() cost what a plain lock's do.
        self.acquire: Callable[..., bool] = lock.acquire
        self.release: Callable[[], None] = lock.release

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
