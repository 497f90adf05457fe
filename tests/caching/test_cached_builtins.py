"""A cache never calls the function it wraps for its own accounting (issue 16, bug 6).

A program may replace a builtin with its cached self (``builtins.len = cache(len)``); the
caches call builtins such as ``len`` and ``repr`` for their bookkeeping, and must reach the
originals, not the cached function.
"""

from __future__ import annotations

import builtins
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from python_mastery_portfolio.caching import LRUCache, cache
from python_mastery_portfolio.testing import ManualClock


@contextmanager
def cached_builtin(name: str, **options: Any) -> Iterator[Callable[..., Any]]:
    """Replace ``builtins.<name>`` with its cached self for the block; yield the wrapper.

    The replacement is process-wide: a finaliser run by the cyclic garbage collector during
    the block (another test's leftovers: a transport, a subprocess) would call the cached
    builtin with an unhashable argument and fail. The collector is paused for the block, after
    a collection, so only the test's own code sees the cached builtin.
    """
    original = getattr(builtins, name)
    wrapped = cache(**options)(original)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    setattr(builtins, name, wrapped)
    try:
        yield wrapped
    finally:
        setattr(builtins, name, original)
        if was_enabled:
            gc.enable()


class Box:
    def __init__(self, items: tuple[int, ...]) -> None:
        self.items = items

    @cache
    def size(self) -> int:
        return len(self.items)


CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("len", ("abcd",)),
    ("len", ((1, 2),)),
    ("repr", (12,)),
    ("hash", ("k",)),
    ("id", (None,)),
    ("int", ("42",)),
    ("sorted", ((3, 1, 2),)),
    ("tuple", ("ab",)),
    ("type", (1.5,)),
]


class TestCachedBuiltins:
    @pytest.mark.parametrize(
        ("name", "args"), CALLS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(CALLS)]
    )
    def test_cached_builtin_installed_in_builtins(self, name: str, args: tuple[Any, ...]) -> None:
        """A builtin replaced by @cache of itself works, and its own stats stay exact."""
        expected = getattr(builtins, name)(*args)
        with cached_builtin(name, maxsize=2, ttl=10, clock=ManualClock()) as wrapped:
            results = [getattr(builtins, name)(*args) for _ in range(3)]
            stats = wrapped.cache_stats()  # type: ignore[attr-defined]
            text = repr(wrapped)
        assert results == [expected] * 3
        assert (stats["hits"], stats["misses"], stats["size"]) == (2, 1, 1)
        assert "wrapper" in text or name in text

    def test_eviction_and_store_use_with_cached_len(self) -> None:
        """Evictions, len(), stats() and repr() of a store work while len is cached."""
        store: LRUCache[int, int] = LRUCache(maxsize=2)
        with cached_builtin("len") as wrapped:
            for key in range(5):
                store.set(key, key)
            size, stats, text = len(store), store.stats(), repr(store)
            lengths = [len("ab"), len("abc"), len("ab")]
            wrapped_stats = wrapped.cache_stats()  # type: ignore[attr-defined]
        assert (size, stats["evictions"], text) == (2, 3, "LRUCache(maxsize=2, ttl=None, size=2)")
        assert lengths == [2, 3, 2]
        # The test's own len(store), len("ab") and len("abc") are the misses.
        assert (wrapped_stats["hits"], wrapped_stats["misses"]) == (1, 3)

    def test_cached_methods_with_cached_len(self) -> None:
        """Cached methods keep working while len is cached (asyncio itself would not)."""
        with cached_builtin("len"):
            box = Box((1, 2, 3))
            sizes = [box.size(), box.size(), Box.size(box)]
            stats = Box.size.cache_stats()
        assert sizes == [3, 3, 3]
        assert (stats["hits"], stats["misses"]) == (1, 2)
