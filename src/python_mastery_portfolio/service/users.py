"""The Users service: business rules, the read cache, change events, and the DB off the loop.

:class:`UserService` is what the endpoints call. It runs the synchronous
:class:`~python_mastery_portfolio.service.repository.SQLiteUserRepository` on a small
dedicated thread pool (so the event loop never waits on the disk, and the number of SQLite
connections stays bounded), caches single-user reads in the toolkit's
:class:`~python_mastery_portfolio.caching.LRUCache`, and publishes a change event for each
write.

Read-after-write consistency: a write invalidates the user's cache entry after it has
committed, and bumps a generation counter. A read that started before the write (and so
may have loaded the old row) sees that the generation moved and does not cache what it
read. All cache access happens on the event loop thread, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching import CacheStats, LRUCache
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.service.errors import UserNotFoundError
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.models import User, UserCreate, UserPage, UserUpdate
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.web.context import get_request_id

__all__ = ["UserService"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class UserService:
    """Create, read, update and delete users; cache reads; publish change events.

    Args:
        repository: The open user repository.
        events: Where change events are published.
        blocked_domains: E-mail domains (and their subdomains) refused for users.
        cache_ttl: Seconds a cached user stays fresh.
        cache_maxsize: Most users kept in the cache.
        workers: Threads that run database calls.
        clock: The clock of the cache's TTL.
    """

    def __init__(
        self,
        repository: SQLiteUserRepository,
        events: EventHub,
        *,
        blocked_domains: tuple[str, ...] = ("example.com",),
        cache_ttl: float = 30.0,
        cache_maxsize: int = 1024,
        workers: int = 4,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._repository = repository
        self._events = events
        self._blocked = tuple(domain.lower() for domain in blocked_domains)
        self._cache: LRUCache[str, User] = LRUCache(cache_maxsize, cache_ttl, clock=clock)
        self._generation = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pmp-db")

    async def _run(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a repository call on the database threads, keeping the request's context."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    async def _write(self, user_id: str, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run a write; invalidate the user's cache entry once it has finished, whatever happens.

        The write is shielded: a request cancelled mid-write does not abandon it, and the
        invalidation waits for the commit, so no read can cache the old row after it.
        """
        future = asyncio.ensure_future(self._run(func, *args, **kwargs))
        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                self._changed(user_id)
            else:
                future.add_done_callback(functools.partial(self._finished_late, user_id))

    def _finished_late(self, user_id: str, future: asyncio.Future[Any]) -> None:
        """Invalidate after a write whose caller was cancelled; log how it ended."""
        self._changed(user_id)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            logger.warning("A write for a cancelled request failed: %r", error)

    def close(self) -> None:
        """Wait for running database calls, then stop the database threads."""
        self._executor.shutdown(wait=True)

    # -- rules -------------------------------------------------------------------------

    def _check_domain(self, email: str) -> None:
        domain = email.rpartition("@")[2]
        for blocked in self._blocked:
            if domain == blocked or domain.endswith("." + blocked):
                raise ValidationError(
                    f"E-mail addresses at {domain} are not accepted", field="email", value=email
                )

    def _changed(self, user_id: str) -> None:
        self._generation += 1
        self._cache.delete(user_id)

    def _publish(self, kind: str, user: User) -> None:
        self._events.publish(
            {
                "type": kind,
                "user": user.model_dump(mode="json"),
                "request_id": get_request_id(),
                "time": datetime.now(UTC).isoformat(),
            }
        )

    # -- operations --------------------------------------------------------------------

    async def create(self, data: UserCreate) -> User:
        """Store a new user and publish ``user.created``.

        Raises:
            ValidationError: If the e-mail domain is blocked (422).
            DuplicateEmailError: If the e-mail address is taken (409).
        """
        self._check_domain(data.email)
        user = await self._run(self._repository.add, email=data.email, name=data.name, age=data.age)
        self._publish("user.created", user)
        return user

    async def get(self, user_id: str) -> User:
        """Return the user, from the cache when fresh.

        Raises:
            UserNotFoundError: If there is no such user (404).
        """
        cached = self._cache.get(user_id, MISSING)
        if cached is not MISSING:
            user: User = cached
            return user
        generation = self._generation
        loaded = await self._run(self._repository.get, user_id)
        if loaded is None:
            raise UserNotFoundError(user_id)
        if generation == self._generation:
            self._cache.set(user_id, loaded)
        return loaded

    async def page(self, *, limit: int, offset: int) -> UserPage:
        """Return one page of users in creation order."""
        items, total = await self._run(self._repository.page, limit=limit, offset=offset)
        return UserPage(items=items, total=total, limit=limit, offset=offset)

    async def update(self, user_id: str, data: UserUpdate) -> User:
        """Apply the fields sent in ``data`` and publish ``user.updated``.

        An empty update changes nothing and publishes nothing.

        Raises:
            UserNotFoundError: If there is no such user (404).
            ValidationError: If the new e-mail domain is blocked (422).
            DuplicateEmailError: If the new e-mail address is taken (409).
        """
        changes = data.changes()
        if not changes:
            return await self.get(user_id)
        if "email" in changes:
            self._check_domain(changes["email"])
        user = await self._write(user_id, self._repository.update, user_id, changes)
        if user is None:
            raise UserNotFoundError(user_id)
        self._publish("user.updated", user)
        return user

    async def delete(self, user_id: str) -> None:
        """Delete the user and publish ``user.deleted``.

        Raises:
            UserNotFoundError: If there is no such user (404).
        """
        user = await self._write(user_id, self._repository.remove, user_id)
        if user is None:
            raise UserNotFoundError(user_id)
        self._publish("user.deleted", user)

    async def count(self) -> int:
        """Return the number of users stored."""
        return await self._run(self._repository.count)

    def clear_cache(self) -> int:
        """Empty the read cache; return how many users it held.

        Reads that are under way may still store what they loaded: a cleared cache only
        means the next reads go to the database, never that they see older data.
        """
        held = len(self._cache)
        self._cache.clear()
        return held

    async def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        await self._run(self._repository.ping)

    def cache_stats(self) -> CacheStats:
        """Return the read cache's statistics."""
        return self._cache.stats()
