"""Tests of runtime argument validation: validate_types."""

from __future__ import annotations

import asyncio
import collections
import enum
import functools
import inspect
import re
import traceback
import types
import typing
from collections.abc import (
    Callable,
    Collection,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
    ValuesView,
)
from collections.abc import Set as AbstractSet
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    NewType,
    NotRequired,
    Optional,
    Protocol,
    Required,
    TypedDict,
    TypeVar,
    Union,
    Unpack,
    runtime_checkable,
)

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio.exceptions import PortfolioError, ValidationError
from python_mastery_portfolio.validation import _compiler as _type_checks
from python_mastery_portfolio.validation import _decorator as validation
from python_mastery_portfolio.validation import validate_types
from tests.conftest import raise_first, run_threads

T = TypeVar("T")
Bounded = TypeVar("Bounded", bound=int)
Constrained = TypeVar("Constrained", int, str)
UserId = NewType("UserId", int)
Json = Union[dict[str, "Json"], list["Json"], str, int, float, bool, None]  # noqa: UP007 - a string forward reference cannot be an operand of |
IntsOrText = list[int] | str


@runtime_checkable
class Closeable(Protocol):
    def close(self) -> None: ...


class NotRuntime(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class Named(Protocol):
    name: str


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Review(TypedDict):
    note: NotRequired[str]
    score: int


class Options(TypedDict, total=False):
    name: Required[str]
    debug: bool


class Tree(TypedDict):
    value: int
    children: list[Tree]


class Box(Generic[T]):
    def __init__(self, item: T) -> None:
        self.item = item


class Holder(TypedDict):
    item: Shifty


class File:
    def close(self) -> None:
        """Close nothing."""


class Flaky(type):
    """A metaclass whose instance check fails once when armed: a check that changes its mind."""

    armed = False

    def __instancecheck__(cls, instance: object) -> bool:
        if Flaky.armed:
            Flaky.armed = False
            return False
        return True


class Shifty(metaclass=Flaky):
    pass


@pytest.fixture(autouse=True)
def _disarm_flaky() -> None:
    Flaky.armed = False


def make(hint: object) -> Callable[[object], object]:
    """Return an identity function whose one parameter is checked against ``hint``."""

    def identity(x: object) -> object:
        return x

    return validate_types(x=hint)(identity)


def error_of(func: Callable[..., object], *args: object, **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(*args, **kwargs)
    return info.value


# Module-level functions whose annotations are strings (this module uses the __future__
# import), resolved at the first call.
@validate_types
def create_user(name: str, age: int, email: str) -> dict[str, object]:
    return {"name": name, "age": age, "email": email}


@validate_types
def uses_later(item: DefinedLater) -> DefinedLater:
    return item


class DefinedLater:
    pass


@validate_types
def json_depth(data: Json) -> int:
    if isinstance(data, dict):
        return 1 + max(map(json_depth, data.values()), default=0)
    if isinstance(data, list):
        return 1 + max(map(json_depth, data), default=0)
    return 0


@validate_types
def tree_sum(tree: Tree) -> int:
    return tree["value"] + sum(tree_sum(child) for child in tree["children"])


@validate_types
def aliased(value: Optional[IntsOrText]) -> object:  # noqa: UP045 - tests Optional of an alias union
    return value


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    class Unit:
        """A class only the class body names."""

    @validate_types
    def add(self, other: Point) -> Point:
        return Point(self.x + other.x, self.y + other.y)

    @validate_types
    def scale(self, unit: Unit, factor: float = 1.0) -> float:
        return factor

    @validate_types
    @classmethod
    def origin(cls, label: str) -> str:
        return f"{cls.__name__}:{label}"

    @classmethod
    @validate_types
    def named(cls, label: str) -> str:
        return f"{cls.__name__}:{label}"

    @validate_types
    @staticmethod
    def double(value: int) -> int:
        return 2 * value

    @staticmethod
    @validate_types
    def triple(value: int) -> int:
        return 3 * value


class TestSeedForm:
    def test_valid_call(self) -> None:
        """The seed's example passes valid arguments through."""

        @validate_types(name=str, age=int, email=str)
        def make_user(name: str, age: int, email: str) -> str:
            return f"{name}/{age}/{email}"

        assert make_user("ada", 36, "ada@example.com") == "ada/36/ada@example.com"

    def test_invalid_call(self) -> None:
        """A wrong argument raises ValidationError naming the field and the types."""

        @validate_types(name=str, age=int, email=str)
        def make_user(name: str, age: int, email: str) -> None:
            pass

        error = error_of(make_user, "ada", "36", "ada@example.com")
        assert error.field == "age"
        assert error.value == "36"
        assert str(error).endswith(".make_user() argument 'age' expected int, got str: '36'")
        assert isinstance(error, ValueError)
        assert isinstance(error, PortfolioError)

    def test_only_named_parameters_are_checked(self) -> None:
        """An explicit mapping checks exactly the parameters it names."""

        @validate_types(age=int)
        def make_user(name: str, age: int) -> str:
            return repr(name)

        assert make_user(3, 4) == "3"  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            make_user("a", "4")  # type: ignore[arg-type]

    def test_unknown_parameter(self) -> None:
        """Naming a parameter the function lacks is a TypeError at decoration time."""
        decorator = validate_types(name=str, nickname=str)

        def make_user(name: str) -> None:
            pass

        with pytest.raises(TypeError, match=r"'nickname'.*make_user\(\) has no such parameter"):
            decorator(make_user)

    def test_unsupported_explicit_annotation(self) -> None:
        """An explicit annotation that cannot be checked is a TypeError at decoration time."""
        with pytest.raises(TypeError, match="parameter 'x': unsupported annotation 3"):
            make(3)

    def test_explicit_string_resolved_at_first_call(self) -> None:
        """A string in the mapping is resolved in the function's scope at the first call."""
        checked = make("DefinedLater | None")
        assert checked(None) is None
        with pytest.raises(ValidationError, match=r"expected DefinedLater \| None"):
            checked(1)

    def test_positional_function_and_types(self) -> None:
        """validate_types(func, name=type) is the explicit form applied at once."""

        def identity(x: object) -> object:
            return x

        checked = validate_types(identity, x=int)  # type: ignore[call-overload]
        with pytest.raises(ValidationError):
            checked("1")


class TestForms:
    @pytest.mark.parametrize("form", ["bare", "empty_call"])
    def test_bare_and_empty_call(self, form: str) -> None:
        """@validate_types and @validate_types() both check the annotations."""

        def add(a: int, b: int) -> int:
            return a + b

        checked = validate_types(add) if form == "bare" else validate_types()(add)
        assert checked(1, 2) == 3
        assert error_of(checked, 1, "2").field == "b"

    def test_metadata_kept(self) -> None:
        """Name, docstring, __wrapped__ and signature are those of the function."""
        assert create_user.__name__ == "create_user"
        assert create_user.__qualname__ == "create_user"
        assert create_user.__module__ == __name__
        assert inspect.signature(create_user).parameters.keys() == {"name", "age", "email"}
        assert create_user.__wrapped__("a", "b", "c")["age"] == "b"  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [
            (("ada", "36", "e"), {}),
            (("ada",), {"age": "36", "email": "e"}),
            ((), {"email": "e", "age": "36", "name": "ada"}),
        ],
        ids=["positional", "mixed", "keyword"],
    )
    def test_position_or_keyword(self, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        """The error is the same whether the argument came by position or keyword."""
        error = error_of(create_user, *args, **kwargs)
        assert (error.field, error.value) == ("age", "36")
        assert str(error) == "create_user() argument 'age' expected int, got str: '36'"

    def test_arity_errors_stay_python_errors(self) -> None:
        """Missing or extra arguments raise Python's own TypeError, naming the function."""
        with pytest.raises(TypeError, match=r"create_user\(\) missing 1 required"):
            create_user("a", 1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
            create_user("a", 1, "e", x=2)  # type: ignore[call-arg]


TYPES_CASES: list[tuple[str, object, list[object], list[object]]] = [
    ("int", int, [1, True, Color.RED.value], [1.0, "1", None]),
    ("float", float, [1.0, 1, True], ["1.0", None, 1j]),
    ("complex", complex, [1j, 1.0, 1], ["1j"]),
    ("bool", bool, [True, False], [1, 0, None]),
    ("str", str, ["", "a"], [b"a", 1]),
    ("none", None, [None], [0, "", False]),
    ("nonetype", type(None), [None], [0]),
    ("any", Any, [None, object(), 1], []),
    ("object", object, [None, object()], []),
    ("pipe_union", int | None, [1, None], ["1"]),
    ("optional", Optional[str], ["a", None], [1]),  # noqa: UP045 - tests the Optional spelling
    ("union", Union[int, str], [1, "a"], [1.5, None]),  # noqa: UP007 - tests the Union spelling
    ("union_any", Union[int, Any], [object()], []),  # noqa: UP007 - tests the Union spelling
    ("literal", Literal["a", 1], ["a", 1], ["b", True, 1.0, 2]),
    ("literal_true", Literal[True], [True], [1, False]),
    ("literal_none_enum", Literal[None, Color.RED], [None, Color.RED], [Color.BLUE, 1]),
    ("literal_unhashable_value", Literal["a", 1], [], [["a"], {"a": 1}]),
    ("annotated", Annotated[int, "meta"], [1], ["1"]),
    ("newtype", UserId, [UserId(1), 2], ["1"]),
    ("typevar", T, [1, None, "x"], []),
    ("typevar_bound", Bounded, [1], ["1"]),
    ("typevar_constrained", Constrained, [1, "a"], [1.5]),
    ("callable", Callable, [len, lambda: None, int], [3]),
    ("callable_args", Callable[[int], str], [str], [None]),
    ("typing_callable", typing.Callable[..., Any], [print], ["print"]),
    ("type_bare", type, [int, Color], [1]),
    ("type_any", type[Any], [int], [1]),
    ("type_class", type[Exception], [ValueError, Exception], [int, ValueError()]),
    ("typing_type", typing.Type[int], [int, bool], [str]),  # noqa: UP006 - the typing spelling
    ("type_union", type[int | str], [int, str], [float]),
    ("type_generic", type[list[int]], [list], [tuple]),
    ("protocol", Closeable, [File()], [object()]),
    ("typing_protocol", typing.SupportsInt, [1, 1.5], ["1"]),
    ("literal_string", typing.LiteralString, ["a"], [1]),
    ("never", typing.Never, [], [None, 1]),
    ("no_return", typing.NoReturn, [], [None]),
    ("self", typing.Self, [1, "a"], []),
    ("enum", Color, [Color.RED], [1]),
    ("list", list[int], [[], [1, True], [1, Color.RED.value]], [[1, "2"], (1,), None, [1.0]]),
    ("list_float", list[float], [[1.0, 2], [1, 2], []], [[1.0, "2"]]),
    ("list_str_subclass", list[str], [["a", type("S", (str,), {})("b")]], [["a", b"b"]]),
    ("typing_list", typing.List[int], [[1]], [["1"]]),  # noqa: UP006 - the typing spelling
    ("list_bare", list, [[1, "a"]], [(1,)]),
    ("typing_list_bare", typing.List, [[1, "a"]], [(1,)]),  # noqa: UP006 - the typing spelling
    ("list_any", list[Any], [[1, "a"]], [(1,)]),
    ("list_union", list[int | None], [[1, None]], [[1, "a"]]),
    ("list_protocol", list[Closeable], [[File()]], [[File(), 1]]),
    ("set", set[int], [set(), {1, 2}], [{1, "a"}, frozenset({1}), [1]]),
    ("frozenset", frozenset[str], [frozenset({"a"})], [{"a"}, frozenset({1})]),
    ("dict", dict[str, int], [{}, {"a": 1}], [{1: 1}, {"a": "1"}, [("a", 1)]]),
    ("typing_dict", typing.Dict[str, int], [{"a": 1}], [{"a": None}]),  # noqa: UP006 - the typing spelling
    ("dict_any_key", dict[Any, int], [{1: 1, "a": 2}], [{1: "a"}]),
    ("tuple_ellipsis", tuple[int, ...], [(), (1, 2)], [(1, "2"), [1]]),
    ("tuple_fixed", tuple[int, str], [(1, "a")], [(1,), (1, "a", 2), ("a", 1), [1, "a"]]),
    ("tuple_empty", tuple[()], [()], [(1,)]),
    ("typing_tuple_bare", typing.Tuple, [(), (1, "a")], [[1]]),  # noqa: UP006 - the typing spelling
    ("typing_tuple", typing.Tuple[int, str], [(1, "a")], [(1, 2)]),  # noqa: UP006 - the typing spelling
    ("sequence", Sequence[int], [[1], (1,), range(3)], ["abc", {1}, [1, "2"]]),
    ("sequence_str", Sequence[str], ["abc", ["a"]], [[1]]),
    ("mutable_sequence", MutableSequence[int], [[1], collections.deque([1])], [(1,)]),
    ("mapping", Mapping[str, int], [{"a": 1}, types.MappingProxyType({"a": 1})], [{"a": "1"}]),
    ("mutable_mapping", MutableMapping[str, int], [{"a": 1}], [types.MappingProxyType({})]),
    ("abstract_set", AbstractSet[int], [{1}, frozenset({2}), {1: 0}.keys()], [[1], {"a"}]),
    ("collection", Collection[int], [[1], {1}, (1,)], [["a"], 1]),
    ("iterable", Iterable[int], [[1], iter(["not checked"]), (i for i in "x")], [1]),
    ("iterator", Iterator[str], [iter([1])], [["a"]]),
    ("deque", collections.deque[int], [collections.deque([1])], [[1], collections.deque(["a"])]),
    ("defaultdict", collections.defaultdict[str, int], [collections.defaultdict(int)], [{}]),
    ("ordered_dict", collections.OrderedDict[str, int], [collections.OrderedDict(a=1)], [{}]),
    (
        "counter",
        collections.Counter[str],
        [collections.Counter("ab")],
        [collections.Counter(typing.cast("dict[str, int]", {"a": 1.5})), collections.Counter([1])],
    ),
    (
        "chain_map",
        collections.ChainMap[str, int],
        [collections.ChainMap({"a": 1})],
        [collections.ChainMap({"a": "b"})],
    ),
    ("keys_view", KeysView[str], [{"a": 1}.keys()], [{1: 1}.keys(), {"a": 1}.values()]),
    ("values_view", ValuesView[int], [{"a": 1}.values()], [{"a": "1"}.values()]),
    ("items_view", ItemsView[str, int], [{"a": 1}.items()], [{"a": "1"}.items(), {1: 1}.items()]),
    (
        "typeddict",
        Movie,
        [{"title": "x", "year": 1}, {"title": "x", "year": 1, "rating": 2}],
        [
            {"title": "x"},
            {"title": "x", "year": "1"},
            {"title": "x", "year": 1, "rating": "2"},
            [("title", "x")],
        ],
    ),
    (
        "total_false",
        Options,
        [{"name": "a"}, {"name": "a", "debug": True}],
        [{}, {"debug": True}, {"name": "a", "debug": 1}],
    ),
    ("user_generic", Box[int], [Box(1), Box("not checked")], [1]),
    ("pattern", re.Pattern[str], [re.compile("a")], ["a"]),
    (
        "nested",
        dict[str, list[tuple[int, str]]],
        [{"a": [(1, "x")], "b": []}],
        [{"a": [(1, 2)]}, {"a": [(1,)]}, {"a": [[1, "x"]]}, {"a": (1, "x")}],
    ),
    ("list_of_lists", list[list[int]], [[[1], [2, 3], []]], [[[1], [2, "3"]], [[1], (2,)], [1]]),
    (
        "list_of_tuples",
        list[tuple[int, str]],
        [[(1, "a"), (2, "b")]],
        [[(1, "a"), (2,)], [(1, "a"), [2, "b"]], [(1, "a"), (2, 3)]],
    ),
    (
        "list_of_dicts",
        list[dict[str, int]],
        [[{"a": 1}, {}]],
        [[{"a": 1}, {1: 1}], [{"a": 1}, {"b": "x"}], [{"a": 1}, [1]]],
    ),
    ("dict_of_sets", dict[str, set[int]], [{"a": {1}}], [{"a": {1, "x"}}]),
    ("list_of_json", list[Json], [[1, {"a": [None]}]], [[1, {"a": [object()]}]]),
]


def _case_id(case: tuple[str, object, list[object], list[object]]) -> str:
    return case[0]


class TestAnnotations:
    @pytest.mark.parametrize(
        ("hint", "good"),
        [(case[1], value) for case in TYPES_CASES for value in case[2]],
        ids=[f"{case[0]}-{index}" for case in TYPES_CASES for index in range(len(case[2]))],
    )
    def test_accepts(self, hint: object, good: object) -> None:
        """A value of the annotated type passes, unchanged."""
        assert make(hint)(good) is good

    @pytest.mark.parametrize(
        ("hint", "bad"),
        [(case[1], value) for case in TYPES_CASES for value in case[3]],
        ids=[f"{case[0]}-{index}" for case in TYPES_CASES for index in range(len(case[3]))],
    )
    def test_rejects(self, hint: object, bad: object) -> None:
        """A value not of the annotated type raises ValidationError on field x."""
        error = error_of(make(hint), bad)
        assert error.field == "x"
        assert "expected" in str(error)

    def test_iterables_are_not_consumed(self) -> None:
        """Iterable and Iterator arguments are checked as a type only, never consumed."""
        iterator = iter([1, 2, 3])
        assert make(Iterable[int])(iterator) is iterator
        assert list(iterator) == [1, 2, 3]

    @pytest.mark.parametrize(
        ("hint", "message"),
        [
            (typing.ClassVar[int], "unsupported annotation"),
            (tuple[int, *tuple[str, ...]], "unsupported annotation"),
            (type[Literal[1]], r"unsupported annotation type\[Literal\[1\]\]: it has no class"),
            (type[Named], "non-method members"),
            (Literal[[1]], "unsupported Literal values"),
        ],
        ids=[
            "classvar",
            "variadic-tuple",
            "type-literal",
            "type-data-protocol",
            "unhashable-literal",
        ],
    )
    def test_unsupported(self, hint: object, message: str) -> None:
        """An annotation that cannot be checked is a clear TypeError, not a silent pass."""
        with pytest.raises(TypeError, match=message):
            make(hint)

    def test_constrained_typevar_with_container(self) -> None:
        """Constraints mixing classes and containers are a union of all of them."""
        Mixed = TypeVar("Mixed", int, list[int])
        checked = make(Optional[Mixed])  # noqa: UP045 - a union built around a type variable
        assert checked([1]) == [1]
        assert checked(None) is None
        assert error_of(checked, ["a"]).value == "a"

    def test_generic_typeddict(self) -> None:
        """A generic TypedDict is checked with its type variables as Any."""

        class Page(TypedDict, Generic[T]):
            items: list[T]
            total: int

        checked = make(Page[int])
        assert checked({"items": ["any"], "total": 1}) == {"items": ["any"], "total": 1}
        assert error_of(checked, {"items": [], "total": "1"}).value == "1"


class TestMessages:
    @pytest.mark.parametrize(
        ("hint", "value", "path", "expected", "bad"),
        [
            (dict[str, list[int]], {"k": [1, 2, "x"]}, "x['k'][2]", "int", "x"),
            (dict[str, int], {"a": 1, 2: 2}, "x{2}", "str", 2),
            (set[int], {"s"}, "x{'s'}", "int", "s"),
            (list[tuple[int, str]], [(1, "a"), (2, 3)], "x[1][1]", "str", 3),
            (tuple[int, str], (1, 2, 3), "x", "tuple[int, str]", (1, 2, 3)),
            (list[int] | None, [1, "a"], "x[1]", "int", "a"),
            (list[int] | tuple[int, ...], {1}, "x", "list[int] | tuple[int, ...]", {1}),
            (Movie, {"title": "t"}, "x", "Movie (missing key 'year')", {"title": "t"}),
            (Movie, {"title": "t", "year": None}, "x['year']", "int", None),
            (Movie, ["t"], "x", "Movie", ["t"]),
            (Mapping[str, Sequence[int]], {"a": (1, "b")}, "x['a'][1]", "int", "b"),
            (tuple[int | list[int], str], ([1], 2), "x[1]", "str", 2),
            (Review, {"score": "x"}, "x['score']", "int", "x"),
        ],
        ids=[
            "dict-list",
            "dict-key",
            "set",
            "list-tuple",
            "tuple-length",
            "optional",
            "union",
            "typeddict-missing",
            "typeddict-value",
            "typeddict-type",
            "abc",
            "tuple-union",
            "typeddict-optional",
        ],
    )
    def test_path(self, hint: object, value: object, path: str, expected: str, bad: object) -> None:
        """The error names the path inside containers and the innermost bad value."""
        error = error_of(make(hint), value)
        assert error.context["path"] == path
        assert error.context["expected"] == expected
        assert error.value == bad
        assert error.field == "x"
        assert (
            f"expected {expected}, got {type(bad).__qualname__ if bad is not None else 'None'}"
            in str(error)
        )

    def test_message_format(self) -> None:
        """The message reads: function, argument, path, expected, actual type and value."""
        error = error_of(make(dict[str, list[int]]), {"k": [1, 2, "x"]})
        assert str(error) == (
            "make.<locals>.identity() argument 'x' at x['k'][2] expected int, got str: 'x'"
        )
        assert error.context["function"] == "make.<locals>.identity"

    def test_none_message(self) -> None:
        """A None value reads 'got None'."""
        assert str(error_of(make(int), None)).endswith("expected int, got None")

    def test_long_value_is_shortened(self) -> None:
        """A huge value is shortened in the message and kept whole on the error."""
        value = "x" * 10_000
        error = error_of(make(int), value)
        assert len(str(error)) < 200
        assert error.value is value

    def test_broken_repr(self) -> None:
        """A value whose repr raises still gives a message."""

        class Broken:
            def __repr__(self) -> str:
                raise RuntimeError

        assert "Broken: <Broken instance at" in str(error_of(make(int), Broken()))

    def test_to_dict(self) -> None:
        """The error serialises with its field, path and expected type."""
        data = error_of(create_user, "a", "b", "c").to_dict()
        assert data["code"] == "validation_error"
        assert data["context"]["field"] == "age"
        assert data["context"]["path"] == "age"
        assert data["context"]["expected"] == "int"

    @pytest.mark.parametrize(
        ("hint", "value"),
        [
            (Shifty, object()),
            (list[Shifty], [object()]),
            (dict[str, Shifty], {"k": object()}),
            (tuple[Shifty], (object(),)),
            (Holder, {"item": object()}),
        ],
        ids=["class", "list", "dict", "tuple", "typeddict"],
    )
    def test_check_that_changes_its_mind(self, hint: object, value: object) -> None:
        """A check that fails, then passes while being explained, still raises clearly."""
        checked = make(hint)
        checked(value)  # compiles the checker
        Flaky.armed = True
        error = error_of(checked, value)
        assert (error.field, error.value, error.context["path"]) == ("x", value, "x")

    def test_item_check_that_changes_its_mind(self) -> None:
        """The same holds for a *args item."""

        def collect(*args: Shifty) -> tuple[Shifty, ...]:
            return args

        checked = validate_types(collect)
        value: Any = object()
        checked(value)
        Flaky.armed = True
        error = error_of(checked, value)
        assert (error.field, error.value) == ("args", (value,))


class TestParameters:
    def test_var_positional(self) -> None:
        """Each *args item is checked; the path is args[i]."""

        @validate_types
        def total(*numbers: int) -> int:
            return sum(numbers)

        assert total() == 0
        assert total(1, 2) == 3
        error = error_of(total, 1, 2, "3")
        assert (error.field, error.value, error.context["path"]) == ("numbers", "3", "numbers[2]")

    def test_var_keyword(self) -> None:
        """Each **kwargs value is checked; the path is kwargs['key']."""

        @validate_types
        def tags(**labels: str) -> dict[str, str]:
            return labels

        assert tags(a="x") == {"a": "x"}
        error = error_of(tags, a="x", b=2)
        assert (error.field, error.value, error.context["path"]) == ("labels", 2, "labels['b']")

    def test_var_items_of_container_type(self) -> None:
        """A *args annotation that is not a class is checked per item too."""

        @validate_types
        def rows(*row: list[int]) -> int:
            return len(row)

        assert rows([1], []) == 2
        assert error_of(rows, [1], ["x"]).context["path"] == "row[1][0]"

    def test_unpacked_tuple_args(self) -> None:
        """*args: *tuple[int, str] checks the whole tuple."""

        @validate_types
        def pair(*args: *tuple[int, str]) -> tuple[int, str]:
            return args

        assert pair(1, "a") == (1, "a")
        assert error_of(pair, 1, 2).context["path"] == "args[1]"
        assert error_of(pair, 1).context["path"] == "args"

    def test_unpack_typeddict_kwargs(self) -> None:
        """**kwargs: Unpack[Movie] checks the keywords as the TypedDict."""

        @validate_types
        def film(**kwargs: Unpack[Movie]) -> str:
            return kwargs["title"]

        assert film(title="x", year=1) == "x"
        assert error_of(film, title="x", year="1").context["path"] == "kwargs['year']"
        assert "missing key 'year'" in str(error_of(film, title="x"))

    def test_explicit_var_types(self) -> None:
        """The explicit mapping may name *args and **kwargs."""

        def join(*parts: object, **options: object) -> str:
            return "".join(map(str, parts))

        checked = validate_types(parts=str, options=bool)(join)
        assert checked("a", "b", strip=True) == "ab"
        assert error_of(checked, "a", 1).field == "parts"
        assert error_of(checked, strip=1).field == "options"

    def test_positional_only_and_keyword_only(self) -> None:
        """Positional-only and keyword-only parameters are checked and keep their kind."""

        @validate_types
        def f(a: int, /, b: int, *, c: int) -> int:
            return a + b + c

        assert f(1, 2, c=3) == 6
        assert f(1, b=2, c=3) == 6
        assert error_of(f, "1", 2, c=3).field == "a"
        assert error_of(f, 1, 2, c="3").field == "c"
        with pytest.raises(TypeError, match="positional-only"):
            f(a=1, b=2, c=3)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="positional argument"):
            f(1, 2, 3)  # type: ignore[call-arg]

    def test_keyword_only_after_args(self) -> None:
        """Keyword-only parameters after *args are checked."""

        @validate_types
        def f(*args: int, sep: str = ",") -> str:
            return sep.join(map(str, args))

        assert f(1, 2, sep="-") == "1-2"
        assert error_of(f, 1, sep=0).field == "sep"

    def test_defaults_are_not_checked(self) -> None:
        """A parameter left at its default is not checked, so sentinels work."""
        sentinel: Any = object()

        @validate_types
        def f(x: int = sentinel, y: int = None) -> object:  # type: ignore[assignment]  # noqa: RUF013 - a default of the wrong type is the point
            return x

        assert f() is sentinel
        assert f(3) == 3
        assert error_of(f, y="1").field == "y"
        assert error_of(f, None).field == "x"

    def test_defaults_not_rechecked_per_call(self) -> None:
        """The default object itself is never checked, however many calls."""
        calls = []

        class Counting(type):
            def __instancecheck__(cls, instance: object) -> bool:
                calls.append(instance)
                return True

        class Checked(metaclass=Counting):
            pass

        default = Checked()

        def identity(x: Checked = default) -> Checked:
            return x

        checked = validate_types(x=Checked)(identity)
        assert checked() is default  # compiles the checker, which probes the class once
        calls.clear()
        for _ in range(10):
            assert checked() is default
        assert calls == []
        checked(1)  # type: ignore[arg-type]
        assert calls == [1]

    def test_unannotated_parameters(self) -> None:
        """Parameters without an annotation are not checked."""

        @validate_types
        def f(a, b: int):  # type: ignore[no-untyped-def]  # the point of the test
            return a

        assert f("anything", 1) == "anything"
        assert error_of(f, 1, "1").field == "b"

    def test_reserved_names(self) -> None:
        """Parameters named like the wrapper's internals or builtins work."""

        @validate_types
        def f(_pmp_func: int, isinstance: str, _pmp_self: int = 0) -> str:
            return f"{_pmp_func}{isinstance}{_pmp_self}"

        assert f(1, "a") == "1a0"
        assert error_of(f, 1, 2).field == "isinstance"
        assert error_of(f, 1, "a", "x").field == "_pmp_self"


class TestMethods:
    def test_method(self) -> None:
        """An unannotated self is not checked; other parameters are."""
        moved = Point(1, 2).add(Point(3, 4))
        assert (moved.x, moved.y) == (4, 6)
        error = error_of(Point(1, 2).add, (3, 4))
        assert str(error).startswith("Point.add() argument 'other' expected Point")

    def test_class_body_names(self) -> None:
        """Annotations may name classes defined in the class body, and promote int to float."""
        assert Point(0, 0).scale(Point.Unit(), 2) == 2
        assert error_of(Point(0, 0).scale, Point(0, 0)).field == "unit"

    @pytest.mark.parametrize("name", ["origin", "named"], ids=["above", "below"])
    def test_classmethod(self, name: str) -> None:
        """@validate_types works above or below @classmethod; cls is not checked."""
        method = getattr(Point, name)
        assert method("o") == "Point:o"
        assert error_of(method, 1).field == "label"
        assert isinstance(inspect.getattr_static(Point, name), classmethod)

    @pytest.mark.parametrize("name", ["double", "triple"], ids=["above", "below"])
    def test_staticmethod(self, name: str) -> None:
        """@validate_types works above or below @staticmethod."""
        method = getattr(Point(0, 0), name)
        assert method(2) in {4, 6}
        assert error_of(method, "2").field == "value"

    def test_annotated_self(self) -> None:
        """An annotated self is checked like any parameter."""

        class Account:
            @validate_types
            def deposit(self: Account, amount: int) -> int:
                return amount

        assert Account().deposit(5) == 5
        assert error_of(Account.deposit, object(), 5).field == "self"


class TestAsync:
    async def test_stays_coroutine_function(self) -> None:
        """A coroutine function stays one and returns its result."""

        @validate_types
        async def fetch(user_id: int) -> int:
            await asyncio.sleep(0)
            return user_id

        assert inspect.iscoroutinefunction(fetch)
        assert await fetch(3) == 3

    async def test_invalid_argument(self) -> None:
        """A bad argument raises ValidationError when the coroutine is awaited."""

        @validate_types
        async def fetch(user_id: int) -> int:
            return user_id

        with pytest.raises(ValidationError, match="'user_id' expected int"):
            await fetch("3")  # type: ignore[arg-type]

    async def test_many_tasks(self) -> None:
        """Many concurrent tasks each get their own verdict."""

        @validate_types
        async def echo(value: list[int]) -> list[int]:
            await asyncio.sleep(0)
            return value

        async def run(index: int) -> bool:
            try:
                value: Any = [index] if index % 2 else [str(index)]
                await echo(value)
            except ValidationError:
                return False
            return True

        results = await asyncio.gather(*(run(i) for i in range(200)))
        assert results == [bool(i % 2) for i in range(200)]

    async def test_async_generator_and_generator(self) -> None:
        """Generator and async generator functions are checked at call time and still work."""

        @validate_types
        def count(n: int) -> Iterator[int]:
            yield from range(n)

        @validate_types
        async def acount(n: int) -> typing.AsyncIterator[int]:
            for i in range(n):
                yield i

        assert list(count(3)) == [0, 1, 2]
        assert [i async for i in acount(2)] == [0, 1]
        with pytest.raises(ValidationError):
            count("3")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            acount("3")  # type: ignore[arg-type]


class TestCallables:
    def test_callable_instance(self) -> None:
        """A callable object is checked through its __call__ signature."""

        class Scaler:
            def __call__(self, value: int) -> int:
                return 2 * value

        checked = validate_types(Scaler())
        assert checked(2) == 4
        assert error_of(checked, "2").field == "value"

    def test_partial(self) -> None:
        """A functools.partial is checked on its remaining parameters."""

        def power(base: int, exponent: int) -> int:
            return int(base**exponent)

        checked = validate_types(functools.partial(power, exponent=2))
        assert checked(3) == 9
        assert error_of(checked, "3").field == "base"

    @pytest.mark.parametrize("target", [int, 3, "f"], ids=["class", "int", "str"])
    def test_refuses_non_functions(self, target: Any) -> None:
        """Classes and non-callables are a TypeError at decoration time."""
        with pytest.raises(TypeError, match="decorates functions"):
            validate_types(target)

    def test_no_signature(self) -> None:
        """A callable without a readable signature is a TypeError at decoration time."""

        class Opaque:
            __signature__ = 3

            def __call__(self) -> None:
                pass

        with pytest.raises(TypeError, match="cannot read the signature"):
            validate_types(Opaque())


class TestResolution:
    def test_forward_reference_to_later_class(self) -> None:
        """A class defined after the function resolves at the first call."""
        item = DefinedLater()
        assert uses_later(item) is item
        assert error_of(uses_later, 1).field == "item"

    def test_local_class_defined_later(self) -> None:
        """A class local to the enclosing function, defined after it, resolves too."""

        @validate_types
        def handle(event: LocalEvent) -> str:
            return type(event).__name__

        class LocalEvent:
            pass

        assert handle(LocalEvent()) == "LocalEvent"
        assert error_of(handle, 1).field == "event"

    def test_scope_that_has_returned(self) -> None:
        """A class defined after the function in a factory that has returned still resolves."""

        def factory() -> tuple[Callable[[Any], str], type]:
            @validate_types
            def describe(shape: Square) -> str:
                return type(shape).__name__

            class Square:
                pass

            return describe, Square

        describe, square = factory()
        assert describe(square()) == "Square"
        assert error_of(describe, 1).context["expected"] == "Square"

    def test_compilation_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """Compiling the checkers is logged once at DEBUG."""

        @validate_types
        def handle(event: int, note: str = "") -> int:
            return event

        with caplog.at_level("DEBUG", logger="python_mastery_portfolio.validation"):
            handle(1)
            handle(2)
        assert [r.getMessage() for r in caplog.records] == [
            f"validate_types compiled {handle.__qualname__}: 2 checked"
        ]

    def test_unresolvable_reference(self) -> None:
        """A name that never resolves is a NameError at the first call naming the annotation."""

        @validate_types
        def handle(event: Missing, count: int) -> None:  # type: ignore[name-defined]  # noqa: F821 - the point of the test
            pass

        for _ in range(2):  # still failing, and still clear, on the next call
            with pytest.raises(
                NameError, match=r"handle\(\): parameter 'event': annotation 'Missing'"
            ):
                handle(1, 2)

    def test_resolves_once_defined(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A call after the missing name appears succeeds, and the result is cached."""

        @validate_types
        def handle(event: LateGlobal) -> object:  # type: ignore[name-defined]  # noqa: F821 - defined below
            return event

        with pytest.raises(NameError):
            handle(1)
        monkeypatch.setitem(globals(), "LateGlobal", int)
        assert handle(1) == 1
        monkeypatch.delitem(globals(), "LateGlobal")
        assert handle(2) == 2  # compiled once: the name is not looked up again
        assert error_of(handle, "x").context["expected"] == "int"

    def test_not_resolved_at_decoration(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Decorating never evaluates the annotations; the first call does."""
        evaluations: list[str] = []
        original = _type_checks.Compiler.evaluate

        def counting(self: _type_checks.Compiler, source: str) -> object:
            evaluations.append(source)
            return original(self, source)

        monkeypatch.setattr(_type_checks.Compiler, "evaluate", counting)

        @validate_types
        def handle(event: int, other: Unknown = None) -> None:  # type: ignore[name-defined]  # noqa: F821 - never resolved
            pass

        assert evaluations == []
        with pytest.raises(NameError):
            handle(1)
        assert evaluations == ["int", "Unknown"]

    def test_bad_string_annotation(self) -> None:
        """A string annotation that is not an expression is a TypeError at the first call."""
        with pytest.raises(TypeError, match="cannot evaluate it"):
            make("list[")(1)

    def test_unsupported_annotation_at_first_call(self) -> None:
        """An unsupported annotation in the bare form is a TypeError at the first call."""

        @validate_types
        def handle(event: type[Named]) -> None:
            pass

        with pytest.raises(TypeError, match=r"parameter 'event'.*non-method members"):
            handle(File)  # type: ignore[arg-type]  # File has no name: never reached

    def test_alias_of_union_inside_optional(self) -> None:
        """An alias naming a union inside Optional is flattened and checked."""
        assert aliased(None) is None
        assert aliased("a") == "a"
        assert aliased([1]) == [1]
        assert error_of(aliased, [1, "x"]).context["path"] == "value[1]"
        assert error_of(aliased, 1.5).context["expected"] == "list[int] | str | None"

    def test_concurrent_first_calls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Many threads making the first call at once compile the annotations once."""
        evaluations: list[str] = []
        original = _type_checks.Compiler.evaluate

        def counting(self: _type_checks.Compiler, source: str) -> object:
            evaluations.append(source)
            return original(self, source)

        monkeypatch.setattr(_type_checks.Compiler, "evaluate", counting)

        @validate_types
        def handle(event: int) -> int:
            return event

        results: list[object] = []

        def call(index: int) -> None:
            try:
                results.append(handle(index if index % 2 else str(index)))  # type: ignore[arg-type]
            except ValidationError as error:
                results.append(error)

        raise_first(run_threads(32, call))
        assert evaluations == ["int"]
        assert sum(isinstance(result, ValidationError) for result in results) == 16


class TestRecursion:
    def test_recursive_alias(self) -> None:
        """A recursive alias checks nested data at any depth."""
        assert json_depth({"a": [1, {"b": ["x", None, 1.5, True]}]}) == 4
        error = error_of(json_depth, {"a": [1, {"b": [object()]}]})
        assert error.context["path"] == "data['a'][1]['b'][0]"
        assert (
            error.context["expected"]
            == "dict[str, Json] | list[Json] | str | int | float | bool | None"
        )

    def test_cyclic_data(self) -> None:
        """Cyclic data that conforms passes instead of recursing forever."""
        cycle: list[object] = [1]
        cycle.append(cycle)
        assert make(Json)(cycle) is cycle

    def test_cyclic_data_with_bad_item(self) -> None:
        """Cyclic data with a bad item is rejected with a finite path."""
        outer: list[object] = []
        inner: list[object] = [outer]
        bad = object()
        outer.extend([inner, bad])
        error = error_of(make(Json), outer)
        assert error.value is bad
        assert error.context["path"] == "x[0][0][1]"  # the same object as x[1], reached first

    def test_recursive_typeddict(self) -> None:
        """A TypedDict that refers to itself checks the whole tree."""
        tree = {"value": 1, "children": [{"value": 2, "children": []}]}
        assert tree_sum(tree) == 3  # type: ignore[arg-type]
        bad = {"value": 1, "children": [{"value": "2", "children": []}]}
        assert error_of(tree_sum, bad).context["path"] == "tree['children'][0]['value']"

    def test_threads_share_recursive_checker(self) -> None:
        """Recursive checks in many threads never see each other's progress."""
        verdicts: dict[int, bool] = {}
        shared: list[object] = [1, [2, [3]]]

        def call(index: int) -> None:
            value: Any = [shared, [index]] if index % 2 else [shared, [object()]]
            for _ in range(50):
                try:
                    json_depth(value)
                    verdicts[index] = True
                except ValidationError:
                    verdicts[index] = False

        raise_first(run_threads(32, call))
        assert verdicts == {i: bool(i % 2) for i in range(32)}


class TestInternals:
    def test_lexical_frames_stop_at_module(self) -> None:
        """Only frames of the function's enclosing scopes are kept."""

        def inner() -> None:
            pass

        frames = validation._lexical_frames(inner, inspect.currentframe())
        assert [frame.f_code.co_name for frame in frames] == ["test_lexical_frames_stop_at_module"]
        assert validation._lexical_frames(create_user, inspect.currentframe()) == []

    def test_resolve_is_idempotent(self) -> None:
        """Resolving again (a thread that lost the race) changes nothing."""
        assert create_user("a", 1, "e")["age"] == 1
        code = create_user.__code__
        create_user.__globals__["_pmp_resolve"]()
        assert create_user.__code__ is code

    def test_traceback_shows_the_generated_wrapper(self) -> None:
        """A traceback through a validated call prints the wrapper's generated source line."""

        @validate_types
        def explode(count: int) -> None:
            raise RuntimeError(f"boom {count}")

        with pytest.raises(RuntimeError):
            explode(1)  # the first call compiles the checks
        with pytest.raises(RuntimeError) as info:
            explode(3)
        frames = traceback.extract_tb(info.value.__traceback__)
        [wrapper] = [frame for frame in frames if frame.filename.startswith("<validate_types")]
        assert wrapper.name == "explode"
        assert wrapper.line == "return _pmp_func(count)"
        assert "return _pmp_func(count)" in "".join(traceback.format_tb(info.value.__traceback__))

    def test_traceback_shows_the_failing_check(self) -> None:
        """A ValidationError's traceback shows the generated line that checked the argument."""
        with pytest.raises(ValidationError) as info:
            create_user("a", "1", "e")  # type: ignore[arg-type]  # the point of the test
        lines = [frame.line for frame in traceback.extract_tb(info.value.__traceback__)]
        assert any(line and "_pmp_fail(1, age)" in line for line in lines)


# Hypothesis: the checker agrees with a plain reference predicate on random data.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)
)
nested = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


def reference_list_of_optional_int(value: object) -> bool:
    return isinstance(value, list) and all(item is None or isinstance(item, int) for item in value)


def reference_dict_of_lists(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str)
        and isinstance(item, list)
        and all(isinstance(i, int | float) for i in item)
        for key, item in value.items()
    )


class TestProperties:
    @given(nested)
    def test_list_of_optional_int_matches_reference(self, value: object) -> None:
        """list[int | None] accepts exactly what the reference predicate accepts."""
        checked = make(list[int | None])
        try:
            checked(value)
        except ValidationError:
            assert not reference_list_of_optional_int(value)
        else:
            assert reference_list_of_optional_int(value)

    @given(nested)
    def test_dict_of_float_lists_matches_reference(self, value: object) -> None:
        """dict[str, list[float]] accepts exactly what the reference predicate accepts."""
        checked = make(dict[str, list[float]])
        try:
            checked(value)
        except ValidationError:
            assert not reference_dict_of_lists(value)
        else:
            assert reference_dict_of_lists(value)

    @given(nested)
    def test_json_accepts_all_json(self, value: object) -> None:
        """Every JSON-like value passes the recursive Json alias, returned unchanged."""
        assert make(Json)(value) is value

    @given(scalars, scalars, scalars)
    def test_position_and_keyword_agree(self, name: object, age: object, email: object) -> None:
        """By position or by keyword, a call gives the same result or the same error."""

        def outcome(call: Callable[[], object]) -> object:
            try:
                return call()
            except ValidationError as error:
                return str(error)

        by_position = outcome(lambda: create_user(name, age, email))  # type: ignore[arg-type]
        by_keyword = outcome(lambda: create_user(email=email, age=age, name=name))  # type: ignore[arg-type]
        assert by_position == by_keyword
