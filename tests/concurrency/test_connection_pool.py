"""Tests of AsyncConnectionPool (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

from python_mastery_portfolio.concurrency import AsyncConnectionPool, PoolTimeoutError
from python_mastery_portfolio.exceptions import PortfolioError
from python_mastery_portfolio.testing import ManualClock
from tests.concurrency.test_batch import bounded, until


class Conn:
    """A fake connection that knows whether it is closed."""

    ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.closed = False
        self.healthy = True

    async def aclose(self) -> None:
        self.closed = True


def make_pool(**options: Any) -> tuple[AsyncConnectionPool[Conn], list[Conn]]:
    made: list[Conn] = []

    async def connect() -> Conn:
        conn = Conn()
        made.append(conn)
        return conn

    async def close(conn: Conn) -> None:
        await conn.aclose()

    return AsyncConnectionPool(connect, close=close, **options), made


class TestLending:
    async def test_seed_form(self) -> None:
        """The seed's form: async with pool.acquire() as conn, max_connections default 10."""
        pool, made = make_pool()
        assert pool.max_connections == 10
        async with pool.acquire() as conn:
            assert conn is made[0]
        async with pool.acquire() as again:
            assert again is conn
        assert pool.stats() == {
            "size": 1,
            "idle": 1,
            "in_use": 0,
            "waiting": 0,
            "created": 1,
            "closed": 0,
            "timeouts": 0,
        }

    async def test_thousand_tasks_through_five(self) -> None:
        """1,000 tasks through a pool of 5: never more than 5 lent at once, all released."""
        pool, made = make_pool(max_connections=5)
        lent: set[int] = set()
        peak = 0

        async def use(index: int) -> None:
            nonlocal peak
            async with pool.acquire() as conn:
                assert conn.id not in lent
                lent.add(conn.id)
                peak = max(peak, len(lent))
                for _ in range(index % 3):
                    await asyncio.sleep(0)
                lent.discard(conn.id)

        await bounded(asyncio.gather(*(use(i) for i in range(1000))))
        assert peak == 5
        assert len(made) == 5
        stats = pool.stats()
        assert (stats["size"], stats["in_use"], stats["waiting"], stats["idle"]) == (5, 0, 0, 5)

    async def test_waiters_are_served_in_order(self) -> None:
        """Waiters get the connection first come, first served."""
        pool, _ = make_pool(max_connections=1)
        order: list[int] = []
        async with pool.acquire():
            tasks = []
            for index in range(5):
                tasks.append(asyncio.create_task(self._take(pool, order, index)))
                await asyncio.sleep(0)
            await until(lambda: pool.stats()["waiting"] == 5)
        await bounded(asyncio.gather(*tasks))
        assert order == [0, 1, 2, 3, 4]

    @staticmethod
    async def _take(pool: AsyncConnectionPool[Conn], order: list[int], index: int) -> None:
        async with pool.acquire():
            order.append(index)
            await asyncio.sleep(0)

    async def test_cancelled_waiters_never_leak(self) -> None:
        """Cancel 100 waiters at random points: the pool returns to its limit and works."""
        pool, made = make_pool(max_connections=3)
        rng = random.Random(12)

        async def use() -> None:
            async with pool.acquire():
                for _ in range(rng.randrange(3)):
                    await asyncio.sleep(0)

        tasks = [asyncio.create_task(use()) for _ in range(200)]
        for task in rng.sample(tasks, 100):
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            task.cancel()
        await bounded(asyncio.gather(*tasks, return_exceptions=True))
        stats = pool.stats()
        assert stats["in_use"] == 0
        assert stats["waiting"] == 0
        assert stats["size"] == stats["idle"] <= 3
        assert stats["size"] == len([c for c in made if not c.closed])
        await bounded(asyncio.gather(*(use() for _ in range(10))))

    async def test_waiter_cancelled_just_as_served_passes_it_on(self) -> None:
        """A waiter cancelled in the same step it is handed a connection passes it on."""
        pool, _ = make_pool(max_connections=1)
        holder = pool.acquire()
        await holder.__aenter__()
        first = asyncio.create_task(pool.acquire().__aenter__())
        second = asyncio.create_task(self._take(pool, [], 1))
        await until(lambda: pool.stats()["waiting"] == 2)
        await holder.__aexit__(None, None, None)  # hands the connection to `first`...
        first.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await bounded(first)
        await bounded(second)
        assert pool.stats()["in_use"] == 0

    async def test_freed_slot_goes_to_the_next_live_waiter(self) -> None:
        """A slot freed by a discard skips a cancelled waiter and serves the next one."""
        pool, made = make_pool(max_connections=1)
        holder = pool.acquire()
        await holder.__aenter__()
        gone = asyncio.create_task(pool.acquire().__aenter__())
        served = asyncio.create_task(self._take(pool, [], 1))
        await until(lambda: pool.stats()["waiting"] == 2)
        gone.cancel()  # its turn is cancelled at once; it leaves the line when it runs
        await holder.__aexit__(ValueError, ValueError("broken"), None)
        await bounded(served)
        with pytest.raises(asyncio.CancelledError):
            await bounded(gone)
        assert made[0].closed
        assert pool.stats()["in_use"] == 0

    async def test_waiter_cancelled_as_handed_a_slot(self) -> None:
        """A waiter cancelled in the step it is handed a free slot passes the slot on."""
        pool, _ = make_pool(max_connections=1)
        holder = pool.acquire()
        await holder.__aenter__()
        first = asyncio.create_task(pool.acquire().__aenter__())
        second = asyncio.create_task(self._take(pool, [], 1))
        await until(lambda: pool.stats()["waiting"] == 2)
        await holder.__aexit__(ValueError, ValueError("broken"), None)  # slot to `first`...
        first.cancel()  # ...cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await bounded(first)
        await bounded(second)
        assert pool.stats() == {
            "size": 1,
            "idle": 1,
            "in_use": 0,
            "waiting": 0,
            "created": 2,
            "closed": 1,
            "timeouts": 0,
        }

    async def test_close_skips_a_cancelled_waiter(self) -> None:
        """close() with a just-cancelled waiter in line fails only the live ones."""
        pool, _ = make_pool(max_connections=1)
        holder = pool.acquire()
        await holder.__aenter__()
        gone = asyncio.create_task(pool.acquire().__aenter__())
        await until(lambda: pool.stats()["waiting"] == 1)
        gone.cancel()
        await pool.close()
        with pytest.raises(asyncio.CancelledError):
            await bounded(gone)
        await holder.__aexit__(None, None, None)
        assert pool.stats()["size"] == 0

    async def test_error_in_block_discards_the_connection(self) -> None:
        """If the block raises, its connection is closed and not returned."""
        pool, made = make_pool()
        with pytest.raises(ValueError, match="boom"):
            async with pool.acquire():
                raise ValueError("boom")
        assert made[0].closed
        assert pool.stats()["size"] == 0
        assert pool.stats()["closed"] == 1

    async def test_harmless_error_returns_the_connection(self) -> None:
        """An error outside discard_on returns the connection to the pool."""
        pool, made = make_pool(discard_on=ConnectionError)
        with pytest.raises(KeyError):
            async with pool.acquire():
                raise KeyError("not the connection's fault")
        assert not made[0].closed
        assert pool.stats()["idle"] == 1

    async def test_cancellation_in_block_always_discards(self) -> None:
        """A cancelled block's connection is closed even when discard_on would spare errors."""
        pool, made = make_pool(discard_on=ConnectionError)
        entered = asyncio.Event()

        async def use() -> None:
            async with pool.acquire():
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(use())
        await bounded(entered.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert made[0].closed
        assert pool.stats()["size"] == 0


class TestLifecycle:
    async def test_validate_replaces_a_bad_connection(self) -> None:
        """A connection that fails validation is closed and replaced before reuse."""
        pool, _ = make_pool(validate=lambda conn: conn.healthy)
        async with pool.acquire() as conn:
            conn.healthy = False
        async with pool.acquire() as fresh:
            assert fresh is not conn
        assert conn.closed
        async with pool.acquire() as reused:
            assert reused is fresh

    async def test_validator_that_raises_means_invalid(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A validator that raises is logged and the connection replaced."""

        async def check(conn: Conn) -> bool:
            raise OSError("ping failed")

        pool, made = make_pool(validate=check)
        async with pool.acquire():
            pass
        async with pool.acquire() as conn:
            assert conn is made[1]
        assert "validation raised" in caplog.text

    async def test_cancelled_during_validation(self) -> None:
        """A cancellation during validation closes that connection and frees its slot."""
        gate = asyncio.Event()

        async def slow_check(conn: Conn) -> bool:
            await gate.wait()
            return True

        pool, made = make_pool(validate=slow_check)
        async with pool.acquire():
            pass
        task = asyncio.create_task(pool.acquire().__aenter__())
        await until(lambda: pool.stats()["idle"] == 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert made[0].closed
        assert pool.stats()["size"] == 0

    async def test_max_lifetime_recycles(self) -> None:
        """A connection older than max_lifetime is closed on return and not reused."""
        clock = ManualClock()
        pool, made = make_pool(max_lifetime=60, clock=clock)
        async with pool.acquire():
            clock.advance(61)
        assert made[0].closed
        async with pool.acquire() as conn:
            assert conn is made[1]

    async def test_stale_idle_connection_is_replaced_on_acquire(self) -> None:
        """An idle connection past max_lifetime is replaced when next acquired."""
        clock = ManualClock()
        pool, made = make_pool(max_lifetime=60, clock=clock)
        async with pool.acquire():
            pass
        clock.advance(61)
        async with pool.acquire() as conn:
            assert conn is made[1]
        assert made[0].closed

    async def test_max_idle_closes_idle_connections_above_min(self) -> None:
        """Idle connections older than max_idle are closed, keeping min_connections."""
        clock = ManualClock()
        pool, _ = make_pool(max_idle=30, min_connections=1, clock=clock)
        await pool.open()
        assert pool.stats()["idle"] == 1
        holders = [pool.acquire() for _ in range(3)]
        for holder in holders:
            await holder.__aenter__()
        for holder in holders[:2]:
            await holder.__aexit__(None, None, None)
        clock.advance(31)
        await holders[2].__aexit__(None, None, None)
        stats = pool.stats()
        assert stats["size"] == 1
        assert stats["closed"] == 2

    async def test_acquire_timeout(self) -> None:
        """acquire_timeout raises PoolTimeoutError naming the pool and its size."""
        pool, _ = make_pool(max_connections=1, acquire_timeout=2.0, name="db", clock=ManualClock())
        async with pool.acquire():
            with pytest.raises(PoolTimeoutError) as caught:
                async with pool.acquire():
                    pass
        error = caught.value
        assert isinstance(error, TimeoutError)
        assert isinstance(error, PortfolioError)
        assert (error.pool, error.max_connections, error.timeout) == ("db", 1, 2.0)
        assert "'db'" in str(error)
        assert pool.stats()["timeouts"] == 1
        assert pool.stats()["waiting"] == 0

    async def test_factory_timeout_is_not_ours(self) -> None:
        """A TimeoutError raised by the factory propagates as itself."""

        async def connect() -> Conn:
            raise TimeoutError("connect timed out")

        pool = AsyncConnectionPool(connect, acquire_timeout=5.0, clock=ManualClock())
        with pytest.raises(TimeoutError, match="connect timed out") as caught:
            async with pool.acquire():
                pass
        assert not isinstance(caught.value, PoolTimeoutError)
        assert pool.stats()["size"] == 0

    async def test_fast_path_with_timeout(self) -> None:
        """An idle connection is lent at once even when acquire_timeout is set."""
        clock = ManualClock()
        pool, made = make_pool(acquire_timeout=1.0, clock=clock)
        for _ in range(3):
            async with pool.acquire() as conn:
                assert conn is made[0]
        assert len(made) == 1
        assert clock.sleeps == []  # no acquire had to wait

    async def test_close(self) -> None:
        """close() closes idle connections now, lent ones on return, and fails waiters."""
        pool, made = make_pool(max_connections=2)
        async with pool:
            async with pool.acquire():
                pass
            holder = pool.acquire()
            lent = await holder.__aenter__()
            other = pool.acquire()
            await other.__aenter__()
            waiter = asyncio.create_task(pool.acquire().__aenter__())
            await until(lambda: pool.stats()["waiting"] == 1)
        assert pool.closed
        with pytest.raises(RuntimeError, match="closed"):
            await bounded(waiter)
        assert not lent.closed
        await holder.__aexit__(None, None, None)
        await other.__aexit__(None, None, None)
        assert all(conn.closed for conn in made)
        assert pool.stats()["size"] == 0
        with pytest.raises(RuntimeError, match="is closed"):
            async with pool.acquire():
                pass
        await pool.close()  # a second close does nothing

    async def test_close_during_open_closes_what_open_creates(self) -> None:
        """close() while open() awaits the factory: the new connection is closed, no more made."""
        gate = asyncio.Event()
        made: list[Conn] = []
        closed: list[Conn] = []

        async def connect() -> Conn:
            await gate.wait()
            made.append(Conn())
            return made[-1]

        pool = AsyncConnectionPool(connect, close=closed.append, min_connections=2)
        opening = asyncio.create_task(pool.open())
        await until(lambda: pool.stats()["in_use"] == 1)  # open() is in the factory
        await pool.close()
        gate.set()
        await bounded(opening)
        assert closed == made
        assert len(made) == 1  # open() stopped once it saw the pool closed
        stats = pool.stats()
        assert (stats["size"], stats["idle"], stats["in_use"]) == (0, 0, 0)
        assert (stats["created"], stats["closed"]) == (1, 1)

    async def test_close_during_acquire_fails_it(self) -> None:
        """An acquire creating or validating a connection when close() runs fails.

        Like a waiter, it raises the closed error; its connection is closed, not lent.
        """
        gate = asyncio.Event()
        made: list[Conn] = []

        async def connect() -> Conn:
            if made:  # the first one is made at once, the others wait for the gate
                await gate.wait()
            made.append(Conn())
            return made[-1]

        async def check(conn: Conn) -> bool:
            await gate.wait()
            return True

        pool = AsyncConnectionPool(connect, close=Conn.aclose, validate=check, max_connections=20)
        async with pool.acquire():
            pass  # one idle connection, to be validated by the first acquire below
        tasks = [asyncio.create_task(pool.acquire().__aenter__()) for _ in range(10)]
        await until(lambda: pool.stats()["in_use"] == 10)
        await pool.close()
        gate.set()
        for task in tasks:
            with pytest.raises(RuntimeError, match="is closed"):
                await bounded(task)
        assert len(made) == 10
        assert all(conn.closed for conn in made)
        stats = pool.stats()
        assert (stats["size"], stats["idle"], stats["in_use"]) == (0, 0, 0)
        assert stats["closed"] == 10

    async def test_many_opens_and_acquires_racing_close_leak_nothing(self) -> None:
        """Whatever the interleaving, every connection made is closed once the pool is."""
        made: list[Conn] = []

        async def connect() -> Conn:
            for _ in range(random.randrange(3)):
                await asyncio.sleep(0)
            made.append(Conn())
            return made[-1]

        for round_ in range(30):
            made.clear()
            pool = AsyncConnectionPool(
                connect, close=Conn.aclose, min_connections=3, max_connections=6
            )

            async def use(pool: AsyncConnectionPool[Conn] = pool) -> None:
                async with pool.acquire():
                    await asyncio.sleep(0)

            tasks = [asyncio.create_task(pool.open()) for _ in range(3)]
            tasks += [asyncio.create_task(use()) for _ in range(6)]
            for _ in range(round_ % 5):
                await asyncio.sleep(0)
            await pool.close()
            await bounded(asyncio.gather(*tasks, return_exceptions=True))
            assert all(conn.closed for conn in made)
            stats = pool.stats()
            assert (stats["size"], stats["idle"], stats["in_use"]) == (0, 0, 0)
            assert stats["closed"] == len(made)

    async def test_open_creates_min_connections(self) -> None:
        """open() (async with pool) creates min_connections."""
        pool, _ = make_pool(min_connections=3)
        async with pool:
            assert pool.stats()["idle"] == 3

    async def test_failing_factory_frees_the_slot(self) -> None:
        """A factory failure frees its slot, in acquire and in open."""
        calls = itertools.count()

        def connect() -> object:
            if next(calls) < 2:
                raise ConnectionError("refused")
            return object()

        pool = AsyncConnectionPool(connect, max_connections=1, min_connections=1)
        with pytest.raises(ConnectionError):
            await pool.open()
        with pytest.raises(ConnectionError):
            async with pool.acquire():
                pass
        assert pool.stats()["size"] == 0
        async with pool.acquire() as conn:
            assert conn is not None

    async def test_closing_without_a_close_callable(self) -> None:
        """Without ``close`` a discarded connection is just dropped (and counted)."""
        pool = AsyncConnectionPool(object)
        with pytest.raises(ValueError, match="x"):
            async with pool.acquire():
                raise ValueError("x")
        stats = pool.stats()
        assert (stats["size"], stats["closed"]) == (0, 1)

    async def test_close_failure_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A close that raises is logged, never raised."""

        def close(conn: object) -> None:
            raise OSError("already gone")

        pool = AsyncConnectionPool(object, close=close, name="p")
        with pytest.raises(ValueError, match="x"):
            async with pool.acquire():
                raise ValueError("x")
        assert "closing a connection failed" in caplog.text
        assert pool.stats()["size"] == 0

    async def test_subclass_hooks(self) -> None:
        """A subclass overriding create/close_resource/validate needs no callables."""
        events: list[str] = []

        class Pool(AsyncConnectionPool[str]):
            async def create(self) -> str:
                events.append("create")
                return "conn"

            async def close_resource(self, resource: str) -> None:
                events.append("close")

            async def validate(self, resource: str) -> bool:
                events.append("validate")
                return True

        pool = Pool(max_connections=1)
        async with pool:
            for _ in range(2):
                async with pool.acquire() as conn:
                    assert conn == "conn"
        assert events == ["create", "validate", "close"]
        assert await AsyncConnectionPool(object).validate(object())  # no validator: always
        assert repr(pool) == "Pool(name='Pool', size=0, max_connections=1, idle=0)"
        assert pool.name == "Pool"

    async def test_sync_hooks(self) -> None:
        """Plain callables work as factory, close and validate."""
        closed: list[object] = []
        pool: AsyncConnectionPool[list[Any]] = AsyncConnectionPool(
            list, close=closed.append, validate=lambda c: True
        )
        with pytest.raises(KeyError):
            async with pool.acquire():
                raise KeyError
        assert closed == [[]]

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"max_connections": 0}, ValueError, "max_connections"),
            ({"min_connections": 11}, ValueError, "min_connections"),
            ({"max_idle": 0}, ValueError, "max_idle"),
            ({"acquire_timeout": -1}, ValueError, "acquire_timeout"),
            ({"close": 3}, TypeError, "close"),
            ({"factory": None}, TypeError, "factory"),
            ({"discard_on": 3}, TypeError, "discard_on"),
        ],
        ids=[
            "no-slots",
            "min-above-max",
            "zero-idle",
            "negative-timeout",
            "close",
            "no-factory",
            "discard_on",
        ],
    )
    def test_checks_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], name: str
    ) -> None:
        """Wrong arguments raise TypeError/ValueError naming the parameter."""
        with pytest.raises(error, match=name):
            AsyncConnectionPool(**{"factory": object, **kwargs})
