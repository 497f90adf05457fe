"""Tests of the Result methods users of rustedpy/result and returns reach for first.

Translated from rustedpy/result's own suite (``Ok`` is ``Success``, ``Err`` is ``Failure``),
plus the edge cases: a ``None`` payload, nested results, exceptions raised by ``fn``.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio import Failure, Result, Success, UnwrapError


def sq(i: int) -> Result[int, int]:
    """rustedpy's helper: a success holding the square."""
    return Success(i * i)


def to_err(i: int) -> Result[int, int]:
    """rustedpy's helper: a failure holding the argument."""
    return Failure(i)


async def asq(i: int) -> Result[int, int]:
    """The async counterpart of sq; it yields to the loop once."""
    await asyncio.sleep(0)
    return Success(i * i)


async def ato_err(i: int) -> Result[int, int]:
    """The async counterpart of to_err."""
    await asyncio.sleep(0)
    return Failure(i)


def never(*args: object) -> NoReturn:
    """A function that must not be called."""
    raise AssertionError(f"called with {args!r}")


async def anever(*args: object) -> NoReturn:
    """A coroutine function that must not be called."""
    raise AssertionError(f"called with {args!r}")


class Boom(Exception):
    """Raised by a function passed to a method."""


def boom(*args: object) -> NoReturn:
    """Raise Boom."""
    raise Boom(*args)


async def aboom(*args: object) -> NoReturn:
    """Raise Boom from a coroutine."""
    raise Boom(*args)


def results() -> st.SearchStrategy[Result[int, str]]:
    """Successes holding ints and failures holding strings."""
    return st.one_of(st.builds(Success, st.integers()), st.builds(Failure, st.text(max_size=5)))


class TestUnwrap:
    def test_unwrap(self) -> None:
        """unwrap returns a success's value and refuses a failure."""
        assert Success("yay").unwrap() == "yay"
        with pytest.raises(UnwrapError, match=r"^unwrap\(\) on Failure\('nay'\)$") as caught:
            Failure("nay").unwrap()
        assert caught.value.failure == "nay"

    def test_unwrap_raises_exception_itself(self) -> None:
        """As get_or_raise, unwrap raises a failure's exception itself, not a wrapper."""
        error = KeyError("k")
        with pytest.raises(KeyError) as caught:
            Failure(error).unwrap()
        assert caught.value is error

    @given(results())
    def test_unwrap_is_get_or_raise(self, result: Result[int, str]) -> None:
        """unwrap behaves as get_or_raise on every result."""
        try:
            expected: object = result.get_or_raise()
        except UnwrapError as error:
            expected = ("raised", error.failure)
        try:
            got: object = result.unwrap()
        except UnwrapError as error:
            got = ("raised", error.failure)
        assert got == expected

    def test_get_or_raise_message_unchanged(self) -> None:
        """get_or_raise still names itself in its message."""
        with pytest.raises(UnwrapError, match=r"^get_or_raise\(\) on Failure\('x'\)$"):
            Failure("x").get_or_raise()

    def test_unwrap_err(self) -> None:
        """unwrap_err returns a failure's error and refuses a success."""
        assert Failure("nay").unwrap_err() == "nay"
        with pytest.raises(UnwrapError, match=r"^unwrap_err\(\) on Success\('yay'\)$"):
            Success("yay").unwrap_err()

    def test_unwrap_err_keeps_exception(self) -> None:
        """unwrap_err returns an exception error as a value, without raising it."""
        error = ValueError("bad")
        assert Failure(error).unwrap_err() is error

    def test_none_payloads(self) -> None:
        """A None value or error unwraps to None: None is a value like any other."""
        assert Success(None).unwrap() is None
        assert Success(None).expect("x") is None
        assert Failure(None).unwrap_err() is None
        assert Failure(None).expect_err("x") is None
        with pytest.raises(UnwrapError, match="on Failure") as caught:
            Failure(None).unwrap()
        assert caught.value.failure is None


class TestExpect:
    def test_expect(self) -> None:
        """expect returns a success's value; on a failure its message starts the error's text."""
        assert Success("yay").expect("failure") == "yay"
        with pytest.raises(UnwrapError) as caught:
            Failure("nay").expect("a greeting")
        assert str(caught.value) == "a greeting: 'nay'"
        assert caught.value.failure == "nay"
        assert caught.value.__cause__ is None

    def test_expect_chains_exception(self) -> None:
        """A failure's exception becomes the cause of expect's UnwrapError, never raised itself."""
        error = OSError("disk full")
        with pytest.raises(UnwrapError) as caught:
            Failure(error).expect("the file was written")
        assert str(caught.value) == "the file was written: OSError('disk full')"
        assert caught.value.__cause__ is error
        assert caught.value.failure is error

    def test_expect_keeps_context(self) -> None:
        """Called while handling an exception, expect leaves the implicit context in place."""
        with pytest.raises(UnwrapError) as caught:
            try:
                raise KeyError("outer")
            except KeyError:
                Failure("nay").expect("x")
        assert isinstance(caught.value.__context__, KeyError)

    def test_expect_err(self) -> None:
        """expect_err returns a failure's error; on a success the message and value show."""
        assert Failure("nay").expect_err("hello") == "nay"
        with pytest.raises(UnwrapError, match=r"^hello: 'yay'$"):
            Success("yay").expect_err("hello")

    def test_unwrap_error_is_a_value_error(self) -> None:
        """Callers catching ValueError keep catching it."""
        with pytest.raises(ValueError, match="x"):
            Failure(1).expect("x")


class TestOkErr:
    def test_ok(self) -> None:
        """ok() is the value of a success and None on a failure."""
        assert Success("yay").ok() == "yay"
        assert Failure("nay").ok() is None  # type: ignore[func-returns-value]  # runtime check

    def test_err(self) -> None:
        """err() is the error of a failure and None on a success."""
        assert Success("yay").err() is None  # type: ignore[func-returns-value]  # runtime check
        assert Failure("nay").err() == "nay"

    def test_none_value_is_ambiguous(self) -> None:
        """Success(None).ok() is None, as for a failure: is_success tells them apart."""
        assert Success(None).ok() is None
        assert Success(None).is_success()

    @given(results())
    def test_match_value_and_error(self, result: Result[int, str]) -> None:
        """ok() and err() agree with the value and error attributes."""
        assert result.ok() == result.value
        assert result.err() == result.error


class TestOrElse:
    def test_or_else(self) -> None:
        """rustedpy's test_or_else: a success passes through, a failure is handed to fn."""
        assert Success(2).or_else(sq).or_else(sq).ok() == 2
        assert Success(2).or_else(to_err).or_else(sq).ok() == 2
        assert Failure(3).or_else(sq).or_else(to_err).ok() == 9
        assert Failure(3).or_else(to_err).or_else(to_err).err() == 3

    def test_or_else_with_lambdas(self) -> None:
        """The same with lambdas."""
        assert Success(2).or_else(lambda i: Success(i * i)).ok() == 2
        assert Failure(3).or_else(lambda i: Success(i * i)).ok() == 9
        assert Failure(3).or_else(lambda i: Failure(str(i))).err() == "3"

    def test_success_is_returned_itself(self) -> None:
        """A success is returned as the same object; fn is not called."""
        ok = Success(1)
        assert ok.or_else(never) is ok

    def test_exception_propagates(self) -> None:
        """An exception fn raises is not captured into a result."""
        with pytest.raises(Boom):
            Failure(1).or_else(boom)

    @given(results())
    def test_right_identity(self, result: Result[int, str]) -> None:
        """r.or_else(Failure) == r, the mirror of and_then's right identity."""
        assert result.or_else(Failure) == result

    @given(st.text(max_size=5))
    def test_left_identity(self, error: str) -> None:
        """Failure(e).or_else(f) == f(e)."""

        def f(e: str) -> Result[int, str]:
            return Success(len(e)) if e else Failure("empty")

        assert Failure(error).or_else(f) == f(error)


class TestMapOr:
    def test_map_or(self) -> None:
        """rustedpy's test_map_or."""
        assert Success("yay").map_or("hay", str.upper) == "YAY"
        assert Failure("nay").map_or("hay", str.upper) == "hay"
        assert Success(3).map_or("-1", str) == "3"
        assert Failure(2).map_or("-1", str) == "-1"

    def test_map_or_else(self) -> None:
        """rustedpy's test_map_or_else: default_fn takes no argument."""
        assert Success("yay").map_or_else(lambda: "hay", str.upper) == "YAY"
        assert Failure("nay").map_or_else(lambda: "hay", str.upper) == "hay"
        assert Success(3).map_or_else(lambda: "-1", str) == "3"
        assert Failure(2).map_or_else(lambda: "-1", str) == "-1"

    def test_only_one_side_is_called(self) -> None:
        """fn is not called on a failure, default_fn not on a success."""
        assert Failure("e").map_or(0, never) == 0
        assert Failure("e").map_or_else(lambda: 0, never) == 0
        assert Success(2).map_or_else(never, lambda x: x + 1) == 3

    def test_none_default(self) -> None:
        """A None default is returned as is; a None value is passed to fn."""
        assert Failure("e").map_or(None, str) is None
        assert Success(None).map_or("default", repr) == "None"

    def test_exceptions_propagate(self) -> None:
        """Exceptions raised by fn or default_fn propagate."""
        with pytest.raises(Boom):
            Success(1).map_or(0, boom)
        with pytest.raises(Boom):
            Failure(1).map_or_else(boom, str)

    @given(results(), st.integers())
    def test_is_map_then_unwrap_or(self, result: Result[int, str], default: int) -> None:
        """map_or(d, f) == map(f).unwrap_or(d), and map_or_else agrees."""

        def f(x: int) -> int:
            return x * 2 + 1

        assert result.map_or(default, f) == result.map(f).unwrap_or(default)
        assert result.map_or_else(lambda: default, f) == result.map_or(default, f)


class TestInspect:
    def test_inspect(self) -> None:
        """rustedpy's test_inspect: fn sees a success's value; the result is returned."""
        oks: list[int] = []
        assert Success(2).inspect(oks.append) == Success(2)
        assert Failure("e").inspect(oks.append) == Failure("e")
        assert oks == [2]

    def test_inspect_err(self) -> None:
        """rustedpy's test_inspect_err: fn sees a failure's error; the result is returned."""
        errs: list[str] = []
        assert Success(2).inspect_err(errs.append) == Success(2)
        assert Failure("e").inspect_err(errs.append) == Failure("e")
        assert errs == ["e"]

    @pytest.mark.parametrize(
        "result", [Success(1), Failure("e"), Success(None)], ids=["success", "failure", "none"]
    )
    def test_returns_self(self, result: Result[Any, Any]) -> None:
        """Both return the very same object, whatever fn returns."""
        assert result.inspect(lambda _: "ignored") is result
        assert result.inspect_err(lambda _: "ignored") is result

    def test_none_value_is_passed(self) -> None:
        """fn is called with a None value: a success holding None is still a success."""
        seen: list[object] = ["sentinel"]
        Success(None).inspect(seen.append)
        assert seen == ["sentinel", None]

    def test_exceptions_propagate(self) -> None:
        """An exception fn raises propagates; it is not captured into a result."""
        with pytest.raises(Boom):
            Success(1).inspect(boom)
        with pytest.raises(Boom):
            Failure(1).inspect_err(boom)

    def test_called_once_in_a_chain(self) -> None:
        """In a chain, each inspect runs once, in order."""
        log: list[str] = []
        out = (
            Success(2)
            .inspect(lambda v: log.append(f"got {v}"))
            .map(lambda x: x * 10)
            .inspect(lambda v: log.append(f"then {v}"))
            .inspect_err(lambda e: log.append(f"error {e}"))
        )
        assert out == Success(20)
        assert log == ["got 2", "then 20"]


class TestFlatten:
    @pytest.mark.parametrize(
        ("nested", "flat"),
        [
            (Success(Success(1)), Success(1)),
            (Success(Failure("e")), Failure("e")),
            (Success(Success(None)), Success(None)),
            (Success(Success(Success(1))), Success(Success(1))),
            (Success(Success(Failure("e"))), Success(Failure("e"))),
            (Failure(Failure("e")), Failure(Failure("e"))),
            (Failure("e"), Failure("e")),
        ],
        ids=[
            "success-success",
            "success-failure",
            "success-none",
            "one-level-only",
            "one-level-only-failure",
            "failure-of-failure-kept",
            "failure",
        ],
    )
    def test_flatten(self, nested: Result[Any, Any], flat: Result[Any, Any]) -> None:
        """One level goes; a failure stays as it is (returns' flatten does the same)."""
        assert nested.flatten() == flat

    def test_inner_is_returned_itself(self) -> None:
        """A success's inner result is returned as is, and a failure is returned itself."""
        inner = Failure(ValueError("x"))
        assert Success(inner).flatten() is inner
        failed = Failure("e")
        assert failed.flatten() is failed

    @pytest.mark.parametrize("value", [1, None, "text", (Success(1),)], ids=repr)
    def test_not_nested_is_refused(self, value: object) -> None:
        """A success holding something other than a result is a TypeError, not a silent value."""
        with pytest.raises(TypeError, match=r"flatten\(\) needs a Success holding a Result"):
            Success(value).flatten()  # type: ignore[misc]  # the misuse under test

    @given(results())
    def test_flatten_map_is_and_then(self, result: Result[int, str]) -> None:
        """r.map(f).flatten() == r.and_then(f) (the monad join law)."""

        def f(x: int) -> Result[int, str]:
            return Success(x + 1) if x % 2 else Failure(f"odd {x}")

        assert result.map(f).flatten() == result.and_then(f)

    def test_pickle_of_flattened(self) -> None:
        """A flattened result still pickles by its public path."""
        flat = Success(Success(1)).flatten()
        assert pickle.loads(pickle.dumps(flat)) == Success(1)
        assert b"python_mastery_portfolio" in pickle.dumps(flat)
        assert b"_result" not in pickle.dumps(flat)


class TestAsync:
    async def test_amap(self) -> None:
        """amap awaits fn on a success; a failure passes through."""

        async def upper(text: str) -> str:
            await asyncio.sleep(0)
            return text.upper()

        assert await Success("yay").amap(upper) == Success("YAY")
        assert await Failure("nay").amap(upper) == Failure("nay")

    async def test_aand_then(self) -> None:
        """rustedpy's test_and_then, awaited."""
        assert (await (await Success(2).aand_then(asq)).aand_then(asq)).ok() == 16
        assert (await (await Success(2).aand_then(asq)).aand_then(ato_err)).err() == 4
        assert (await (await Success(2).aand_then(ato_err)).aand_then(asq)).err() == 2
        assert (await (await Failure(3).aand_then(asq)).aand_then(asq)).err() == 3

    async def test_aor_else(self) -> None:
        """rustedpy's test_or_else, awaited."""
        assert (await (await Success(2).aor_else(asq)).aor_else(asq)).ok() == 2
        assert (await (await Success(2).aor_else(ato_err)).aor_else(asq)).ok() == 2
        assert (await (await Failure(3).aor_else(asq)).aor_else(ato_err)).ok() == 9
        assert (await (await Failure(3).aor_else(ato_err)).aor_else(ato_err)).err() == 3

    async def test_skipped_side_returns_self(self) -> None:
        """The side a method skips returns the same object without calling fn."""
        ok, failed = Success(1), Failure("e")
        assert await failed.amap(anever) is failed
        assert await failed.aand_then(anever) is failed
        assert await ok.aor_else(anever) is ok

    async def test_none_value(self) -> None:
        """A None value is awaited through like any other."""

        async def is_none(value: object) -> bool:
            return value is None

        assert await Success(None).amap(is_none) == Success(True)

    @pytest.mark.parametrize("method", ["amap", "aand_then", "aor_else"])
    async def test_exceptions_propagate(self, method: str) -> None:
        """An exception the coroutine raises propagates, not captured into a result."""
        receiver: Result[int, int] = Failure(1) if method == "aor_else" else Success(1)
        with pytest.raises(Boom):
            await getattr(receiver, method)(aboom)

    async def test_cancellation_propagates(self) -> None:
        """Cancelling the task awaiting amap cancels the coroutine inside it."""
        started = asyncio.Event()
        finished: list[bool] = []

        async def wait_forever(x: int) -> int:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                finished.append(True)
            return x  # pragma: no cover  # never reached: the wait is cancelled

        task = asyncio.create_task(Success(1).amap(wait_forever))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished == [True]

    async def test_concurrent_use_of_one_result(self) -> None:
        """One result awaited through by many tasks at once gives each its own answer."""

        def adder(n: int) -> Callable[[int], Awaitable[int]]:
            async def step(x: int) -> int:
                await asyncio.sleep(0)
                return x + n

            return step

        base = Success(100)
        steps = [adder(n) for n in range(200)]
        outcomes = await asyncio.gather(*(base.amap(step) for step in steps))
        assert outcomes == [Success(100 + n) for n in range(200)]
        assert base == Success(100)

    async def test_sync_function_is_refused(self) -> None:
        """A plain function's result cannot be awaited: a TypeError, as in rustedpy."""
        with pytest.raises(TypeError, match="await"):
            await Success(1).amap(str)  # type: ignore[arg-type]  # the misuse under test


class TestImmutability:
    @pytest.mark.parametrize("result", [Success(1), Failure("e")], ids=["success", "failure"])
    def test_new_methods_leave_result_unchanged(self, result: Result[int, str]) -> None:
        """No method changes the receiver, and it stays frozen."""
        before = pickle.dumps(result)
        result.inspect(str).inspect_err(str).or_else(Failure).map_or(0, str)
        result.ok()
        result.err()
        assert pickle.dumps(result) == before
        with pytest.raises(AttributeError, match="immutable"):
            result.value = 2  # type: ignore[misc]  # the refused assignment under test
