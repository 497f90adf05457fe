"""The retry engine's reports to the instrumentation hook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import RetryExhaustedError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.retrying import retry, retrying
from python_mastery_portfolio.testing import ManualClock

QUIET = logging.getLogger("quiet.instrumented")
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "deadline": {"deadline": 100.0},
    "result-check": {"retry_on_result": lambda value: value == "reject"},
}


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


def _run(kwargs: dict[str, Any], is_async: bool, *outcomes: object) -> Any:
    queue = list(outcomes)

    def flaky() -> Any:
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def aflaky() -> Any:
        return flaky()

    options: dict[str, Any] = {"max_attempts": 3, "delay": 1.0, "exceptions": ConnectionError}
    decorator = retry(**{**options, **kwargs}, clock=ManualClock(), logger=QUIET)
    if is_async:
        return asyncio.run(decorator(aflaky)())
    return decorator(flaky)()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kwargs", VARIANTS.values(), ids=VARIANTS.keys())
class TestRetryReports:
    def test_success_at_once_reports_nothing(
        self, recorder: RecordingInstrument, kwargs: dict[str, Any], is_async: bool
    ) -> None:
        """A call that succeeds at once is not a retry: nothing is reported."""
        assert _run(kwargs, is_async, "ok") == "ok"
        assert recorder.records == []

    def test_success_after_retries(
        self, recorder: RecordingInstrument, kwargs: dict[str, Any], is_async: bool
    ) -> None:
        """Each retry is an attempt event, a count and a wait; the end is retry.succeeded."""
        assert _run(kwargs, is_async, ConnectionError(), ConnectionError(), "ok") == "ok"
        attempts = recorder.events("retry.attempt")
        assert [event.attributes["retry.attempt"] for event in attempts] == [1, 2]
        assert {event.attributes["error.type"] for event in attempts} == {"ConnectionError"}
        assert [event.attributes["retry.wait"] for event in attempts] == [1.0, 2.0]
        function = attempts[0].attributes["function"]
        assert isinstance(function, str)
        assert function.endswith("flaky")
        assert recorder.total("retry.attempts", function=function) == 2
        assert recorder.observations("retry.wait", function=function) == [1.0, 2.0]
        (end,) = recorder.events("retry.succeeded")
        assert end.attributes == {"function": function, "retry.attempts": 3}
        assert recorder.total("retry.successes", function=function) == 1
        assert recorder.events("retry.gave_up") == []

    def test_give_up(
        self, recorder: RecordingInstrument, kwargs: dict[str, Any], is_async: bool
    ) -> None:
        """Running out of attempts is retry.gave_up with the attempt count and error type."""
        with pytest.raises(ConnectionError):
            _run(kwargs, is_async, ConnectionError(), ConnectionError(), ConnectionError())
        (end,) = recorder.events("retry.gave_up")
        assert end.attributes["retry.attempts"] == 3
        assert end.attributes["error.type"] == "ConnectionError"
        assert recorder.total("retry.giveups") == 1
        assert recorder.total("retry.attempts") == 2

    def test_aborted_by_an_error_not_retried(
        self, recorder: RecordingInstrument, kwargs: dict[str, Any], is_async: bool
    ) -> None:
        """An error that is not retried after a retry ends the run as retry.aborted."""
        with pytest.raises(KeyError):
            _run(kwargs, is_async, ConnectionError(), KeyError("k"))
        (end,) = recorder.events("retry.aborted")
        assert end.attributes["retry.attempts"] == 2
        assert end.attributes["error.type"] == "KeyError"


class TestOtherPaths:
    def test_first_attempt_gives_up(self, recorder: RecordingInstrument) -> None:
        """With one attempt allowed, the first failure is a give-up with no attempt event."""
        with pytest.raises(ConnectionError):
            _run({"max_attempts": 1}, False, ConnectionError())
        assert [event.name for event in recorder.events()] == ["retry.gave_up"]

    def test_rejected_result_then_give_up(self, recorder: RecordingInstrument) -> None:
        """A rejected result is an attempt with an empty error type."""
        with pytest.raises(RetryExhaustedError):
            _run({"retry_on_result": lambda value: value == "no"}, False, "no", "no", "no")
        attempts = recorder.events("retry.attempt")
        assert [event.attributes["error.type"] for event in attempts] == ["", ""]
        assert recorder.events("retry.gave_up")[0].attributes["error.type"] == ""

    def test_block_form(self, recorder: RecordingInstrument) -> None:
        """The ``retrying`` loop reports like the decorator."""
        for attempt in retrying(max_attempts=3, clock=ManualClock(), logger=QUIET):
            with attempt:
                if attempt.number < 3:
                    raise ConnectionError
        assert recorder.total("retry.attempts") == 2
        assert recorder.events("retry.succeeded")[0].attributes["retry.attempts"] == 3

    def test_block_form_interrupted_wait(self, recorder: RecordingInstrument) -> None:
        """A wait interrupted in the block form ends the run as retry.aborted."""

        class Interrupting(ManualClock):
            def sleep(self, seconds: float) -> None:
                if self.sleeps:
                    raise KeyboardInterrupt
                super().sleep(seconds)

        with pytest.raises(KeyboardInterrupt):
            for attempt in retrying(max_attempts=3, delay=1, clock=Interrupting(), logger=QUIET):
                with attempt:
                    raise ConnectionError
        (end,) = recorder.events("retry.aborted")
        assert end.attributes["error.type"] == "KeyboardInterrupt"

    def test_nothing_installed(self) -> None:
        """Without an instrument the retries still happen and nothing is recorded."""
        recorder = RecordingInstrument()
        assert _run({}, False, ConnectionError(), "ok") == "ok"
        with pytest.raises(ConnectionError):
            _run({"max_attempts": 1}, False, ConnectionError())
        assert recorder.records == []
