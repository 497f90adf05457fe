"""Tests of the one declaration of the retry options and of how each form takes them."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import typing
from typing import Any

import pytest

from python_mastery_portfolio.retrying import (
    Retrying,
    RetryingKwargs,
    RetryKwargs,
    RetryOptions,
    RetryState,
    async_retry,
    retry,
    retrying,
)
from python_mastery_portfolio.testing import ManualClock

FORMS = [retry, async_retry, retrying]


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(inspect.getmodule(cls)))


class TestDeclaredOnce:
    def test_kwargs_mirror_options(self) -> None:
        """RetryKwargs has exactly RetryOptions' fields, in order, with the same types."""
        fields = dataclasses.fields(RetryOptions)
        assert list(RetryKwargs.__annotations__) == [field.name for field in fields]
        options_hints = _hints(RetryOptions)
        kwargs_hints = _hints(RetryKwargs)
        assert kwargs_hints == {field.name: options_hints[field.name] for field in fields}
        assert len(fields) == 15
        assert RetryKwargs.__required_keys__ == frozenset()

    def test_retrying_kwargs_add_name(self) -> None:
        """RetryingKwargs is RetryKwargs plus the block's name."""
        assert set(RetryingKwargs.__annotations__) - set(RetryKwargs.__annotations__) == {"name"}
        assert _hints(RetryingKwargs)["name"] is str

    @pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
    def test_signature_from_options(self, form: Any) -> None:
        """help() shows every option with its default, the first four also by position."""
        parameters = inspect.signature(form).parameters
        for field in dataclasses.fields(RetryOptions):
            parameter = parameters[field.name]
            assert parameter.default == field.default
        kinds = [p.kind for p in parameters.values()]
        assert kinds[:4] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 4
        assert set(kinds[4:]) == {inspect.Parameter.KEYWORD_ONLY}
        assert ("name" in parameters) is (form is retrying)


class TestRetryOptions:
    def test_defaults(self) -> None:
        """The defaults are the documented ones."""
        options = RetryOptions()
        assert (options.max_attempts, options.delay, options.backoff) == (3, 1.0, 2.0)
        assert options.exceptions is Exception
        assert options.max_delay is None
        assert options.deadline is None

    def test_frozen(self) -> None:
        """Options cannot change once validated."""
        options = RetryOptions()
        with pytest.raises(dataclasses.FrozenInstanceError):
            options.delay = 5.0  # type: ignore[misc]

    def test_numbers_become_floats(self) -> None:
        """Integer waits are stored as floats, so the formula never builds a huge int."""
        options = RetryOptions(delay=1, backoff=2, jitter=0, max_delay=10)
        assert [type(v) for v in (options.delay, options.backoff, options.jitter)] == [float] * 3
        assert type(options.max_delay) is float
        assert options.wait(10**400) == 10.0

    def test_replace_revalidates(self) -> None:
        """dataclasses.replace builds new options through the same checks."""
        options = RetryOptions(max_attempts=5)
        assert dataclasses.replace(options, delay=0.5).delay == 0.5
        with pytest.raises(ValueError, match=r"^max_attempts must be"):
            dataclasses.replace(options, max_attempts=0)

    def test_bad_exceptions_refused(self) -> None:
        """A bad exception spec is refused when the options are built."""
        with pytest.raises(TypeError, match="exceptions"):
            RetryOptions(exceptions=(int,))  # type: ignore[arg-type]

    def test_wait_floor_then_cap(self) -> None:
        """A floor (retry_after) raises the wait; max_delay caps both."""
        assert RetryOptions(delay=1.0, max_delay=5.0).wait(1, floor=30.0) == 5.0
        assert RetryOptions(delay=1.0).wait(1, floor=30.0) == 30.0

    def test_block_exposes_options(self) -> None:
        """retrying(...).options are the validated options."""
        policy = retrying(max_attempts=4, delay=2, clock=ManualClock())
        assert isinstance(policy, Retrying)
        assert policy.options.max_attempts == 4
        assert policy.options.delay == 2.0


class TestPositionalAndKeywords:
    def test_positional_options(self) -> None:
        """The first four options may be given by position, as in the seed's signature."""
        clock = ManualClock()
        calls: list[int] = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise KeyError("again")
            return "ok"

        assert retry(3, 0.5, 3.0, KeyError, clock=clock)(flaky)() == "ok"
        assert clock.sleeps == [0.5, 1.5]
        assert retrying(4, 0.25).options.max_attempts == 4

    def test_bare_form_with_options(self) -> None:
        """The bare form takes the function in the first place; later options still apply."""
        clock = ManualClock()
        calls: list[int] = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 2:
                raise ConnectionError
            return "ok"

        wrapped = retry(flaky, 0.5, clock=clock)  # type: ignore[call-overload]
        assert wrapped() == "ok"
        assert clock.sleeps == [0.5]

    @pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
    def test_duplicate_option(self, form: Any) -> None:
        """An option given by position and by keyword is refused, naming it."""
        with pytest.raises(TypeError, match=r"got multiple values for argument 'max_attempts'"):
            form(3, max_attempts=4)

    @pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
    def test_unknown_option(self, form: Any) -> None:
        """An unknown keyword is refused, naming the form and the keyword."""
        with pytest.raises(TypeError, match=rf"^{form.__name__}\(\) got an unexpected keyword"):
            form(attempts=4)

    @pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
    def test_too_many_positional(self, form: Any) -> None:
        """More than four positional options are refused."""
        with pytest.raises(TypeError, match=r"takes from 0 to 4 positional arguments but 5"):
            form(3, 1.0, 2.0, Exception, None)

    def test_too_many_positional_bare(self) -> None:
        """The bare form counts the function among the positional arguments."""

        def plain() -> None: ...

        with pytest.raises(TypeError, match=r"but 5 were given"):
            retry(plain, 1.0, 2.0, Exception, None)  # type: ignore[call-overload]

    def test_kwargs_dict_unpacks(self) -> None:
        """A RetryKwargs dict configures any form."""
        states: list[RetryState] = []
        options: RetryKwargs = {
            "max_attempts": 2,
            "delay": 3.0,
            "clock": ManualClock(),
            "on_retry": states.append,
            "logger": logging.getLogger("quiet.options"),
        }
        calls: list[int] = []

        @retry(**options)
        def flaky() -> int:
            calls.append(1)
            if len(calls) < 2:
                raise ConnectionError
            return len(calls)

        assert flaky() == 2
        assert [state.delay for state in states] == [3.0]
