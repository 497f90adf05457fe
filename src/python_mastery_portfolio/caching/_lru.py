"""The thread-safe LRU cache with TTL behind :class:`caching.LRUCache` and the decorators.

Layout of the store, chosen for speed and for memory no larger than ``cachetools.TTLCache``:

* ``_data`` is an :class:`~collections.OrderedDict` (C-implemented ``move_to_end`` and
  ``popitem``) mapping each key to its *entry*, a three-item list ``[value, expiry, key]``,
  least recently used first.
* An entry that expires sits in an expiry index: ``_queue`` (a deque) for entries stored with
  the cache's own ``ttl`` -- the clock is monotonic and the ttl fixed, so appending keeps the
  deque in expiry order -- or ``_heap`` for entries stored with a ``ttl`` of their own.
* Removing an entry *kills* it (value dropped, expiry set to ``-inf``) instead of searching the
  index for it; dead slots are skipped when they reach the front, and the index is compacted
  when it holds more than twice as many slots as the cache holds entries.

Complexity: ``get``, ``set``, ``delete`` and ``in`` are O(1) (a ``set`` with a per-entry
``ttl`` is O(log n)); dropping expired entries (when full, and in ``len()``/``stats()``) costs
O(1) per entry dropped, amortised, because each index slot is popped at most once.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
import threading
from builtins import int, len, next, range, repr, type  # noqa: A004, UP029 - a builtin patched with its cached self must not serve its own cache
from collections import OrderedDict, deque
from collections.abc import Callable, ItemsView, Iterator, MutableMapping, ValuesView
from typing import Any, NamedTuple, TypeVar, overload

from python_mastery_portfolio._internal.checks import require_at_least, require_positive
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching._store import CacheStats
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.instrumentation import HOOKS

__all__ = ["NEVER", "LRUCache", "LRUOperations", "counter_value", "validate_options"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

NEVER = math.inf
"""The expiry of an entry without TTL; compared by identity on the hot paths."""

_DEAD = -math.inf  # the expiry of a removed entry: every clock reading is past it
_COMPACT_SLACK = 32  # index slots tolerated beyond twice the number of entries


def counter_value(counter: itertools.count[int]) -> int:
    """Return the next value ``counter`` would produce, without consuming it.

    Hits and misses are counted with ``itertools.count.__next__``, a single C call that the
    GIL makes atomic, so that lock-free paths still count exactly; ``repr`` is the one public
    way to read it back (``count(5)``).
    """
    return int(repr(counter)[6:-1])


def validate_options(maxsize: int | None, ttl: float | None, clock: Clock) -> float | None:
    """Check the options shared by :class:`LRUCache` and the decorators; return the ttl.

    ``maxsize`` is ``None`` (unbounded), ``0`` (hold nothing) or a positive bound.

    Raises:
        TypeError: If ``maxsize`` is not an int or None, ``ttl`` not a number or ``clock``
            not a Clock.
        ValueError: If ``maxsize < 0`` or ``ttl <= 0``.
    """
    if maxsize is not None and (isinstance(maxsize, bool) or not isinstance(maxsize, int)):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"maxsize must be an int or None, got {maxsize!r}")
    if maxsize is not None:
        require_at_least("maxsize", maxsize, 0)
    if ttl is not None:
        require_positive("ttl", ttl)
    if not isinstance(clock, Clock):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"clock must provide now(), sleep() and asleep(), got {clock!r}")
    return None if ttl == math.inf else ttl


class LRUOperations(NamedTuple):
    """The bound operations of one :class:`LRUCache` that the caching decorators run.

    What :meth:`LRUCache.operations` returns: the decorators' generated wrapper reads
    ``data`` without the lock on a hit (see ``_wrapper_source``), and single-flight runs the
    ``lock held`` operations under ``lock``, together with its own bookkeeping. The layout of
    the entries in ``data`` is private to :mod:`._lru` and may change with it.
    """

    lock: threading.Lock
    """The cache's lock; the operations marked "lock held" expect their caller to hold it."""
    data: OrderedDict[Any, list[Any]]
    """Key -> entry ``[value, expiry, key]``, least recently used first; read it lock-free."""
    now: Callable[[], float]
    """Read the cache's clock."""
    hit: Callable[[], object]
    """Count a hit (atomic, lock-free)."""
    miss: Callable[[], object]
    """Count a miss (atomic, lock-free)."""
    lookup: Callable[[Any, Any], Any]
    """``lookup(key, default)``: the live value, refreshed, or ``default``; lock held."""
    put: Callable[[Any, Any], None]
    """``put(key, value)``: store with the cache's own ttl; lock held."""
    delete: Callable[[Any], bool]
    """``delete(key)``: remove; whether a live entry went; lock held."""
    clear: Callable[[], None]
    """Remove every entry; lock held."""


class LRUCache(MutableMapping[K, V]):
    """Map keys to values, evicting the least recently used and dropping expired entries.

    A read refreshes an entry's recency but not its time to live. With the clock at ``t``,
    an entry stored with expiry ``e`` is a hit while ``t < e`` and a miss from ``t >= e`` on;
    expired entries count as misses, leave ``len()`` and are never returned. When the cache is
    full, expired entries are dropped before a live one is evicted. ``None``, ``0``, ``""``
    and ``False`` are values like any other. Every method is safe to call from many threads.
    Operations are O(1), amortised (O(log n) for a ``set`` with its own ``ttl``); see the
    module's docstring for how expired entries are found.

    Args:
        maxsize: The most entries held at once: ``None`` for no bound, ``0`` to hold
            nothing (every ``set`` is dropped, every lookup a miss).
        ttl: Seconds an entry lives after it is set, or ``None`` for no expiry.
        clock: The time source for ``ttl``.
        name: The ``cache`` attribute of its instrumentation reports (evictions,
            expirations); default the class name. The caching decorators name the stores
            they create after the decorated function.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``maxsize < 0`` or ``ttl <= 0``.

    It implements :class:`~python_mastery_portfolio.caching.CacheStore`, and the caching
    decorators run their fastest path on it. It is a
    :class:`~collections.abc.MutableMapping` too, as a ``cachetools`` cache is: ``c[k]``
    (a counted lookup, like :meth:`get`; ``KeyError`` if absent or expired), ``c[k] = v``,
    ``del c[k]``, :meth:`pop`, :meth:`setdefault`, ``update``, and iteration over the live
    keys, least recently used first (a snapshot: safe while other threads use the cache).
    ``in``, iteration, ``items()`` and ``values()`` count nothing and refresh no entry.
    :meth:`expire` drops the expired entries now. Caches compare by identity.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> users: LRUCache[str, int] = LRUCache(maxsize=2, ttl=60, clock=clock)
        >>> users.set("user:1", 42)
        >>> users.get("user:1")
        42
        >>> clock.advance(60)
        >>> users.get("user:1", "gone")
        'gone'
        >>> users.stats()["hit_rate"]
        0.5

        As a mapping:

        >>> users["user:2"] = 7
        >>> users.update({"user:3": 8})
        >>> list(users), users["user:3"], users.pop("user:2"), "user:2" in users
        (['user:2', 'user:3'], 8, 7, False)
    """

    __hash__ = object.__hash__  # pyright: ignore[reportAssignmentType]  # a store is an identity, not a value (Mapping unsets it)

    __slots__ = (
        "__weakref__",
        "_data",
        "_evictions",
        "_expirations",
        "_heap",
        "_hit",
        "_hits",
        "_labels",
        "_lock",
        "_maxsize",
        "_maxsize_given",
        "_miss",
        "_misses",
        "_now",
        "_queue",
        "_seq",
        "_ttl",
    )

    def __init__(
        self,
        maxsize: int | None = 128,
        ttl: float | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        name: str | None = None,
    ) -> None:
        self._ttl = validate_options(maxsize, ttl, clock)
        if name is not None and not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"name must be a str or None, got {name!r}")
        # The ``cache`` attribute of its instrumentation reports, built once.
        self._labels = {"cache": type(self).__name__ if name is None else name}
        # The bound the hot paths compare with: an int either way (unbounded: sys.maxsize).
        self._maxsize = sys.maxsize if maxsize is None else maxsize
        self._maxsize_given = maxsize
        self._now = now_reader(clock)
        self._data: OrderedDict[Any, list[Any]] = OrderedDict()
        self._queue: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()  # breaks ties in the heap without comparing entries
        self._hits = itertools.count()
        self._hit = self._hits.__next__
        self._misses = itertools.count()  # like hits: the decorators count misses lock-free
        self._miss = self._misses.__next__
        self._evictions = 0
        self._expirations = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The name its evictions and expirations are reported under (default: the class name).

        Example:
            >>> LRUCache(name="users").name, LRUCache().name
            ('users', 'LRUCache')
        """
        return self._labels["cache"]

    @property
    def maxsize(self) -> int | None:
        """The most entries held at once, ``None`` if unbounded (``0``: nothing is held)."""
        return self._maxsize_given

    @property
    def ttl(self) -> float | None:
        """The default time to live in seconds, or ``None``."""
        return self._ttl

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: T) -> V | T: ...
    def get(self, key: K, default: object = None) -> object:  # pyright: ignore[reportIncompatibleMethodOverride]  # Mapping's (key, V) overload is our (key, T) one
        """Return the live value stored under ``key``, or ``default``; count a hit or a miss.

        Example:
            >>> cache: LRUCache[str, int | None] = LRUCache()
            >>> cache.set("nothing", None)
            >>> cache.get("nothing", -1), cache.get("missing", -1)
            (None, -1)
        """
        # acquire/release rather than ``with``: a third of the cost on CPython 3.11.
        lock = self._lock
        lock.acquire()
        try:
            entry = self._find(key)
            if entry is not None:
                self._hit()
                return entry[0]
            self._miss()
            return default
        finally:
            lock.release()

    def lookup(self, key: K, default: T, /) -> V | T:
        """Return the live value stored under ``key``, or ``default``, counting nothing.

        Like :meth:`get`, a hit makes the entry the most recently used; unlike it, neither
        hits nor misses are counted (see :meth:`record`).

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> cache.set("a", 1)
            >>> cache.lookup("a", 0), cache.lookup("b", 0), cache.stats()["hits"]
            (1, 0, 0)
        """
        lock = self._lock
        lock.acquire()
        try:
            value: V | T = self._lookup(key, default)
            return value
        finally:
            lock.release()

    def record(self, *, hits: int = 0, misses: int = 0) -> None:
        """Add ``hits`` and ``misses`` to the lookup counters, for lookups made by :meth:`lookup`.

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> cache.record(hits=3, misses=1)
            >>> cache.stats()["hit_rate"]
            0.75
        """
        # itertools.count moves one step a call; counts are small (the decorators pass 1).
        for _ in range(hits):
            self._hit()
        for _ in range(misses):
            self._miss()

    def operations(self) -> LRUOperations:
        """Return this cache's bound operations for the caching decorators' fast path.

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> ops = cache.operations()
            >>> with ops.lock:
            ...     ops.put("a", 1)
            ...     ops.lookup("a", None)
            1
        """
        return LRUOperations(
            lock=self._lock,
            data=self._data,
            now=self._now,
            hit=self._hit,
            miss=self._miss,
            lookup=self._lookup,
            put=self._put,
            delete=self._delete,
            clear=self._clear,
        )

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` as the most recently used entry.

        Args:
            key: A hashable key.
            value: Any value, ``None`` included.
            ttl: Seconds this entry lives, overriding the cache's ``ttl``; ``None`` keeps it.

        Raises:
            ValueError: If ``ttl <= 0``.
        """
        lock = self._lock
        if ttl is None:
            lock.acquire()
            try:
                self._put(key, value)
            finally:
                lock.release()
            return
        require_positive("ttl", ttl)
        lock.acquire()
        try:
            self._insert(key, value, ttl)
        finally:
            lock.release()

    def delete(self, key: K) -> bool:
        """Remove ``key``; return whether a live entry was removed.

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> cache.set("a", 1)
            >>> cache.delete("a"), cache.delete("a")
            (True, False)
        """
        with self._lock:
            return self._delete(key)

    def clear(self) -> None:
        """Remove every entry; the statistics are kept (expired entries count as expirations)."""
        with self._lock:
            self._clear()

    def stats(self) -> CacheStats:
        """Return the statistics.

        Returns:
            ``hits`` and ``misses`` (lookups), ``hit_rate`` (``0.0`` before any lookup),
            ``evictions`` (live entries dropped to make room), ``expirations`` (expired
            entries dropped), ``size`` (live entries) and ``maxsize``.
        """
        with self._lock:
            self._purge()
            hits = counter_value(self._hits)
            misses = counter_value(self._misses)
            lookups = hits + misses
            return {
                "hits": hits,
                "misses": misses,
                "hit_rate": hits / lookups if lookups else 0.0,
                "evictions": self._evictions,
                "expirations": self._expirations,
                "size": len(self._data),
                "maxsize": self._maxsize_given,
            }

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._data)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __getitem__(self, key: K) -> V:
        """Return the live value under ``key``, counting a hit or a miss, like :meth:`get`."""
        value = self.get(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` with the cache's own ttl, like :meth:`set`."""
        self.set(key, value)

    def __delitem__(self, key: K) -> None:
        """Remove ``key``; ``KeyError`` if it held no live entry (an expired one goes too)."""
        if not self.delete(key):
            raise KeyError(key)

    def __iter__(self) -> Iterator[K]:
        """Iterate over a snapshot of the live keys, least recently used first."""
        return iter([key for key, _ in self.snapshot()])

    def snapshot(self) -> list[tuple[K, V]]:
        """Return the live ``(key, value)`` pairs, least recently used first, counting nothing.

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> cache.update(a=1, b=2)
            >>> cache.snapshot()
            [('a', 1), ('b', 2)]
        """
        with self._lock:
            entries = self._entries()
            now = self._now() if self._queue or self._heap else _DEAD
        return [(entry[2], entry[0]) for entry in entries if entry[1] > now]

    def items(self) -> ItemsView[K, V]:
        """Return a view of the live ``(key, value)`` pairs, counting nothing."""
        return _LiveItems(self)

    def values(self) -> ValuesView[V]:
        """Return a view of the live values, counting nothing."""
        return _LiveValues(self)

    @overload
    def pop(self, key: K) -> V: ...
    @overload
    def pop(self, key: K, default: V) -> V: ...
    @overload
    def pop(self, key: K, default: T) -> V | T: ...
    def pop(self, key: K, default: object = MISSING) -> object:
        """Remove ``key`` and return its live value, or ``default``; count nothing.

        Raises:
            KeyError: If ``key`` holds no live entry and no ``default`` is given.

        Example:
            >>> cache: LRUCache[str, int] = LRUCache()
            >>> cache["a"] = 1
            >>> cache.pop("a"), cache.pop("a", None)
            (1, None)
        """
        with self._lock:
            entry = self._data.pop(key, None)
            value: object = MISSING
            if entry is not None:
                if entry[1] is NEVER or self._now() < entry[1]:
                    value = entry[0]
                else:
                    self._expired()
                self._kill(entry)
        if value is not MISSING:
            return value
        if default is MISSING:
            raise KeyError(key)
        return default

    def setdefault(self, key: K, default: V = None) -> V:  # type: ignore[assignment]  # as MutableMapping's
        """Return the live value under ``key``, else store ``default`` and return it; atomic.

        Counted as :meth:`get` counts: a hit if a live value was there, else a miss.

        Example:
            >>> cache: LRUCache[str, list[int]] = LRUCache()
            >>> cache.setdefault("a", []).append(1)
            >>> cache.setdefault("a", []), cache.stats()["hits"]
            ([1], 1)
        """
        with self._lock:
            entry = self._find(key)
            if entry is not None:
                self._hit()
                value: V = entry[0]
                return value
            self._miss()
            self._put(key, default)
            return default

    def expire(self) -> list[tuple[K, V]]:
        """Drop every expired entry now; return their ``(key, value)`` pairs, oldest first.

        Expired entries are otherwise dropped when met or when room is needed, and never
        returned; this frees their memory at once (``cachetools``' ``expire()``).

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> clock = ManualClock()
            >>> cache: LRUCache[str, int] = LRUCache(ttl=10, clock=clock)
            >>> cache["a"] = 1
            >>> cache.set("b", 2, ttl=60)
            >>> clock.advance(10)
            >>> cache.expire(), list(cache), cache.stats()["expirations"]
            ([('a', 1)], ['b'], 1)
        """
        with self._lock:
            if not (self._queue or self._heap):
                return []
            now = self._now()
            expired = [(e[2], e[0]) for e in self._entries() if e[1] <= now]
            self._purge(now)
            return expired

    def __contains__(self, key: object) -> bool:
        """Return whether ``key`` holds a live entry, without counting or refreshing it."""
        entry = self._data.get(key)
        return entry is not None and (entry[1] is NEVER or self._now() < entry[1])

    def __repr__(self) -> str:
        maxsize, ttl = self._maxsize_given, self._ttl
        return f"{type(self).__name__}(maxsize={maxsize}, ttl={ttl}, size={len(self)})"

    # -- internals, also run by the decorators (see operations()); the caller holds ``_lock``

    def _entries(self) -> list[list[Any]]:
        """Return the entries, least recently used first.

        Lock-free hits may reorder the dict while it is copied (a key's ``__eq__`` may let
        another thread run): the copy is then made again.
        """
        while True:
            try:
                return list(self._data.values())
            except RuntimeError:  # pragma: no cover - "mutated during iteration": a rare race
                continue

    def _lookup(self, key: Any, default: Any) -> Any:
        entry = self._find(key)
        return default if entry is None else entry[0]

    def _find(self, key: Any) -> list[Any] | None:
        """Return the live entry for ``key`` and mark it most recently used, or ``None``."""
        data = self._data
        entry = data.get(key)
        if entry is None:
            return None
        expiry = entry[1]
        if expiry is NEVER or self._now() < expiry:
            data.move_to_end(key)
            return entry
        del data[key]
        self._kill(entry)
        self._expired()
        return None

    def _delete(self, key: Any) -> bool:
        entry = self._data.pop(key, None)
        if entry is None:
            return False
        live = entry[1] is NEVER or self._now() < entry[1]
        if not live:
            self._expired()
        self._kill(entry)
        return live

    def _clear(self) -> None:
        # No Python-level loop over _data: lock-free hits may reorder it meanwhile. Entries
        # are left alive: once the indexes are cleared nothing refers to them any more.
        self._purge()
        self._data.clear()
        self._queue.clear()
        self._heap.clear()

    def _put(self, key: Any, value: Any) -> None:  # noqa: PLR0912, PLR0915 - one frame: this is every miss's path
        """Store ``value`` under ``key`` with the cache's own ttl: the decorators' path.

        :meth:`_insert` specialised for the usual case, where no entry has a ttl of its own
        (the heap is empty): without a ttl no entry can expire; with one, the expiry index
        is the queue alone. Entries are killed inline, as a call costs more than the kill.
        """
        if self._heap:
            self._insert(key, value)
            return
        data = self._data
        ttl = self._ttl
        if ttl is None:
            entry = [value, NEVER, key]
            old = data.get(key)
            if old is not None:
                old[1] = _DEAD
                old[0] = old[2] = None
                data[key] = entry
                data.move_to_end(key)
            elif len(data) < self._maxsize:
                data[key] = entry
            else:
                try:
                    victim = data.popitem(False)[1]  # noqa: FBT003 - a keyword costs 25 ns here
                except KeyError:  # maxsize 0: nothing is held (a try costs nothing in 3.11)
                    return
                victim[1] = _DEAD
                victim[0] = victim[2] = None
                self._evictions += 1
                if HOOKS.active:
                    HOOKS.count("cache.evictions", 1, self._labels)
                data[key] = entry
            return
        now = self._now()
        entry = [value, now + ttl, key]
        queue = self._queue
        old = data.get(key)
        if old is not None:
            if old[1] <= now:
                self._expired()
            old[1] = _DEAD
            old[0] = old[2] = None
            data[key] = entry
            data.move_to_end(key)
        elif len(data) < self._maxsize:
            data[key] = entry
        else:
            if queue and queue[0][1] <= now:
                self._purge(now)
            if len(data) >= self._maxsize:
                try:
                    victim = data.popitem(False)[1]  # noqa: FBT003 - a keyword costs 25 ns here
                except KeyError:  # maxsize 0
                    return
                if queue and queue[0] is victim:
                    queue.popleft()  # the oldest is often the least recently used too
                victim[1] = _DEAD
                victim[0] = victim[2] = None
                self._evictions += 1
                if HOOKS.active:
                    HOOKS.count("cache.evictions", 1, self._labels)
            data[key] = entry
        queue.append(entry)
        if len(queue) > 2 * len(data) + _COMPACT_SLACK:
            self._queue = deque(slot for slot in queue if slot[1] != _DEAD)

    def _insert(self, key: Any, value: Any, ttl: float | None = None) -> None:  # noqa: PLR0912 - the general case of _put, kept in one piece like it
        """Store ``value`` under ``key`` with ``ttl`` (``None``: the cache's own)."""
        data = self._data
        queue = self._queue
        heap = self._heap
        own_ttl = ttl is None or ttl == self._ttl
        if own_ttl:
            ttl = self._ttl
        if ttl is None or ttl == NEVER:
            expiry = NEVER
            # The clock only matters if some entry expires (an old one, or one to purge).
            now = self._now() if queue or heap else _DEAD
        else:
            now = self._now()
            expiry = now + ttl
        entry = [value, expiry, key]
        old = data.get(key)
        if old is not None:
            if old[1] <= now:
                self._expired()
            self._kill(old)
            data[key] = entry
            data.move_to_end(key)
        elif len(data) < self._maxsize:
            data[key] = entry
        else:
            if (queue and queue[0][1] <= now) or (heap and heap[0][2][1] <= now):
                self._purge(now)
            if len(data) >= self._maxsize:
                try:
                    victim = data.popitem(last=False)[1]
                except KeyError:  # maxsize 0
                    return
                if queue and queue[0] is victim:
                    queue.popleft()  # the oldest is often the least recently used too
                self._kill(victim)
                self._evicted()
            data[key] = entry
        if expiry is NEVER:
            return
        if own_ttl:
            queue.append(entry)
            if len(queue) > 2 * len(data) + _COMPACT_SLACK:
                self._queue = deque(slot for slot in queue if slot[1] != _DEAD)
        else:
            heapq.heappush(heap, (expiry, next(self._seq), entry))
            if len(heap) > 2 * len(data) + _COMPACT_SLACK:
                self._heap = [slot for slot in heap if slot[2][1] != _DEAD]
                heapq.heapify(self._heap)

    def _purge(self, now: float = _DEAD) -> None:
        """Drop every expired entry, and the dead slots at the front of the expiry indexes."""
        queue = self._queue
        heap = self._heap
        if now == _DEAD and (queue or heap):
            now = self._now()
        # Dead slots have expiry -inf, so one comparison pops dead and expired slots alike.
        while queue and queue[0][1] <= now:
            self._drop(queue.popleft())
        while heap and heap[0][2][1] <= now:
            self._drop(heapq.heappop(heap)[2])

    def _drop(self, entry: list[Any]) -> None:
        """Remove a slot's entry if it is still stored: it has expired."""
        if entry[1] != _DEAD:
            del self._data[entry[2]]
            self._kill(entry)
            self._expired()

    def _expired(self) -> None:
        """Count an expired entry dropped, and report it to the instrumentation hook."""
        self._expirations += 1
        if HOOKS.active:
            HOOKS.count("cache.expirations", 1, self._labels)

    def _evicted(self) -> None:
        """Count a live entry evicted, and report it (``_put`` does the same inline)."""
        self._evictions += 1
        if HOOKS.active:
            HOOKS.count("cache.evictions", 1, self._labels)

    @staticmethod
    def _kill(entry: list[Any]) -> None:
        # Expiry first: a lock-free reader that unpacks the entry sees either the whole live
        # entry or a dead one, never a live expiry with a dropped value.
        entry[1] = _DEAD
        entry[0] = entry[2] = None


class _LiveItems(ItemsView[K, V]):
    """``LRUCache.items()``: iterates over a snapshot of the live pairs, counting nothing."""

    _mapping: LRUCache[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return iter(self._mapping.snapshot())

    def __contains__(self, item: object) -> bool:
        return item in self._mapping.snapshot()  # not Mapping's, which counts a lookup


class _LiveValues(ValuesView[V]):
    """``LRUCache.values()``: iterates over a snapshot of the live values, counting nothing."""

    _mapping: LRUCache[Any, V]

    def __iter__(self) -> Iterator[V]:
        return iter([value for _, value in self._mapping.snapshot()])

    def __contains__(self, value: object) -> bool:
        return any(v is value or v == value for _, v in self._mapping.snapshot())
