"""Tests of @timed and measure_block."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio import timing
from python_mastery_portfolio.clock import SystemClock
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.timing import BlockTimer, measure_block, timed
from tests.conftest import TIMEOUT, raise_first, run_threads

_names = itertools.count()


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


class Sink:
    """A private logger and the records it received."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        self.logger = logging.getLogger(f"tests.timing.sink{next(_names)}")
        self.logger.setLevel(level)
        self.logger.propagate = False
        self.handler = _ListHandler()
        self.logger.addHandler(self.handler)

    @property
    def records(self) -> list[logging.LogRecord]:
        return self.handler.records

    @property
    def messages(self) -> list[str]:
        return self.handler.messages

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


@pytest.fixture
def sink() -> Iterator[Sink]:
    result = Sink()
    yield result
    result.close()


class CountingClock(ManualClock):
    """A manual clock that counts how often it is read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


def _name(func: Any) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _extra(record: logging.LogRecord, key: str) -> Any:
    """Read an attribute passed through ``extra=`` (unknown to LogRecord's type)."""
    return record.__dict__[key]


def _elapsed(timer: BlockTimer) -> float | None:
    """Read elapsed without the type checker narrowing it across the with statement."""
    return timer.elapsed


class TestTimedMessage:
    @pytest.mark.parametrize(
        ("unit", "shown"),
        [
            ("s", "0.250 s"),
            ("ms", "250.000 ms"),
            ("us", "250000.000 us"),
            ("ns", "250000000.000 ns"),
        ],
        ids=["s", "ms", "us", "ns"],
    )
    def test_units(self, sink: Sink, unit: Any, shown: str) -> None:
        """The duration is logged in the unit asked for, with three decimals."""
        clock = ManualClock()

        @timed(unit=unit, logger=sink.logger, clock=clock)
        def work() -> str:
            clock.advance(0.25)
            return "done"

        assert work() == "done"
        assert sink.messages == [f"{_name(work)} took {shown}"]

    def test_bare_defaults_to_ms(self, sink: Sink) -> None:
        """Bare @timed logs in milliseconds at INFO on this module's logger."""

        @timed
        def work() -> int:
            return 1

        logger = logging.getLogger("python_mastery_portfolio.timing")
        logger.addHandler(sink.handler)
        old_level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            assert work() == 1
        finally:
            logger.removeHandler(sink.handler)
            logger.setLevel(old_level)
        [record] = sink.records
        assert record.name == "python_mastery_portfolio.timing"
        assert record.levelno == logging.INFO
        assert record.getMessage().startswith(f"{_name(work)} took ")
        assert record.getMessage().endswith(" ms")

    def test_level(self, sink: Sink) -> None:
        """The level= option sets the record's level."""

        @timed(logger=sink.logger, level=logging.WARNING)
        def work() -> None:
            pass

        work()
        assert [record.levelno for record in sink.records] == [logging.WARNING]

    def test_record_extras(self, sink: Sink) -> None:
        """Records carry the timer name and the duration in seconds."""
        clock = ManualClock()

        @timed(logger=sink.logger, clock=clock)
        def work() -> None:
            clock.advance(2.0)

        work()
        [record] = sink.records
        assert _extra(record, "timer_name") == _name(work)
        assert _extra(record, "elapsed") == 2.0

    def test_record_points_at_caller(self, sink: Sink) -> None:
        """The record's location is the caller of the timed function, not this library."""

        @timed(logger=sink.logger)
        def work() -> None:
            pass

        work()
        [record] = sink.records
        assert record.funcName == "test_record_points_at_caller"
        assert record.pathname == __file__

    def test_seed_example(self, caplog: pytest.LogCaptureFixture) -> None:
        """The seed's section 2.2 example runs and logs its time in milliseconds."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.timing")

        @timed(unit="ms")
        def slow_function() -> None:
            # Automatically logs execution time in milliseconds
            pass

        slow_function()
        [record] = caplog.records
        assert record.getMessage().startswith(f"{_name(slow_function)} took ")
        assert record.getMessage().endswith(" ms")

    @given(
        duration=st.floats(min_value=0, max_value=1e6, allow_nan=False),
        unit=st.sampled_from(["s", "ms", "us", "ns"]),
    )
    def test_value_matches_clock(self, duration: float, unit: Any) -> None:
        """For any duration and unit, the logged value is the clock's difference scaled."""
        scale = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
        local = Sink()
        clock = ManualClock(start=10.0)

        @timed(unit=unit, logger=local.logger, clock=clock)
        def work() -> None:
            clock.advance(duration)

        try:
            work()
        finally:
            local.close()
        [record] = local.records
        assert _extra(record, "elapsed") == (10.0 + duration) - 10.0
        assert record.getMessage().endswith(f" took {_extra(record, 'elapsed') * scale:.3f} {unit}")


class TestTimedErrors:
    def test_raise_is_logged_and_propagates(self, sink: Sink) -> None:
        """A raising call is timed and logged, and the same exception propagates, untouched."""
        clock = ManualClock()
        error = ValueError("boom")

        @timed(logger=sink.logger, clock=clock)
        def work() -> None:
            clock.advance(0.5)
            raise error

        with pytest.raises(ValueError, match="boom") as caught:
            work()
        assert caught.value is error
        assert not hasattr(error, "__notes__")
        assert error.__cause__ is None
        assert error.__context__ is None
        assert sink.messages == [f"{_name(work)} took 500.000 ms (raised ValueError)"]

    @pytest.mark.parametrize(
        "fatal",
        [KeyboardInterrupt, SystemExit, asyncio.CancelledError],
        ids=["keyboard", "exit", "cancelled"],
    )
    def test_fatal_propagates(self, sink: Sink, fatal: type[BaseException]) -> None:
        """Interrupts, exits and cancellation propagate after being logged."""

        @timed(logger=sink.logger)
        def work() -> None:
            raise fatal

        with pytest.raises(fatal):
            work()
        assert sink.messages[0].endswith(f"(raised {fatal.__name__})")


class TestTimedDisabled:
    def test_disabled_level_skips_timing(self, sink: Sink) -> None:
        """When the level is disabled, nothing is logged and the clock is never read."""
        sink.logger.setLevel(logging.WARNING)
        clock = CountingClock()

        @timed(logger=sink.logger, clock=clock)
        def work() -> int:
            return 7

        assert work() == 7
        assert sink.records == []
        assert clock.reads == 0

    def test_level_change_takes_effect(self, sink: Sink) -> None:
        """Enabling the level after decorating starts the logging."""
        sink.logger.setLevel(logging.WARNING)

        @timed(logger=sink.logger)
        def work() -> None:
            pass

        work()
        sink.logger.setLevel(logging.INFO)
        work()
        assert len(sink.records) == 1

    async def test_async_disabled(self, sink: Sink) -> None:
        """A disabled async timer awaits the function without reading the clock."""
        sink.logger.setLevel(logging.WARNING)
        clock = CountingClock()

        @timed(logger=sink.logger, clock=clock)
        async def work() -> int:
            return 3

        assert await work() == 3
        assert clock.reads == 0
        assert sink.records == []


class TestTimedClock:
    @pytest.mark.parametrize(
        "clock", [None, SystemClock()], ids=["default", "another-system-clock"]
    )
    def test_system_clock_uses_perf_counter(
        self, sink: Sink, monkeypatch: pytest.MonkeyPatch, clock: SystemClock | None
    ) -> None:
        """The system clock is read through time.perf_counter, the timer meant for durations."""
        readings = iter([100.0, 100.125])
        monkeypatch.setattr(time, "perf_counter", lambda: next(readings))
        options: dict[str, Any] = {} if clock is None else {"clock": clock}

        @timed(logger=sink.logger, **options)
        def work() -> None:
            pass

        work()
        assert sink.messages == [f"{_name(work)} took 125.000 ms"]

    def test_system_clock_subclass_is_read_through_now(
        self, sink: Sink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A SystemClock subclass is not the system clock: its own now() is read."""
        monkeypatch.setattr(time, "perf_counter", lambda: pytest.fail("perf_counter was read"))
        readings = iter([5.0, 5.5])

        class Shifted(SystemClock):
            def now(self) -> float:
                return next(readings)

        @timed(logger=sink.logger, clock=Shifted())
        def work() -> None:
            pass

        work()
        assert sink.messages == [f"{_name(work)} took 500.000 ms"]

    def test_follows_the_shared_fast_path(
        self, sink: Sink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Whether perf_counter replaces a clock is clock.now_reader's decision, not ours."""
        monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
        monkeypatch.setattr(timing, "now_reader", lambda clock: time.monotonic)
        clock = ManualClock()

        @timed(logger=sink.logger, clock=clock)
        def work() -> None:
            clock.advance(1.0)

        work()
        assert sink.messages == [f"{_name(work)} took 0.000 ms"]

    def test_real_clock(self, sink: Sink) -> None:
        """With the real clock the logged duration is a non-negative number."""

        @timed(unit="ns", logger=sink.logger)
        def work() -> None:
            pass

        work()
        [record] = sink.records
        assert _extra(record, "elapsed") >= 0


class TestTimedValidation:
    @pytest.mark.parametrize("unit", ["m", "sec", "MS", "", 1, None], ids=repr)
    def test_bad_unit(self, unit: Any) -> None:
        """Any unit other than s, ms, us and ns is a ValueError naming unit, at once."""
        with pytest.raises(ValueError, match="unit must be one of"):
            timed(unit=unit)

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("logger", "tests.timing"),
            ("level", "INFO"),
            ("level", True),
            ("clock", object()),
        ],
        ids=["logger-str", "level-str", "level-bool", "clock-object"],
    )
    def test_bad_option(self, option: str, value: Any) -> None:
        """Options of the wrong type are a TypeError naming the option."""
        with pytest.raises(TypeError, match=f"^{option} must be"):
            timed(**{option: value})

    def test_generators_refused(self) -> None:
        """Generator functions are refused: only the generator's creation could be timed."""

        def gen() -> Iterator[int]:
            yield 1

        with pytest.raises(TypeError, match="@timed cannot decorate generator"):
            timed(gen)


class TestTimedWrapping:
    def test_metadata(self) -> None:
        """The wrapper keeps the name, docstring and wrapped function."""

        def work(x: int) -> int:
            """Do the work."""
            return x

        wrapped = timed(work)
        assert wrapped.__name__ == "work"
        assert wrapped.__doc__ == "Do the work."
        assert wrapped.__wrapped__ is work  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(work)

    def test_arguments_pass_through(self, sink: Sink) -> None:
        """Positional and keyword arguments reach the function unchanged."""

        @timed(logger=sink.logger)
        def work(a: int, /, b: int, *, c: int) -> tuple[int, int, int]:
            return a, b, c

        assert work(1, 2, c=3) == (1, 2, 3)
        assert work(1, b=2, c=3) == (1, 2, 3)

    def test_methods(self, sink: Sink) -> None:
        """Instance, class and static methods work, with either decorator order."""

        class Service:
            @timed(logger=sink.logger)
            def method(self, x: int) -> tuple[Service, int]:
                return self, x

            @classmethod
            @timed(logger=sink.logger)
            def class_below(cls, x: int) -> tuple[type[Service], int]:
                return cls, x

            @timed(logger=sink.logger)
            @classmethod
            def class_above(cls, x: int) -> tuple[type[Service], int]:
                return cls, x

            @staticmethod
            @timed(logger=sink.logger)
            def static_below(x: int) -> int:
                return x

            @timed(logger=sink.logger)
            @staticmethod
            def static_above(x: int) -> int:
                return x

        service = Service()
        assert service.method(1) == (service, 1)
        assert Service.class_below(2) == (Service, 2)
        assert service.class_below(2) == (Service, 2)
        assert Service.class_above(3) == (Service, 3)
        assert Service.static_below(4) == 4
        assert service.static_above(5) == 5
        names = [_extra(record, "timer_name") for record in sink.records]
        prefix = f"{__name__}.TestTimedWrapping.test_methods.<locals>.Service."
        assert names == [
            prefix + "method",
            prefix + "class_below",
            prefix + "class_below",
            prefix + "class_above",
            prefix + "static_below",
            prefix + "static_above",
        ]

    def test_threads_time_independently(self, sink: Sink) -> None:
        """Calls overlapping in 32 threads each log their own duration."""
        clock = ManualClock()
        workers = 32
        started = threading.Barrier(workers + 1)
        release = threading.Event()

        @timed(logger=sink.logger, clock=clock)
        def work() -> None:
            started.wait(TIMEOUT)
            release.wait(TIMEOUT)

        def drive(index: int) -> None:
            # The last thread is the driver: it advances the clock once every call has started.
            if index < workers:
                work()
                return
            started.wait(TIMEOUT)  # every call has read its start time
            clock.advance(2.0)
            release.set()

        raise_first(run_threads(workers + 1, drive, together=False))
        assert sink.messages == [f"{_name(work)} took 2000.000 ms"] * workers


class TestTimedAsync:
    async def test_stays_coroutine_function(self, sink: Sink) -> None:
        """A decorated coroutine function is still one, and its result is awaited."""
        clock = ManualClock()

        @timed(unit="s", logger=sink.logger, clock=clock)
        async def fetch(x: int) -> int:
            await clock.asleep(1.5)
            return x * 2

        assert inspect.iscoroutinefunction(fetch)
        assert await fetch(21) == 42
        assert sink.messages == [f"{_name(fetch)} took 1.500 s"]
        assert sink.records[0].funcName == "test_stays_coroutine_function"

    async def test_bare(self, sink: Sink) -> None:
        """Bare @timed works on async def."""

        @timed
        async def fetch() -> str:
            return "ok"

        assert inspect.iscoroutinefunction(fetch)
        assert await fetch() == "ok"

    async def test_async_callable_object(self, sink: Sink) -> None:
        """An object with async __call__ gets a coroutine-function wrapper."""

        class Fetcher:
            async def __call__(self) -> int:
                return 5

        wrapped = timed(logger=sink.logger)(Fetcher())
        assert inspect.iscoroutinefunction(wrapped)
        assert await wrapped() == 5
        assert len(sink.records) == 1

    async def test_raise(self, sink: Sink) -> None:
        """A raising coroutine is logged and its exception propagates unchanged."""
        clock = ManualClock()
        error = KeyError("k")

        @timed(logger=sink.logger, clock=clock)
        async def fetch() -> None:
            clock.advance(0.001)
            raise error

        with pytest.raises(KeyError) as caught:
            await fetch()
        assert caught.value is error
        assert sink.messages == [f"{_name(fetch)} took 1.000 ms (raised KeyError)"]

    async def test_cancellation_propagates(self, sink: Sink) -> None:
        """A cancelled call is logged as raising CancelledError, and stays cancelled."""
        started = asyncio.Event()

        @timed(logger=sink.logger)
        async def fetch() -> None:
            started.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(fetch())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sink.messages[0].endswith("(raised CancelledError)")

    async def test_async_method(self, sink: Sink) -> None:
        """Async methods work and keep their binding."""

        class Client:
            @timed(logger=sink.logger)
            async def get(self, x: int) -> tuple[Client, int]:
                return self, x

        client = Client()
        assert await client.get(1) == (client, 1)

    async def test_tasks_time_independently(self, sink: Sink) -> None:
        """Fifty overlapping tasks each log their own duration."""
        clock = ManualClock()
        tasks_count = 50
        release = asyncio.Event()

        @timed(logger=sink.logger, clock=clock)
        async def fetch(index: int) -> int:
            await release.wait()
            return index

        tasks = [asyncio.create_task(fetch(index)) for index in range(tasks_count)]
        await asyncio.sleep(0)  # every task has started and read its start time
        clock.advance(3.0)
        release.set()
        assert await asyncio.gather(*tasks) == list(range(tasks_count))
        assert sink.messages == [f"{_name(fetch)} took 3000.000 ms"] * tasks_count


class TestMeasureBlock:
    def test_with(self, sink: Sink) -> None:
        """A with block sets elapsed on exit and logs the name and time."""
        clock = ManualClock()
        with measure_block("load", logger=sink.logger, clock=clock) as timer:
            assert _elapsed(timer) is None
            clock.advance(1.5)
        assert timer.elapsed == 1.5
        assert sink.messages == ["load took 1500.000 ms"]
        [record] = sink.records
        assert _extra(record, "timer_name") == "load"
        assert _extra(record, "elapsed") == 1.5
        assert record.funcName == "test_with"

    async def test_async_with(self, sink: Sink) -> None:
        """An async with block is timed the same way."""
        clock = ManualClock()
        async with measure_block("fetch", unit="s", logger=sink.logger, clock=clock) as timer:
            await clock.asleep(0.75)
        assert timer.elapsed == 0.75
        assert sink.messages == ["fetch took 0.750 s"]
        assert sink.records[0].funcName == "test_async_with"

    @pytest.mark.parametrize("use_async", [False, True], ids=["with", "async-with"])
    async def test_raise(self, sink: Sink, use_async: bool) -> None:
        """A raising block is timed and logged, and its exception propagates."""
        clock = ManualClock()
        timer = measure_block("step", logger=sink.logger, clock=clock)
        error = RuntimeError("bad")
        with pytest.raises(RuntimeError) as caught:
            if use_async:
                async with timer:
                    clock.advance(0.002)
                    raise error
            else:
                with timer:
                    clock.advance(0.002)
                    raise error
        assert caught.value is error
        assert timer.elapsed == 0.002
        assert sink.messages == ["step took 2.000 ms (raised RuntimeError)"]

    def test_disabled_still_measures(self, sink: Sink) -> None:
        """With the level disabled, nothing is logged but elapsed is still set."""
        sink.logger.setLevel(logging.ERROR)
        clock = ManualClock()
        with measure_block("quiet", logger=sink.logger, clock=clock) as timer:
            clock.advance(4.0)
        assert timer.elapsed == 4.0
        assert sink.records == []

    async def test_async_disabled_still_measures(self, sink: Sink) -> None:
        """The async form also measures with the level disabled."""
        sink.logger.setLevel(logging.ERROR)
        clock = ManualClock()
        async with measure_block("quiet", logger=sink.logger, clock=clock) as timer:
            clock.advance(4.0)
        assert timer.elapsed == 4.0
        assert sink.records == []

    def test_reuse_and_reentry(self, sink: Sink) -> None:
        """A finished timer may run again; a running one may not be entered again."""
        clock = ManualClock()
        timer = measure_block("twice", logger=sink.logger, clock=clock)
        with timer:
            clock.advance(1.0)
        with timer:
            assert _elapsed(timer) is None
            with pytest.raises(RuntimeError, match="'twice' is already running"), timer:
                pass  # pragma: no cover - entering raises before the body runs
            clock.advance(2.0)
        assert timer.elapsed == 2.0
        assert sink.messages == ["twice took 1000.000 ms", "twice took 2000.000 ms"]

    def test_seed_example(self, caplog: pytest.LogCaptureFixture) -> None:
        """The seed's section 8.1 example runs and logs the block's name."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.timing")
        processed: list[int] = []

        def process_large_dataset() -> None:
            processed.extend(range(3))

        with measure_block("data_processing"):
            # Code block is timed and logged
            process_large_dataset()

        assert processed == [0, 1, 2]
        [record] = caplog.records
        assert record.getMessage().startswith("data_processing took ")
        assert record.levelno == logging.INFO

    def test_attributes_and_repr(self) -> None:
        """The timer exposes its name and unit, and shows them in its repr."""
        clock = ManualClock()
        timer = measure_block("x", unit="us", clock=clock)
        assert isinstance(timer, BlockTimer)
        assert (timer.name, timer.unit) == ("x", "us")
        assert repr(timer) == "BlockTimer(name='x', unit='us', elapsed=None)"

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"name": 3}, TypeError, "^name must be a str"),
            ({"name": "x", "unit": "h"}, ValueError, "^unit must be one of"),
            ({"name": "x", "logger": object()}, TypeError, "^logger must be"),
            ({"name": "x", "level": 2.5}, TypeError, "^level must be"),
            ({"name": "x", "clock": 1}, TypeError, "^clock must be"),
        ],
        ids=["name", "unit", "logger", "level", "clock"],
    )
    def test_validation(self, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
        """Bad arguments are refused when the timer is created, naming the argument."""
        with pytest.raises(error, match=match):
            measure_block(**kwargs)

    async def test_tasks_time_independently(self, sink: Sink) -> None:
        """Fifty overlapping tasks with their own timers each measure their own block."""
        clock = ManualClock()
        release = asyncio.Event()

        async def step(index: int) -> BlockTimer:
            async with measure_block(f"t{index}", logger=sink.logger, clock=clock) as timer:
                await release.wait()
            return timer

        tasks = [asyncio.create_task(step(index)) for index in range(50)]
        await asyncio.sleep(0)
        clock.advance(3.0)
        release.set()
        timers = await asyncio.gather(*tasks)
        assert [timer.elapsed for timer in timers] == [3.0] * 50
        assert sorted(sink.messages) == sorted(f"t{i} took 3000.000 ms" for i in range(50))
