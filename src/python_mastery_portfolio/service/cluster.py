"""Several workers behind one Redis: a change feed between them, and every worker's figures.

With ``PMP_REDIS_URL`` set, each worker (``pmp serve --workers N``, or services on several
machines sharing the database) runs a :class:`RedisChangeFeed`:

- **Changes.** After each write the worker publishes *one* message on the channel
  ``pmp:service:<namespace>:changes``: ``{"origin", "user_id", "event"}``. Every other
  worker evicts ``user_id`` from its read cache and hands ``event`` to its
  :class:`~python_mastery_portfolio.service.events.EventHub` (its WebSocket and admin
  clients); a worker skips its own messages (it has already done both). The request that
  wrote awaits the publish, so once the answer is sent every other worker has been told
  (it evicts on arrival: a pub/sub hop, well under a millisecond on a local network).
- **Coherence.** While a worker's subscription is down (at start, after a fault) it may
  miss messages: its read cache is bypassed, and emptied once it subscribes again -- never
  stale, at worst slower. A quiet connection is pinged every ``ping_interval`` seconds; no
  answer for twice as long counts as a fault (a connection dead without an error).
- **Figures.** Every ``report_interval`` seconds each worker stores its figures (what
  ``report`` returns) in the hash ``pmp:service:<namespace>:workers``, under its ID;
  :meth:`RedisChangeFeed.workers` reads every live worker's (stored within the last three
  intervals) for ``/metrics``.

Faults: every Redis call has ``socket_timeout``. A failed publish is logged at WARNING and
counted (``publish_errors``): the write itself stands, and the other workers' caches serve
the old user until their ``PMP_CACHE_TTL`` at most. A lost subscription is retried every
``reconnect_delay`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Final, TypedDict

import redis
import redis.asyncio as aredis

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock

__all__ = ["ChangeHandler", "ClusterStats", "RedisChangeFeed", "worker_id"]

logger = logging.getLogger(__name__)

FAULTS: Final = (redis.RedisError, OSError, TimeoutError)
"""What a Redis call may raise when Redis is down, slow or gone."""

ChangeHandler = Callable[[str | None, Mapping[str, Any] | None], None]
"""Takes another worker's change: the user ID to evict (or ``None``) and the event."""


def worker_id() -> str:
    """Return this process's worker ID: ``<host>:<pid>``.

    Example:
        >>> worker_id().endswith(f":{os.getpid()}")
        True
    """
    return f"{socket.gethostname()}:{os.getpid()}"


class ClusterStats(TypedDict):
    """What :meth:`RedisChangeFeed.stats` returns (this worker's figures)."""

    worker: str
    """This worker's ID."""
    synced: bool
    """Whether the subscription is up (the read cache is used only then)."""
    published: int
    """Changes this worker published."""
    received: int
    """Changes of other workers received."""
    publish_errors: int
    """Publishes that failed (the other workers were not told)."""
    reconnects: int
    """Subscriptions lost and tried again."""


class RedisChangeFeed:
    """Tell every other worker about this worker's changes, and take theirs (Redis pub/sub).

    Args:
        url: The Redis URL (``redis://host:6379/0``, ``unix:///path/redis.sock``).
        namespace: Separates services sharing one Redis.
        worker: This worker's ID (default :func:`worker_id`).
        socket_timeout: Seconds any Redis call may take.
        reconnect_delay: Seconds between two attempts to subscribe.
        ping_interval: Seconds of silence after which the subscription is pinged.
        report_interval: Seconds between two reports of this worker's figures.
        clock: The clock of the waits between attempts.

    Raises:
        ValueError: If a number of seconds is not positive.

    Example:
        >>> feed = RedisChangeFeed("redis://localhost:6379/0", namespace="users", worker="w1")
        >>> feed.channel, feed.stats()["synced"]
        ('pmp:service:users:changes', False)
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        worker: str | None = None,
        socket_timeout: float = 0.5,
        reconnect_delay: float = 0.2,
        ping_interval: float = 1.0,
        report_interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        for name, value in (
            ("socket_timeout", socket_timeout),
            ("reconnect_delay", reconnect_delay),
            ("ping_interval", ping_interval),
            ("report_interval", report_interval),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self._url = url
        self._worker = worker if worker is not None else worker_id()
        prefix = f"pmp:service:{namespace}:"
        self._channel = prefix + "changes"
        self._workers_key = prefix + "workers"
        self._socket_timeout = socket_timeout
        self._reconnect_delay = reconnect_delay
        self._ping_interval = ping_interval
        self._report_interval = report_interval
        self._clock = clock
        self._client: aredis.Redis | None = None
        self._synced = False
        self._published = 0
        self._received = 0
        self._publish_errors = 0
        self._reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def worker(self) -> str:
        """This worker's ID."""
        return self._worker

    @property
    def channel(self) -> str:
        """The channel changes go through."""
        return self._channel

    def stats(self) -> ClusterStats:
        """Return this worker's feed figures."""
        return {
            "worker": self._worker,
            "synced": self._synced,
            "published": self._published,
            "received": self._received,
            "publish_errors": self._publish_errors,
            "reconnects": self._reconnects,
        }

    # -- running -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(
        self,
        *,
        on_change: ChangeHandler,
        on_sync: Callable[[bool], None],
        report: Callable[[], Mapping[str, Any]],
    ) -> AsyncGenerator[RedisChangeFeed, None]:
        """Listen and report in the block; wait (bounded) for the subscription first.

        Args:
            on_change: Called on the event loop with each other worker's change.
            on_sync: Called with ``True`` once subscribed (the cache may be used again,
                from empty) and ``False`` when the subscription is lost.
            report: Returns this worker's figures (JSON types), stored for the others.
        """
        self._client = aredis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
            self._url,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_timeout,
        )
        subscribed = asyncio.Event()
        listener = asyncio.create_task(self._listen(on_change, on_sync, subscribed))
        reporter = asyncio.create_task(self._report(report))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscribed.wait(), 2 * self._socket_timeout)
            yield self
        finally:
            for task in (listener, reporter):
                task.cancel()
            await asyncio.gather(listener, reporter, *self._tasks, return_exceptions=True)
            with contextlib.suppress(*FAULTS):
                await self._client.hdel(self._workers_key, self._worker)
            await self._client.aclose()
            self._synced = False

    def _sync(self, on_sync: Callable[[bool], None], *, synced: bool) -> None:
        if synced != self._synced:
            self._synced = synced
            on_sync(synced)

    async def _listen(
        self,
        on_change: ChangeHandler,
        on_sync: Callable[[bool], None],
        subscribed: asyncio.Event,
    ) -> None:
        assert self._client is not None  # noqa: S101 - set by running() before this task
        while True:
            pubsub = self._client.pubsub()  # pyright: ignore[reportUnknownMemberType]  # idem
            try:
                await pubsub.subscribe(self._channel)
                await self._receive(pubsub, on_change, on_sync, subscribed)
            except FAULTS as error:
                if self._synced:
                    logger.warning(
                        "Lost the change feed %s (%s: %s); the read cache is off until it is back",
                        self._channel,
                        type(error).__name__,
                        error,
                    )
                self._sync(on_sync, synced=False)
                self._reconnects += 1
            finally:
                with contextlib.suppress(*FAULTS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: untyped
            await self._clock.asleep(self._reconnect_delay)

    async def _receive(
        self,
        pubsub: Any,
        on_change: ChangeHandler,
        on_sync: Callable[[bool], None],
        subscribed: asyncio.Event,
    ) -> None:
        quiet = 0
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                quiet += 1
                if quiet > 2:
                    raise TimeoutError("no answer to PING")
                await pubsub.ping()
                continue
            quiet = 0
            kind = message["type"]
            if kind == "subscribe":
                self._sync(on_sync, synced=True)
                subscribed.set()
                logger.info("Following the change feed %s as %s", self._channel, self._worker)
            elif kind == "message":
                change = json.loads(message["data"])
                if change["origin"] != self._worker:
                    self._received += 1
                    on_change(change["user_id"], change["event"])

    # -- publishing ----------------------------------------------------------------------

    async def announce(self, user_id: str | None, event: Mapping[str, Any] | None) -> None:
        """Tell every other worker: evict ``user_id``, deliver ``event``; never raises.

        Call it after the change committed, from the event loop, inside :meth:`running`.
        """
        assert self._client is not None  # noqa: S101 - only called inside running()
        text = json.dumps({"origin": self._worker, "user_id": user_id, "event": event})
        try:
            await self._client.publish(self._channel, text)  # pyright: ignore[reportUnknownMemberType]  # idem
        except FAULTS as error:
            self._publish_errors += 1
            logger.warning(
                "Could not publish a change of user %s to the other workers (%s: %s); "
                "their caches may serve it for up to PMP_CACHE_TTL",
                user_id,
                type(error).__name__,
                error,
            )
        else:
            self._published += 1

    def announce_soon(self, user_id: str) -> None:
        """Schedule :meth:`announce` of an eviction (for a write whose request went away)."""
        task = asyncio.get_running_loop().create_task(self.announce(user_id, None))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- figures -------------------------------------------------------------------------

    async def _report(self, report: Callable[[], Mapping[str, Any]]) -> None:
        assert self._client is not None  # noqa: S101 - set by running() before this task
        while True:
            figures = json.dumps({"at": time.time(), "figures": report()})
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.hset(self._workers_key, self._worker, figures)
                    pipe.pexpire(self._workers_key, round(self._report_interval * 30_000))
                    await pipe.execute()
            except FAULTS as error:
                logger.debug("Could not report this worker's figures: %r", error)
            await self._clock.asleep(self._report_interval)

    async def workers(self, own: Mapping[str, Any]) -> dict[str, Any]:
        """Return every live worker's figures by worker ID, this worker's being ``own``.

        A worker counts as live when it reported within the last three
        ``report_interval``; the others' figures are deleted. With Redis unreachable, only
        this worker is listed.
        """
        assert self._client is not None  # noqa: S101 - only called inside running()
        found: dict[str, Any] = {}
        try:
            stored: dict[bytes, bytes] = await self._client.hgetall(self._workers_key)  # type: ignore[assignment]  # bytes without decode_responses
        except FAULTS as error:
            logger.debug("Could not read the workers' figures: %r", error)
            stored = {}
        oldest = time.time() - 3 * self._report_interval
        gone: list[bytes] = []
        for name, text in stored.items():
            record = json.loads(text)
            if record["at"] >= oldest:
                found[name.decode()] = record["figures"]
            else:
                gone.append(name)
        if gone:  # workers that stopped without a word (killed, restarted by uvicorn)
            with contextlib.suppress(*FAULTS):
                await self._client.hdel(self._workers_key, *gone)
        found[self._worker] = dict(own)
        return dict(sorted(found.items()))
