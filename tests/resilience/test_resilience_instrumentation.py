"""The rate limiter's and circuit breaker's reports to the instrumentation hook."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from python_mastery_portfolio._internal.callables import qualified_name
from python_mastery_portfolio.exceptions import CircuitOpenError, RateLimitError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.resilience import CircuitBreaker, RateLimiter, rate_limit
from python_mastery_portfolio.testing import ManualClock


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


class TestRateLimiter:
    def test_try_acquire(self, recorder: RecordingInstrument) -> None:
        """Each try_acquire is a decision; a refusal is also an event."""
        limiter = RateLimiter(2, clock=ManualClock(), name="api")
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
        assert recorder.total("rate_limit.decisions", limiter="api", decision="allowed") == 2
        assert recorder.total("rate_limit.decisions", limiter="api", decision="rejected") == 1
        (event,) = recorder.events("rate_limit.rejected")
        assert event.attributes == {"limiter": "api", "rate_limit.retry_after": 0.0}

    def test_take_is_one_decision(self, recorder: RecordingInstrument) -> None:
        """take and atake report each decision once; a refusal's event has its retry_after."""
        limiter = RateLimiter(2, per=2, clock=ManualClock(), name="web")
        verdicts = [limiter.take(key="k") for _ in range(2)]
        verdicts.append(asyncio.run(limiter.atake(key="k")))
        assert [verdict.allowed for verdict in verdicts] == [True, True, False]
        assert recorder.total("rate_limit.decisions", limiter="web", decision="allowed") == 2
        assert recorder.total("rate_limit.decisions", limiter="web", decision="rejected") == 1
        (event,) = recorder.events("rate_limit.rejected")
        assert event.attributes == {"limiter": "web", "rate_limit.retry_after": 1.0}
        stats = limiter.stats()
        assert (stats["allowed"], stats["rejected"]) == (2, 1)

    def test_switched_on_and_off(self) -> None:
        """A limiter made before the install reports only while installed."""
        limiter = RateLimiter(10, clock=ManualClock())
        limiter.try_acquire()
        recorder = RecordingInstrument()
        with install(recorder):
            limiter.try_acquire()
        limiter.try_acquire()
        assert recorder.total("rate_limit.decisions", limiter="RateLimiter") == 1
        assert limiter.stats()["allowed"] == 3

    def test_acquire_waits_and_refusals(self, recorder: RecordingInstrument) -> None:
        """acquire reports the wait it was given; a timeout is a refusal with retry_after."""
        clock = ManualClock()
        limiter = RateLimiter(2, burst=1, clock=clock, name="w")
        limiter.acquire()
        limiter.acquire()
        with pytest.raises(RateLimitError):
            limiter.acquire(timeout=0.1)
        assert recorder.observations("rate_limit.wait", limiter="w") == [0.0, 0.5]
        assert recorder.total("rate_limit.decisions", decision="allowed") == 2
        (event,) = recorder.events("rate_limit.rejected", limiter="w")
        assert event.attributes["rate_limit.retry_after"] == 0.5

    def test_async(self, recorder: RecordingInstrument) -> None:
        """aacquire reports like acquire."""
        limiter = RateLimiter(4, burst=1, clock=ManualClock(), name="a")

        async def main() -> None:
            await asyncio.gather(*(limiter.aacquire() for _ in range(3)))

        asyncio.run(main())
        # The manual clock moves on as the first waiter sleeps: each later one waits 0.25 s.
        assert recorder.observations("rate_limit.wait", limiter="a") == [0.0, 0.25, 0.25]

    def test_decorator_names_the_limiter(self, recorder: RecordingInstrument) -> None:
        """@rate_limit names its limiter after the function."""

        @rate_limit(1, clock=ManualClock())
        def ping() -> str:
            return "pong"

        ping()
        with pytest.raises(RateLimitError):
            ping()
        name = qualified_name(ping)
        assert ping.limiter.name == name
        assert recorder.total("rate_limit.decisions", limiter=name) == 2

    def test_name_must_be_a_string(self) -> None:
        """A name of another type is refused."""
        with pytest.raises(TypeError, match="name must be a str"):
            RateLimiter(1, name=3)  # type: ignore[arg-type]  # the point of the test


class TestCircuitBreaker:
    def test_transitions_rejections_and_probes(self, recorder: RecordingInstrument) -> None:
        """Open, rejected, half-open probe, closed again: each is reported."""
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, clock=clock, name="db")
        with pytest.raises(OSError):
            breaker.call(_fail)
        with pytest.raises(CircuitOpenError):
            breaker.call(int, "1")
        clock.advance(10)
        assert breaker.call(int, "2") == 2
        changes = [
            (event.attributes["circuit.from"], event.attributes["circuit.to"])
            for event in recorder.events("circuit.state_change", breaker="db")
        ]
        assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
        assert [r.value for r in recorder.select("gauge", "circuit.state")] == [1, 2, 0]
        assert recorder.total("circuit.transitions", breaker="db", state="open") == 1
        assert recorder.events("circuit.rejected")[0].attributes == {
            "breaker": "db",
            "circuit.state": "open",
        }
        assert recorder.total("circuit.rejections", breaker="db") == 1
        assert len(recorder.events("circuit.probe", breaker="db")) == 1
        assert recorder.total("circuit.probes", breaker="db") == 1

    def test_forced_open(self, recorder: RecordingInstrument) -> None:
        """A call refused by a forced-open breaker is a rejection."""
        breaker = CircuitBreaker(name="f")
        breaker.force_open()
        with pytest.raises(CircuitOpenError):
            breaker.call(int, "1")
        assert recorder.total("circuit.rejections", breaker="f") == 1

    def test_quiet_without_instrument(self) -> None:
        """Without an instrument the breaker works the same and reports nothing."""
        recorder = RecordingInstrument()
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
        with pytest.raises(OSError):
            breaker.call(_fail)
        with pytest.raises(CircuitOpenError):
            breaker.call(int, "1")
        clock.advance(1)
        assert breaker.call(int, "3") == 3
        assert recorder.records == []


def _fail() -> None:
    raise OSError("down")
