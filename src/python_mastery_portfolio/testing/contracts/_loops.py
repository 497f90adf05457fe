"""One event loop per check for the async contract suites, the store's loop resources released."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["EventLoopChecks"]

T = TypeVar("T")


class EventLoopChecks:
    """The part every async contract suite shares: how a check runs in its own event loop.

    A store with an asyncio side often holds resources bound to the loop that made them (a
    connection pool per loop); :meth:`aclose_store` releases them before the loop ends.

    Example:
        >>> class Checks(EventLoopChecks):
        ...     async def aclose_store(self, store: list[str]) -> None:
        ...         store.append("closed")
        >>> store: list[str] = []
        >>> async def check() -> int:
        ...     return 42
        >>> Checks().run(store, check), store
        (42, ['closed'])
    """

    async def aclose_store(self, store: Any) -> None:
        """Release what ``store`` holds for the loop about to end (default: nothing)."""

    def run(self, store: Any, check: Callable[[], Awaitable[T]]) -> T:
        """Return ``check()`` run in a new event loop, closing ``store``'s loop resources."""

        async def main() -> T:
            try:
                return await check()
            finally:
                await self.aclose_store(store)

        return asyncio.run(main())
