"""Tests of typing_utils: Result, attempt/as_result, Container, Pipeline, protocols, repository."""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import pickle
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Never

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio.exceptions import (
    DataProcessingError,
    PortfolioError,
    RateLimitError,
    UnwrapError,
    ValidationError,
)
from python_mastery_portfolio.typing_utils import (
    Container,
    Failure,
    InMemoryRepository,
    Pipeline,
    Repository,
    Result,
    Serializable,
    Success,
    as_result,
    attempt,
)
from tests.conftest import raise_first, run_threads

FATAL = [asyncio.CancelledError, KeyboardInterrupt, SystemExit]
FATAL_IDS = ["cancelled", "keyboard", "exit"]


def results() -> st.SearchStrategy[Result[int, str]]:
    """Successes holding ints and failures holding strings."""
    return st.one_of(st.builds(Success, st.integers()), st.builds(Failure, st.text(max_size=5)))


def int_functions() -> st.SearchStrategy[Callable[[int], int]]:
    """Pure functions from int to int."""
    return st.functions(like=lambda x: x, returns=st.integers(), pure=True)


def str_functions() -> st.SearchStrategy[Callable[[str], str]]:
    """Pure functions from str to str."""
    return st.functions(like=lambda x: x, returns=st.text(max_size=3), pure=True)


def result_functions() -> st.SearchStrategy[Callable[[int], Result[int, str]]]:
    """Pure functions from int to a result."""
    return st.functions(like=lambda x: x, returns=results(), pure=True)


def explode(value: object) -> Never:
    raise AssertionError(f"must not be called, got {value!r}")


class TestResultConstruction:
    def test_constructors(self) -> None:
        """Result.success/failure build the same variants as Success/Failure."""
        assert Result.success(1) == Success(1)
        assert Result.failure("e") == Failure("e")
        assert type(Result.success(1)) is Success
        assert type(Result.failure("e")) is Failure

    def test_variants_are_results(self) -> None:
        """Both variants are instances of Result."""
        assert isinstance(Success(1), Result)
        assert isinstance(Failure("e"), Result)

    def test_base_cannot_be_instantiated(self) -> None:
        """Result itself has no instances."""
        with pytest.raises(TypeError, match=r"Result\.success"):
            Result()

    @pytest.mark.parametrize("base", [Result, Success, Failure], ids=["result", "ok", "err"])
    def test_sealed(self, base: type) -> None:
        """No third variant can be added, nor a subclass of a variant."""
        with pytest.raises(TypeError, match="sealed"):
            type("Maybe", (base,), {})

    def test_runtime_subscription(self) -> None:
        """A subscripted variant can be called at run time too."""
        assert Success[int, str](3) == Success(3)
        assert Failure[int, str]("e") == Failure("e")


class TestResultAccessors:
    @pytest.mark.parametrize(
        ("result", "success", "value", "error"),
        [(Success(1), True, 1, None), (Failure("e"), False, None, "e")],
        ids=["success", "failure"],
    )
    def test_accessors(
        self, result: Result[int, str], success: bool, value: Any, error: Any
    ) -> None:
        """is_success/is_failure and value/error say which variant it is."""
        assert result.is_success() is success
        assert result.is_failure() is not success
        assert result.value == value
        assert result.error == error

    def test_none_value_is_still_success(self) -> None:
        """A success may hold None; is_success is what tells the variants apart."""
        assert Success(None).is_success()
        assert Failure(None).is_failure()


class TestGetOrRaise:
    def test_success(self) -> None:
        """A success returns its value."""
        assert Success(5).get_or_raise() == 5

    def test_exception_is_raised_itself(self) -> None:
        """A failure holding an exception raises that very object."""
        error = ValueError("boom")
        with pytest.raises(ValueError, match="boom") as info:
            Failure(error).get_or_raise()
        assert info.value is error

    def test_fatal_exception_is_raised_itself(self) -> None:
        """A failure holding a BaseException raises it too."""
        error = KeyboardInterrupt()
        with pytest.raises(KeyboardInterrupt) as info:
            Failure(error).get_or_raise()
        assert info.value is error

    def test_non_exception_raises_unwrap_error(self) -> None:
        """Any other error becomes an UnwrapError carrying the failure."""
        with pytest.raises(UnwrapError, match="boom") as info:
            Failure("boom").get_or_raise()
        assert info.value.failure == "boom"
        assert isinstance(info.value, PortfolioError)
        assert info.value.to_dict()["context"] == {"failure": "boom"}


class TestUnwrap:
    def test_unwrap_or(self) -> None:
        """unwrap_or returns the value, or the default on a failure."""
        assert Success(1).unwrap_or(0) == 1
        assert Failure("e").unwrap_or(0) == 0

    def test_unwrap_or_else(self) -> None:
        """unwrap_or_else computes the fallback from the error, only on a failure."""
        assert Success(1).unwrap_or_else(explode) == 1
        assert Failure("four").unwrap_or_else(len) == 4


class TestTransform:
    def test_map(self) -> None:
        """map transforms a success's value."""
        assert Success(2).map(lambda x: x * 10) == Success(20)

    def test_map_skips_failure(self) -> None:
        """map never calls its function on a failure and returns it unchanged."""
        failure = Failure("e")
        assert failure.map(explode) is failure

    def test_map_does_not_swallow(self) -> None:
        """An exception in the mapped function propagates."""
        with pytest.raises(ZeroDivisionError):
            Success(0).map(lambda x: 1 / x)

    def test_map_error(self) -> None:
        """map_error transforms a failure's error only."""
        assert Failure("e").map_error(str.upper) == Failure("E")
        success = Success(1)
        assert success.map_error(explode) is success

    def test_and_then(self) -> None:
        """and_then returns the function's own result on a success."""

        def half(x: int) -> Result[int, str]:
            return Success(x // 2) if x % 2 == 0 else Failure(f"{x} is odd")

        assert Success(4).and_then(half) == Success(2)
        assert Success(3).and_then(half) == Failure("3 is odd")

    def test_and_then_skips_failure(self) -> None:
        """and_then never calls its function on a failure."""
        failure = Failure("e")
        assert failure.and_then(explode) is failure


class TestMatch:
    @staticmethod
    def describe(result: Result[int, str]) -> str:
        match result:
            case Success(value):
                return f"ok {value}"
            case Failure(error):
                return f"error {error}"
        raise AssertionError("unreachable")

    @pytest.mark.parametrize(
        ("result", "expected"),
        [(Success(1), "ok 1"), (Failure("x"), "error x")],
        ids=["success", "failure"],
    )
    def test_positional(self, result: Result[int, str], expected: str) -> None:
        """case Success(v) and case Failure(e) bind the payload."""
        assert self.describe(result) == expected

    def test_keyword(self) -> None:
        """Keyword patterns work on the named attributes."""
        match Success(3):
            case Success(value=v):
                assert v == 3


class TestValueSemantics:
    @pytest.mark.parametrize(
        ("left", "right", "equal"),
        [
            (Success(1), Success(1), True),
            (Success(1), Success(2), False),
            (Failure("e"), Failure("e"), True),
            (Failure("e"), Failure("f"), False),
            (Success(1), Failure(1), False),
            (Failure(1), Success(1), False),
            (Success(1), 1, False),
            (Failure(1), 1, False),
        ],
        ids=["ok-same", "ok-diff", "err-same", "err-diff", "ok-err", "err-ok", "ok-int", "err-int"],
    )
    def test_equality(self, left: object, right: object, equal: bool) -> None:
        """Results are equal when the variant and the payload are."""
        assert (left == right) is equal
        assert (left != right) is not equal

    def test_hash(self) -> None:
        """Equal results hash alike, and the variants do not collide by payload."""
        assert hash(Success(1)) == hash(Success(1))
        assert len({Success(1), Success(1), Failure(1), Failure(1)}) == 2

    def test_unhashable_payload(self) -> None:
        """A result holding an unhashable payload is unhashable."""
        with pytest.raises(TypeError):
            hash(Success([1]))

    @pytest.mark.parametrize(
        ("result", "text"),
        [(Success(42), "Success(42)"), (Failure("boom"), "Failure('boom')")],
        ids=["success", "failure"],
    )
    def test_repr(self, result: Result[int, str], text: str) -> None:
        """The repr reads like the constructor call."""
        assert repr(result) == text

    @pytest.mark.parametrize("result", [Success(1), Failure("e")], ids=["success", "failure"])
    def test_immutable(self, result: Result[int, str]) -> None:
        """Attributes cannot be set, added or deleted."""
        for name in ("value", "error", "other"):
            with pytest.raises(AttributeError, match="immutable"):
                setattr(result, name, 2)
        with pytest.raises(AttributeError, match="immutable"):
            del result.value
        assert not hasattr(result, "__dict__")

    @pytest.mark.parametrize("result", [Success(1), Failure("e")], ids=["success", "failure"])
    def test_bool_raises(self, result: Result[int, str]) -> None:
        """bool(result) is an error so that `if result:` cannot mean "is success"."""
        with pytest.raises(TypeError, match="is_success"):
            bool(result)

    @pytest.mark.parametrize(
        "result", [Success([1, 2]), Failure(ValueError("x"))], ids=["success", "failure"]
    )
    def test_pickle_and_copy(self, result: Result[Any, Any]) -> None:
        """Results survive pickling, copy and deepcopy."""
        for clone in (pickle.loads(pickle.dumps(result)), copy.copy(result)):
            assert type(clone) is type(result)
            assert repr(clone) == repr(result)
        deep = copy.deepcopy(Success([1]))
        assert deep == Success([1])
        assert deep.value is not Success([1]).value


class TestAttempt:
    def test_success(self) -> None:
        """The return value becomes a Success; arguments are passed through."""
        assert attempt(int, "ff", base=16) == Success(255)

    def test_captures_exception(self) -> None:
        """An Exception becomes a Failure holding the very exception."""
        result = attempt(int, "x")
        assert isinstance(result, Failure)
        assert isinstance(result.error, ValueError)

    @pytest.mark.parametrize(
        "exceptions", [ValueError, (KeyError, ValueError)], ids=["type", "tuple"]
    )
    def test_given_types(self, exceptions: Any) -> None:
        """Only the given types are captured."""
        assert attempt(int, "x", exceptions=exceptions).is_failure()
        with pytest.raises(ZeroDivisionError):
            attempt(lambda: 1 / 0, exceptions=exceptions)

    @pytest.mark.parametrize("fatal", FATAL, ids=FATAL_IDS)
    def test_fatal_propagates(self, fatal: type[BaseException]) -> None:
        """Cancellation, interrupts and exits propagate even when BaseException is given."""

        def boom() -> None:
            raise fatal

        with pytest.raises(fatal):
            attempt(boom, exceptions=BaseException)

    @pytest.mark.parametrize("exceptions", [int, (), (ValueError, int), lambda e: True, 3], ids=str)
    def test_bad_exceptions(self, exceptions: Any) -> None:
        """A bad exceptions argument is a TypeError naming it, even when fn succeeds."""
        with pytest.raises(TypeError, match="exceptions"):
            attempt(int, "1", exceptions=exceptions)

    def test_rejects_coroutine_function(self) -> None:
        """A coroutine function is refused, and its coroutine is closed (no warning)."""

        async def work() -> int:
            return 1

        with pytest.raises(TypeError, match="as_result"):
            attempt(work)


class TestAsResult:
    def test_sync(self) -> None:
        """The decorated function returns Success or Failure."""

        @as_result(ZeroDivisionError)
        def inverse(x: float) -> float:
            return 1 / x

        assert inverse(4) == Success(0.25)
        assert isinstance(inverse(0).error, ZeroDivisionError)

    def test_default_is_exception(self) -> None:
        """With no types, any Exception is captured."""

        @as_result()
        def fail() -> None:
            raise LookupError("x")

        assert isinstance(fail().error, LookupError)

    def test_other_exceptions_propagate(self) -> None:
        """Exceptions outside the given types propagate."""

        @as_result(KeyError)
        def fail() -> None:
            raise ValueError("x")

        with pytest.raises(ValueError, match="x"):
            fail()

    async def test_async(self) -> None:
        """An async def stays a coroutine function and returns a result when awaited."""

        @as_result(ValueError)
        async def parse(text: str) -> int:
            await asyncio.sleep(0)
            return int(text)

        assert inspect.iscoroutinefunction(parse)
        assert await parse("3") == Success(3)
        assert isinstance((await parse("x")).error, ValueError)

    @pytest.mark.parametrize("fatal", FATAL, ids=FATAL_IDS)
    def test_sync_fatal_propagates(self, fatal: type[BaseException]) -> None:
        """Fatal exceptions propagate from a decorated def."""

        @as_result(BaseException)
        def boom() -> None:
            raise fatal

        with pytest.raises(fatal):
            boom()

    async def test_async_cancellation_propagates(self) -> None:
        """Cancelling a task running a decorated coroutine cancels it; nothing is swallowed."""
        started = asyncio.Event()

        @as_result(BaseException)
        async def wait_forever() -> None:
            started.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(wait_forever())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def test_wraps(self) -> None:
        """Name, docstring and __wrapped__ are kept."""

        def documented(x: int) -> int:
            """Double x."""
            return x * 2

        wrapped = as_result()(documented)
        assert wrapped.__name__ == "documented"
        assert wrapped.__doc__ == "Double x."
        assert wrapped.__wrapped__ is documented  # type: ignore[attr-defined]

    def test_method(self) -> None:
        """Methods can be decorated."""

        class Parser:
            @as_result(ValueError)
            def parse(self, text: str) -> int:
                return int(text)

        assert Parser().parse("7") == Success(7)

    def test_bare_decorator_is_rejected(self) -> None:
        """@as_result without parentheses fails at decoration time with a hint."""
        with pytest.raises(TypeError, match="parentheses"):

            @as_result  # type: ignore[call-overload]
            def f() -> None: ...

    @pytest.mark.parametrize("bad", [(int,), (ValueError, "x")], ids=["not-exc", "mixed"])
    def test_bad_types(self, bad: tuple[Any, ...]) -> None:
        """Non-exception arguments are a TypeError naming the parameter."""
        with pytest.raises(TypeError, match="exceptions"):
            as_result(*bad)

    def test_generator_rejected(self) -> None:
        """A generator function cannot be decorated."""

        def gen() -> Iterator[int]:
            yield 1

        with pytest.raises(TypeError, match="generator"):
            as_result()(gen)


class TestContainer:
    def test_value_and_map(self) -> None:
        """map returns a new container holding the transformed value."""
        box = Container(3)
        assert box.map(str) == Container("3")
        assert box.value == 3

    def test_value_semantics(self) -> None:
        """Equality, hash and repr go by value."""
        assert Container(1) == Container(1)
        assert Container(1) != Container(2)
        assert Container(1) != 1
        assert hash(Container(1)) == hash(Container(1))
        assert repr(Container("a")) == "Container('a')"

    def test_immutable(self) -> None:
        """The value cannot be replaced."""
        box = Container(1)
        with pytest.raises(AttributeError, match="immutable"):
            box.value = 2  # type: ignore[misc]

    def test_pickle_and_match(self) -> None:
        """Containers pickle and match by value."""
        assert pickle.loads(pickle.dumps(Container([1]))) == Container([1])
        match Container(5):
            case Container(value):
                assert value == 5


def double(x: int) -> int:
    return x * 2


class TestPipeline:
    def test_add_returns_new(self) -> None:
        """add never changes the pipeline it is called on."""
        base = Pipeline(1)
        extended = base.add(double)
        assert extended is not base
        assert len(base) == 0
        assert len(extended) == 1
        assert base.execute() == 1

    def test_reusable(self) -> None:
        """A pipeline runs any number of times and branches independently."""
        base = Pipeline(3).add(double)
        assert base.execute() == base.execute() == 6
        assert base.add(str).execute() == "6"
        assert base.add(double).execute() == 12
        assert len(base) == 1

    def test_empty(self) -> None:
        """With no steps, execute returns the starting value."""
        assert Pipeline("x").execute() == "x"

    def test_step_failure(self) -> None:
        """A failing step is re-raised as DataProcessingError naming its index and name."""

        def crash(x: int) -> int:
            raise KeyError(x)

        pipeline = Pipeline(1).add(double).add(crash).add(double)
        with pytest.raises(DataProcessingError) as info:
            pipeline.execute()
        error = info.value
        assert error.step == "1:crash"
        assert error.context["step_index"] == 1
        assert error.context["function"].endswith("crash")
        assert isinstance(error.__cause__, KeyError)
        assert "step 1 (crash)" in error.message

    def test_unnamed_callable(self) -> None:
        """A callable without __name__ is named by its type."""
        pipeline = Pipeline("12").add(str.strip).add(functools.partial(int, base=2))
        with pytest.raises(DataProcessingError) as info:
            pipeline.execute()
        assert info.value.step == "1:partial"
        assert repr(pipeline) == "Pipeline('12').add(strip).add(partial)"

    @pytest.mark.parametrize("fatal", [KeyboardInterrupt, SystemExit], ids=["keyboard", "exit"])
    def test_fatal_not_wrapped(self, fatal: type[BaseException]) -> None:
        """Interrupts and exits propagate unwrapped."""

        def boom(x: object) -> None:
            raise fatal

        with pytest.raises(fatal):
            Pipeline(1).add(boom).execute()

    def test_add_rejects_non_callable(self) -> None:
        """A step must be callable."""
        with pytest.raises(TypeError, match="step"):
            Pipeline(1).add(3)  # type: ignore[call-overload]

    def test_repr(self) -> None:
        """The repr reads like the construction."""
        assert repr(Pipeline(5).add(double).add(str)) == "Pipeline(5).add(double).add(str)"

    async def test_execute_async(self) -> None:
        """Coroutine steps and steps returning awaitables are awaited."""

        async def add_one(x: int) -> int:
            await asyncio.sleep(0)
            return x + 1

        def later(x: int) -> Awaitable[int]:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            future.set_result(x * 10)
            return future

        pipeline = Pipeline(1).add(add_one).add(double).add(later)
        assert await pipeline.execute_async() == 40
        assert await Pipeline(2).add(double).execute_async() == 4

    async def test_execute_async_failure(self) -> None:
        """A failing coroutine step is wrapped like a sync one."""

        async def crash(x: int) -> int:
            raise ValueError(x)

        with pytest.raises(DataProcessingError) as info:
            await Pipeline(1).add(double).add(crash).execute_async()
        assert info.value.step == "1:crash"
        assert isinstance(info.value.__cause__, ValueError)

    async def test_execute_async_cancellation(self) -> None:
        """Cancellation of a running pipeline propagates unwrapped."""
        started = asyncio.Event()

        async def wait_forever(x: int) -> int:
            started.set()
            await asyncio.Event().wait()
            return x

        task = asyncio.create_task(Pipeline(1).add(wait_forever).execute_async())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def test_execute_refuses_async_steps(self) -> None:
        """execute() on a pipeline with a coroutine step points to execute_async()."""

        async def step(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="execute_async"):
            Pipeline(1).add(step).add(double).execute()


class TestSerializable:
    @pytest.mark.parametrize(
        "error",
        [PortfolioError("x"), ValidationError("bad", field="f"), RateLimitError("slow")],
        ids=["base", "validation", "rate"],
    )
    def test_errors_are_serializable(self, error: PortfolioError) -> None:
        """Every PortfolioError satisfies the protocol."""
        assert isinstance(error, Serializable)

    def test_structural(self) -> None:
        """Any object with to_dict qualifies; others do not."""

        class Point:
            def to_dict(self) -> dict[str, Any]:
                return {"x": 1}

        assert isinstance(Point(), Serializable)
        assert not isinstance(object(), Serializable)


@dataclass(frozen=True)
class User:
    id: int | None
    name: str


class TestInMemoryRepository:
    def test_id_attribute(self) -> None:
        """An entity's id attribute, as a str, is its key."""
        repo: InMemoryRepository[User] = InMemoryRepository()
        assert repo.save(User(7, "ada")) == "7"
        assert repo.get("7") == User(7, "ada")

    def test_generated_id(self) -> None:
        """Entities without an id get a fresh uuid4 hex per save."""
        repo: InMemoryRepository[str] = InMemoryRepository()
        first, second = repo.save("a"), repo.save("a")
        assert first != second
        assert len(first) == 32
        assert repo.get(first) == "a"
        anonymous = repo.save(User(None, "anon"))  # type: ignore[arg-type]
        assert len(anonymous) == 32

    def test_id_of(self) -> None:
        """id_of decides the key when given."""
        repo: InMemoryRepository[User] = InMemoryRepository(id_of=lambda user: user.name)
        assert repo.save(User(1, "ada")) == "ada"
        assert "ada" in repo
        assert "1" not in repo

    def test_replace(self) -> None:
        """Saving under an existing id replaces the entity."""
        repo: InMemoryRepository[User] = InMemoryRepository()
        repo.save(User(1, "old"))
        repo.save(User(1, "new"))
        assert repo.list() == [User(1, "new")]

    def test_get_and_delete(self) -> None:
        """get returns None for unknown ids; delete reports whether it removed something."""
        repo: InMemoryRepository[User] = InMemoryRepository()
        repo.save(User(1, "ada"))
        assert repo.get("2") is None
        assert repo.delete("1") is True
        assert repo.delete("1") is False
        assert len(repo) == 0

    def test_list_is_snapshot(self) -> None:
        """list returns the entities in insertion order, detached from the repository."""
        repo: InMemoryRepository[User] = InMemoryRepository()
        users = [User(i, str(i)) for i in range(3)]
        for user in users:
            repo.save(user)
        snapshot = repo.list()
        repo.delete("0")
        assert snapshot == users
        assert repr(repo) == "InMemoryRepository(2 entities)"

    def test_satisfies_protocol(self) -> None:
        """InMemoryRepository is a Repository."""
        assert isinstance(InMemoryRepository(), Repository)

    def test_bad_id_of(self) -> None:
        """id_of must be callable and return a str."""
        with pytest.raises(TypeError, match="id_of"):
            InMemoryRepository(id_of=3)  # type: ignore[arg-type]
        repo: InMemoryRepository[User] = InMemoryRepository(id_of=lambda user: user.id)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="id_of"):
            repo.save(User(1, "ada"))

    def test_concurrent_saves(self) -> None:
        """64 threads saving at once lose nothing and never share a generated id."""
        repo: InMemoryRepository[int] = InMemoryRepository()
        threads, per_thread = 64, 200
        ids: list[list[str]] = [[] for _ in range(threads)]

        def work(slot: int) -> None:
            ids[slot].extend(repo.save(slot * per_thread + i) for i in range(per_thread))

        raise_first(run_threads(threads, work))
        all_ids = [entity_id for chunk in ids for entity_id in chunk]
        assert len(set(all_ids)) == len(repo) == threads * per_thread
        assert sorted(repo.list()) == list(range(threads * per_thread))

    def test_concurrent_save_delete(self) -> None:
        """Concurrent saves and deletes of the same ids leave a consistent store."""
        repo: InMemoryRepository[User] = InMemoryRepository()
        threads = 32
        deleted = [0] * threads

        def work(slot: int) -> None:
            for i in range(200):
                if slot % 2:
                    repo.save(User(i % 10, f"t{slot}"))
                else:
                    deleted[slot] += repo.delete(str(i % 10))

        raise_first(run_threads(threads, work))
        assert len(repo) == len(repo.list()) <= 10
        assert all(repo.get(str(user.id)) == user for user in repo.list())
        assert sum(deleted) + len(repo) <= (threads // 2) * 200


class TestResultLaws:
    @given(results())
    def test_map_identity(self, result: Result[int, str]) -> None:
        """map(identity) changes nothing."""
        assert result.map(lambda x: x) == result

    @given(results(), int_functions(), int_functions())
    def test_map_composition(
        self, result: Result[int, str], f: Callable[[int], int], g: Callable[[int], int]
    ) -> None:
        """Mapping f then g is mapping their composition."""
        assert result.map(f).map(g) == result.map(lambda x: g(f(x)))

    @given(st.integers(), result_functions())
    def test_left_identity(self, value: int, f: Callable[[int], Result[int, str]]) -> None:
        """success(a).and_then(f) is f(a)."""
        assert Result.success(value).and_then(f) == f(value)

    @given(results())
    def test_right_identity(self, result: Result[int, str]) -> None:
        """and_then(success) changes nothing."""
        assert result.and_then(Result.success) == result

    @given(results(), result_functions(), result_functions())
    def test_and_then_associativity(
        self,
        result: Result[int, str],
        f: Callable[[int], Result[int, str]],
        g: Callable[[int], Result[int, str]],
    ) -> None:
        """Chaining and_then is associative."""
        assert result.and_then(f).and_then(g) == result.and_then(lambda x: f(x).and_then(g))

    @given(results(), str_functions())
    def test_map_error_identity_and_swap(
        self, result: Result[int, str], f: Callable[[str], str]
    ) -> None:
        """map_error(identity) changes nothing and map_error touches failures only."""
        assert result.map_error(lambda e: e) == result
        assert result.map_error(f).is_success() == result.is_success()


class TestPipelineLaws:
    @given(st.integers(), int_functions(), int_functions())
    def test_composition(self, x: int, f: Callable[[int], int], g: Callable[[int], int]) -> None:
        """p.add(f).add(g) computes g(f(x)) and leaves p unchanged."""
        p = Pipeline(x)
        assert p.add(f).add(g).execute() == g(f(x))
        assert len(p) == 0
        assert p.execute() == x

    @given(st.integers(), st.lists(int_functions(), max_size=8))
    def test_fold(self, x: int, steps: list[Callable[[int], int]]) -> None:
        """A pipeline of n steps is the left fold of its steps, and has length n."""
        pipeline = Pipeline(x)
        for step in steps:
            before = len(pipeline)
            pipeline = pipeline.add(step)
            assert len(pipeline) == before + 1
        assert pipeline.execute() == functools.reduce(lambda acc, f: f(acc), steps, x)


class TestSeedSection3:
    def test_container(self) -> None:
        """Seed 3.1: a generic container with map."""
        int_container: Container[int] = Container(42)
        str_container: Container[str] = Container("hello")

        # Map operation with type preservation
        result = int_container.map(lambda x: x * 2)  # Still Container[int]
        assert result == Container(84)
        assert str_container.value == "hello"

    @pytest.mark.parametrize(
        ("b", "printed"),
        [(2, "5.0\n"), (0, "Error: Cannot divide by zero\n")],
        ids=["success", "failure"],
    )
    def test_result(self, capsys: pytest.CaptureFixture[str], b: int, printed: str) -> None:
        """Seed 3.2: the Result type, both branches."""

        def divide(a: int, b: int) -> Result[float, str]:
            if b == 0:
                return Result.failure("Cannot divide by zero")
            return Result.success(a / b)

        # Functional error handling
        result = divide(10, b)
        if result.is_success():
            print(result.get_or_raise())  # noqa: T201 - the seed's example prints
        else:
            print(f"Error: {result.error}")  # noqa: T201 - the seed's example prints
        assert capsys.readouterr().out == printed

    def test_pipeline(self) -> None:
        """Seed 3.3: the fluent pipeline returns 169."""
        # fmt: off
        # Fluent API for chaining transformations
        result = Pipeline(5)\
            .add(lambda x: x * 2)\
            .add(lambda x: x + 3)\
            .add(lambda x: x ** 2)\
            .execute()  # Returns 169
        # fmt: on
        assert result == 169

    def test_protocol(self) -> None:
        """Seed 3.4: a runtime-checkable protocol, and ours behaves the same way."""
        from typing import Protocol, runtime_checkable

        @runtime_checkable
        class Serializable(Protocol):
            """Protocol for serializable objects."""

            def to_dict(self) -> dict:  # type: ignore[type-arg]  # the seed's bare dict
                ...

        my_object = ValidationError("bad", field="age")
        data = None
        # Any class implementing to_dict() satisfies this protocol
        if isinstance(my_object, Serializable):
            data = my_object.to_dict()
        assert data is not None
        assert data["context"] == {"field": "age"}


class TestSeedSection7:
    def test_generic_repository(self) -> None:
        """Seed 7.1: a generic class parameterised by the stored type."""
        from typing import Generic, TypeVar

        class User: ...

        T = TypeVar("T")

        class Repository(Generic[T]):
            def save(self, item: T) -> None: ...

            def get(self) -> T | None: ...

        # Type-safe usage
        repo: Repository[User] = Repository()
        user = repo.get()  # Type checker knows this is User | None
        repo.save(User())
        assert user is None

    def test_literal(self) -> None:
        """Seed 7.2: a Literal alias restricts the accepted values."""
        from typing import Literal, Union  # noqa: F401 - the seed imports Union

        Status = Literal["pending", "active", "deleted"]

        def update_status(user_id: int, status: Status) -> None:
            # Type checker ensures status is one of the allowed values
            pass

        update_status(1, "active")

    def test_callable(self) -> None:
        """Seed 7.3: a Callable parameter."""

        def apply_transform(data: list[int], transform: Callable[[int], int]) -> list[int]:
            # Transform must be a function taking int, returning int
            return [transform(x) for x in data]

        assert apply_transform([1, 2], lambda x: x * 10) == [10, 20]
