"""Issue 16, feature 9: forced states, mixed exclude lists, generators, per-state listeners."""

from __future__ import annotations

import errno
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.resilience import CircuitBreaker, CircuitState
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def ok() -> str:
    return "ok"


def boom() -> None:
    raise OSError("down")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make(clock: ManualClock) -> Callable[..., CircuitBreaker]:
    def build(**kwargs: Any) -> CircuitBreaker:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("name", "test")
        return CircuitBreaker(**kwargs)

    return build


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(OSError, match="down"):
            breaker.call(boom)


class TestForcedStates:
    def test_force_open_fails_fast_without_retry_after(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """Forced open: calls never run and CircuitOpenError has ``retry_after=None``."""
        breaker = make()
        calls: list[int] = []
        breaker.force_open()
        with pytest.raises(CircuitOpenError, match="forced open") as info:
            breaker.call(calls.append, 1)
        assert info.value.retry_after is None
        assert (breaker.state, breaker.forced, calls) == (OPEN, OPEN, [])

    def test_force_open_outlasts_the_recovery_timeout(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """pybreaker's open(): no probe gets through, however long it has been open."""
        breaker = make(recovery_timeout=5)
        breaker.force_open()
        clock.advance(3600)
        assert breaker.state is OPEN
        with pytest.raises(CircuitOpenError):
            breaker.call(ok)
        assert breaker.stats()["rejected"] == 1

    def test_force_open_an_open_circuit_holds_it(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Forcing an already open circuit reports no transition but stops its recovery."""
        breaker = make(failure_threshold=1, recovery_timeout=5)
        seen: list[tuple[CircuitState, CircuitState]] = []
        breaker.on_state_change(lambda old, new: seen.append((old, new)))
        fail(breaker)
        breaker.force_open()
        clock.advance(10)
        assert breaker.state is OPEN
        assert seen == [(CLOSED, OPEN)]

    def test_force_closed_never_opens(self, make: Callable[..., CircuitBreaker]) -> None:
        """Forced closed: every call runs, failures are counted, the circuit stays closed."""
        breaker = make(failure_threshold=2)
        breaker.force_closed()
        fail(breaker, 10)
        assert breaker.call(ok) == "ok"
        stats = breaker.stats()
        assert (stats["state"], stats["failures"], stats["opened"]) == (CLOSED, 10, 0)
        assert breaker.forced is CLOSED

    def test_force_closed_closes_an_open_circuit(self, make: Callable[..., CircuitBreaker]) -> None:
        """Forcing closed from open is a transition the listeners see."""
        breaker = make(failure_threshold=1)
        seen: list[tuple[CircuitState, CircuitState]] = []
        breaker.on_state_change(lambda old, new: seen.append((old, new)))
        fail(breaker)
        breaker.force_closed()
        assert breaker.call(ok) == "ok"
        assert seen == [(CLOSED, OPEN), (OPEN, CLOSED)]

    def test_reset_ends_a_forced_state(self, make: Callable[..., CircuitBreaker]) -> None:
        """reset() closes the circuit and the normal rules apply again."""
        breaker = make(failure_threshold=1)
        breaker.force_closed()
        fail(breaker, 3)
        breaker.reset()
        assert breaker.forced is None
        fail(breaker)
        assert breaker.state is OPEN
        breaker.force_open()
        breaker.reset()
        assert (breaker.state, breaker.forced) == (CLOSED, None)

    def test_switch_between_forced_states(self, make: Callable[..., CircuitBreaker]) -> None:
        """force_open and force_closed replace each other."""
        breaker = make()
        breaker.force_open()
        breaker.force_closed()
        assert breaker.call(ok) == "ok"
        breaker.force_open()
        assert breaker.forced is OPEN

    def test_calls_in_flight_do_not_count_after_forcing(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """A call that started before force_closed() cannot open the circuit it finishes in."""
        breaker = make(failure_threshold=1)
        with pytest.raises(OSError, match="late"), breaker:
            breaker.force_open()
            breaker.reset()
            raise OSError("late")
        assert breaker.state is CLOSED

    def test_threads_calling_while_forced_open_all_fail_fast(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """Many threads against a forced-open breaker: every call is rejected, none runs."""
        breaker = make()
        breaker.force_open()
        ran: list[int] = []

        def body(index: int) -> bool:
            try:
                breaker.call(ran.append, index)
            except CircuitOpenError:
                return True
            return False  # pragma: no cover - only a broken breaker runs the call

        assert all(raise_first(run_threads(16, body)))
        assert ran == []
        assert breaker.stats()["rejected"] == 16


class TestMixedExceptionLists:
    def test_exclude_mixes_types_and_predicates(self, make: Callable[..., CircuitBreaker]) -> None:
        """``exclude=[TypeError, predicate]``: either one makes an error count as neither."""
        breaker = make(
            failure_threshold=1,
            exclude=[TypeError, lambda error: getattr(error, "errno", None) == errno.ENOENT],
        )
        with pytest.raises(TypeError):
            breaker.call(len, 5)  # type: ignore[arg-type]  # the TypeError is the point
        with pytest.raises(FileNotFoundError):
            breaker.call(open, "/nonexistent/file/for/the/test")
        assert breaker.state is CLOSED
        assert breaker.stats()["ignored"] == 2
        fail(breaker)
        assert breaker.state is OPEN

    def test_exclude_as_a_mixed_tuple(self, make: Callable[..., CircuitBreaker]) -> None:
        """A tuple holding a predicate is read as a mixed list too."""
        breaker = make(failure_threshold=1, exclude=(KeyError, lambda error: "soft" in str(error)))
        with pytest.raises(OSError, match="soft"):
            breaker.call(lambda: (_ for _ in ()).throw(OSError("soft")))
        assert breaker.state is CLOSED

    def test_exceptions_as_a_mixed_list(self, make: Callable[..., CircuitBreaker]) -> None:
        """``exceptions=`` takes the same lists: only matches are failures."""
        breaker = make(
            failure_threshold=1,
            exceptions=[
                ConnectionError,
                lambda error: isinstance(error, OSError) and "5xx" in str(error),
            ],
        )
        with pytest.raises(OSError, match="4xx"):
            breaker.call(lambda: (_ for _ in ()).throw(OSError("4xx")))
        assert breaker.state is CLOSED
        with pytest.raises(OSError, match="5xx"):
            breaker.call(lambda: (_ for _ in ()).throw(OSError("5xx")))
        assert breaker.state is OPEN

    def test_empty_exclude_list_excludes_nothing(self, make: Callable[..., CircuitBreaker]) -> None:
        """``exclude=[]`` is the same as the default, nothing excluded."""
        breaker = make(failure_threshold=1, exclude=[])
        fail(breaker)
        assert breaker.state is OPEN

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"exceptions": []}, "exceptions"),
            ({"exclude": [TypeError, 3]}, "exclude"),
            ({"exceptions": [int]}, "exceptions"),
            ({"exclude": (TypeError, "x")}, "exclude"),
        ],
        ids=["empty-exceptions", "exclude-int", "exceptions-not-exception", "exclude-str"],
    )
    def test_bad_entries_name_the_parameter(self, kwargs: dict[str, Any], name: str) -> None:
        """A list entry that is neither an exception type nor callable raises TypeError."""
        with pytest.raises(TypeError, match=name):
            CircuitBreaker(**kwargs)

    def test_fatal_errors_never_match_a_list(self, make: Callable[..., CircuitBreaker]) -> None:
        """KeyboardInterrupt is never a failure, even under a predicate that says yes."""
        breaker = make(failure_threshold=1, exceptions=[lambda error: True])

        def interrupt() -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            breaker.call(interrupt)
        assert breaker.state is CLOSED


class TestGenerators:
    def test_success_is_judged_when_the_iteration_ends(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """The generator's items pass through; the success is counted at its end."""
        breaker = make()

        @breaker
        def numbers(n: int) -> Generator[int, None, None]:
            yield from range(n)

        iterator = numbers(3)
        assert next(iterator) == 0
        assert breaker.stats()["successes"] == 0
        assert list(iterator) == [1, 2]
        assert breaker.stats()["successes"] == 1
        assert numbers.__name__ == "numbers"

    def test_failure_during_the_iteration_opens(self, make: Callable[..., CircuitBreaker]) -> None:
        """An error raised between items is a failure of the call."""
        breaker = make(failure_threshold=1)

        @breaker
        def flaky() -> Generator[int, None, None]:
            yield 1
            raise OSError("down")

        iterator = flaky()
        assert next(iterator) == 1
        with pytest.raises(OSError, match="down"):
            next(iterator)
        assert breaker.state is OPEN

    def test_open_circuit_fails_at_the_first_next(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """While open, the generator's body never starts: the first ``next`` fails fast."""
        breaker = make(failure_threshold=1)
        started: list[bool] = []

        @breaker
        def stream() -> Generator[int, None, None]:
            started.append(True)
            yield 1

        fail(breaker)
        iterator = stream()
        with pytest.raises(CircuitOpenError):
            next(iterator)
        assert started == []

    def test_half_open_probe_by_a_generator(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """A generator run to its end is a successful probe and closes the circuit."""
        breaker = make(failure_threshold=1, recovery_timeout=5)

        @breaker
        def stream() -> Generator[int, None, None]:
            yield 1

        fail(breaker)
        clock.advance(5)
        assert list(stream()) == [1]
        assert breaker.state is CLOSED

    def test_close_early_counts_as_neither(self, make: Callable[..., CircuitBreaker]) -> None:
        """A consumer that stops early neither fails nor succeeds the call."""
        breaker = make()
        closed: list[bool] = []

        @breaker
        def stream() -> Generator[int, None, None]:
            try:
                yield 1
                yield 2
            finally:
                closed.append(True)

        iterator = stream()
        assert next(iterator) == 1
        iterator.close()
        assert closed == [True]
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"], stats["ignored"]) == (0, 0, 1)

    def test_send_throw_and_return_value_pass_through(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """``send`` and ``throw`` reach the wrapped generator; its return value comes back."""
        breaker = make()

        @breaker
        def echo() -> Generator[str, str, str]:
            received = yield "ready"
            try:
                yield f"got {received}"
            except ValueError:
                yield "recovered"
            return "done"

        iterator = echo()
        assert next(iterator) == "ready"
        assert iterator.send("x") == "got x"
        assert iterator.throw(ValueError("y")) == "recovered"
        with pytest.raises(StopIteration) as info:
            next(iterator)
        assert info.value.value == "done"
        assert breaker.stats()["successes"] == 1

    def test_methods_that_generate(self, make: Callable[..., CircuitBreaker]) -> None:
        """A generator method keeps binding to its instance."""
        breaker = make()

        class Source:
            @breaker
            def items(self) -> Generator[str, None, None]:
                yield type(self).__name__

        assert list(Source().items()) == ["Source"]


class TestAsyncGenerators:
    async def test_items_pass_and_success_at_the_end(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """An async generator's items pass through; success is counted when it ends."""
        breaker = make()

        @breaker
        async def numbers(n: int) -> AsyncGenerator[int, None]:
            for i in range(n):
                yield i

        assert [i async for i in numbers(3)] == [0, 1, 2]
        assert breaker.stats()["successes"] == 1
        assert numbers.__name__ == "numbers"

    async def test_failure_during_the_iteration_opens(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """An error raised between items is a failure; the circuit opens."""
        breaker = make(failure_threshold=1)

        @breaker
        async def flaky() -> AsyncGenerator[int, None]:
            yield 1
            raise OSError("down")

        iterator = flaky()
        assert await iterator.__anext__() == 1
        with pytest.raises(OSError, match="down"):
            await iterator.__anext__()
        assert breaker.state is OPEN

    async def test_open_circuit_fails_at_the_first_anext(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """While open, the first ``__anext__`` raises CircuitOpenError; the body never starts."""
        breaker = make(failure_threshold=1)
        started: list[bool] = []

        @breaker
        async def stream() -> AsyncGenerator[int, None]:
            started.append(True)
            yield 1

        fail(breaker)
        with pytest.raises(CircuitOpenError):
            await stream().__anext__()
        assert started == []

    async def test_half_open_probe(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """An async generator run to its end is a successful probe."""
        breaker = make(failure_threshold=1, recovery_timeout=5)

        @breaker
        async def stream() -> AsyncGenerator[int, None]:
            yield 1

        fail(breaker)
        clock.advance(5)
        assert [i async for i in stream()] == [1]
        assert breaker.state is CLOSED

    async def test_aclose_early_closes_the_wrapped_one_and_counts_as_neither(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """``aclose`` after the first item finalizes the wrapped generator; nothing counted."""
        breaker = make()
        closed: list[bool] = []

        @breaker
        async def stream() -> AsyncGenerator[int, None]:
            try:
                yield 1
                yield 2
            finally:
                closed.append(True)

        iterator = stream()
        assert await iterator.__anext__() == 1
        await iterator.aclose()
        assert closed == [True]
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"], stats["ignored"]) == (0, 0, 1)

    async def test_asend_and_athrow_pass_through(self, make: Callable[..., CircuitBreaker]) -> None:
        """``asend`` and a handled ``athrow`` reach the wrapped generator."""
        breaker = make()

        @breaker
        async def echo() -> AsyncGenerator[str, str]:
            received = yield "ready"
            try:
                yield f"got {received}"
            except ValueError:
                yield "recovered"

        iterator = echo()
        assert await iterator.__anext__() == "ready"
        assert await iterator.asend("x") == "got x"
        assert await iterator.athrow(ValueError("y")) == "recovered"
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()
        assert breaker.stats()["successes"] == 1

    async def test_unhandled_athrow_is_the_call_outcome(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """An exception thrown in and not handled comes back out and counts as a failure."""
        breaker = make(failure_threshold=1)

        @breaker
        async def stream() -> AsyncGenerator[int, None]:
            yield 1

        iterator = stream()
        assert await iterator.__anext__() == 1
        with pytest.raises(OSError, match="thrown"):
            await iterator.athrow(OSError("thrown"))
        assert breaker.state is OPEN


class TestPerStateListeners:
    def test_on_state_hears_only_its_state(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """A listener for OPEN hears the transitions into OPEN only."""
        breaker = make(failure_threshold=1, recovery_timeout=5)
        opened: list[tuple[CircuitState, CircuitState]] = []
        half: list[CircuitState] = []
        assert breaker.on_state(OPEN, lambda old, new: opened.append((old, new))) is not None

        @breaker.on_state(HALF_OPEN)
        def probing(old: CircuitState, new: CircuitState) -> None:
            half.append(old)

        fail(breaker)
        clock.advance(5)
        fail(breaker)
        clock.advance(5)
        breaker.call(ok)
        assert opened == [(CLOSED, OPEN), (HALF_OPEN, OPEN)]
        assert half == [OPEN, OPEN]
        assert callable(probing)

    def test_listeners_for_every_state_and_one_state_run_in_registration_order(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """Per-state and all-state listeners share one order: registration order."""
        breaker = make(failure_threshold=1)
        order: list[str] = []
        breaker.on_state(OPEN, lambda old, new: order.append("open-only"))
        breaker.on_state_change(lambda old, new: order.append("all"))
        breaker.on_state(CLOSED, lambda old, new: order.append("closed-only"))
        fail(breaker)
        breaker.reset()
        assert order == ["open-only", "all", "all", "closed-only"]

    def test_remove_listener_at_run_time(self, make: Callable[..., CircuitBreaker]) -> None:
        """A removed listener hears nothing more; removing twice says False."""
        breaker = make(failure_threshold=1)
        seen: list[CircuitState] = []

        def listener(old: CircuitState, new: CircuitState) -> None:
            seen.append(new)

        breaker.on_state(OPEN, listener)
        breaker.on_state_change(listener)
        fail(breaker)
        assert breaker.remove_listener(listener) is True
        assert breaker.remove_listener(listener) is False
        breaker.reset()
        fail(breaker)
        assert seen == [OPEN, OPEN]

    def test_a_listener_may_register_another(self, make: Callable[..., CircuitBreaker]) -> None:
        """Registering from inside a listener takes effect from the next transition."""
        breaker = make(failure_threshold=1)
        late: list[CircuitState] = []

        def first(old: CircuitState, new: CircuitState) -> None:
            breaker.on_state(CLOSED, lambda old, new: late.append(new))

        breaker.on_state(OPEN, first)
        fail(breaker)
        assert late == []
        breaker.reset()
        assert late == [CLOSED]

    @pytest.mark.parametrize("state", ["open", None, 1], ids=repr)
    def test_state_must_be_a_circuit_state(self, state: Any) -> None:
        """on_state with something else than a CircuitState raises TypeError naming ``state``."""
        with pytest.raises(TypeError, match="state must be a CircuitState"):
            CircuitBreaker().on_state(state, print)

    def test_listener_must_be_callable(self) -> None:
        """A non-callable listener raises TypeError, in either form."""
        breaker = CircuitBreaker()
        with pytest.raises(TypeError, match="listener"):
            breaker.on_state(OPEN, 3)  # type: ignore[call-overload]  # the wrong type is the point
        with pytest.raises(TypeError, match="listener"):
            breaker.on_state(OPEN)(3)  # type: ignore[type-var]  # the wrong type is the point
