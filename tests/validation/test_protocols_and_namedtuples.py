"""Structural checks of protocols that are not runtime-checkable, and NamedTuple fields.

After typeguard's ``TestProtocol`` and ``TestNamedTuple`` (tests/test_checkers.py): a plain
protocol is checked by its members (present, and callable where they are methods), a
NamedTuple by its class and the annotation of every field.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, ClassVar, Generic, NamedTuple, Optional, Protocol, TypeVar

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.validation import check_type, validate_types
from python_mastery_portfolio.validation._checks import protocol_node

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Closeable(Protocol):
    def close(self) -> None: ...


class Reader(Closeable, Protocol):
    name: str
    mode: ClassVar[str]

    def read(self, size: int = -1) -> bytes: ...

    @property
    def closed(self) -> bool: ...

    @classmethod
    def open(cls, path: str) -> Reader: ...

    @staticmethod
    def supported(path: str) -> bool: ...


class Box(Protocol[T_co]):
    def get(self) -> T_co: ...


class Handler(Protocol):
    def __call__(self, event: str) -> None: ...


class FileReader:
    mode = "rb"

    def __init__(self) -> None:
        self.name = "f"
        self.closed = False

    def close(self) -> None:
        """Close nothing."""

    def read(self, size: int = -1) -> bytes:
        return b""

    @classmethod
    def open(cls, path: str) -> FileReader:
        return cls()

    @staticmethod
    def supported(path: str) -> bool:
        return True


class Point(NamedTuple):
    x: int
    y: int = 0


class Labelled(NamedTuple):
    label: str
    point: Point
    tags: list[str]


class Link(NamedTuple):
    value: int
    next: Optional[Link] = None  # noqa: UP045 - a recursive alias, spelled as users do


class Pair(NamedTuple, Generic[T]):
    first: T
    second: T


class Untyped(NamedTuple):
    anything: Any


Plain = collections.namedtuple("Plain", "a b")


def make(hint: object) -> Callable[[object], object]:
    """Return an identity function whose one parameter is checked against ``hint``."""

    def identity(x: object) -> object:
        return x

    return validate_types(x=hint)(identity)


def error_of(func: Callable[[object], object], value: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(value)
    return info.value


class TestProtocol:
    def test_success(self) -> None:
        """A class with every member passes, whatever it derives from."""
        reader = FileReader()
        assert make(Reader)(reader) is reader
        assert make(Closeable)(reader) is reader

    def test_members_on_the_class(self) -> None:
        """Members may come from the class, its bases or the instance."""

        class Base:
            def close(self) -> None:
                """Close nothing."""

        class Derived(Base):
            pass

        derived = Derived()
        assert check_type(derived, Closeable) is derived
        assert check_type(Derived, Closeable) is Derived  # an unbound method is callable
        assert check_type(open, Handler) is open  # any callable has __call__

    def test_missing_method(self) -> None:
        """A missing method is named in the message (typeguard: test_fail_missing_method)."""

        class NoClose:
            pass

        error = error_of(make(Closeable), NoClose())
        assert error.context["expected"] == "Closeable (missing member 'close')"
        assert error.field == "x"

    def test_missing_inherited_member(self) -> None:
        """Members of the protocol's own protocol bases are required too."""

        class NoClose(FileReader):
            close = None  # type: ignore[assignment]  # not callable, on purpose

        error = error_of(make(Reader), NoClose())
        assert error.context["expected"] == "Reader (member 'close' is not callable)"

    @pytest.mark.parametrize("member", ["name", "mode", "closed", "read", "open", "supported"])
    def test_each_member_is_required(self, member: str) -> None:
        """Data members, properties, class variables and every kind of method count."""

        class Partial:
            pass

        for name in ("name", "mode", "closed", "read", "open", "supported", "close"):
            if name != member:
                setattr(Partial, name, getattr(FileReader(), name))
        error = error_of(make(Reader), Partial())
        assert error.context["expected"] == f"Reader (missing member {member!r})"

    def test_data_member_may_be_anything(self) -> None:
        """Data members are only required to exist; their types are not checked."""

        class Lax(FileReader):
            name = 3  # type: ignore[assignment]  # a wrong type, still present

        lax = Lax()
        assert check_type(lax, Reader) is lax

    def test_callable_member_not_callable(self) -> None:
        """A method member whose value is not callable fails."""

        class Fake:
            close = "not a method"

        with pytest.raises(ValidationError, match=r"member 'close' is not callable"):
            check_type(Fake(), Closeable)

    def test_generic_protocol(self) -> None:
        """A parametrised protocol is checked by its members (the parameter is not)."""

        class Holder:
            def get(self) -> int:
                return 1

        holder = Holder()
        assert check_type(holder, Box[str]) is holder
        with pytest.raises(ValidationError, match=r"Box \(missing member 'get'\)"):
            check_type(object(), Box[int])

    def test_in_containers_and_unions(self) -> None:
        """Protocols nested in containers are checked item by item, with the path."""
        reader = FileReader()
        assert make(list[Closeable])([reader]) == [reader]
        assert make(Closeable | None)(None) is None
        error = error_of(make(dict[str, Closeable]), {"a": reader, "b": 1})
        assert error.context["path"] == "x['b']"
        assert error.value == 1

    def test_annotated_parameter(self) -> None:
        """The bug report's form: a parameter annotated with a plain protocol."""

        @validate_types
        def shutdown(resource: Closeable) -> None:
            resource.close()

        shutdown(FileReader())
        with pytest.raises(ValidationError, match=r"shutdown\(\) argument 'resource'"):
            shutdown(1)  # type: ignore[arg-type]  # the error under test

    def test_type_of_plain_protocol_is_unsupported(self) -> None:
        """``type[P]`` would need issubclass, which a plain protocol refuses."""
        with pytest.raises(TypeError, match="it has no class"):
            make(type[Closeable])

    def test_classes_refusing_isinstance(self) -> None:
        """``Protocol`` itself and a class whose isinstance raises stay a TypeError."""

        class Refusing(type):
            def __instancecheck__(cls, value: object) -> bool:
                raise TypeError("no instances here")

        class Opaque(metaclass=Refusing):
            pass

        with pytest.raises(TypeError, match="Protocol cannot be checked at run time"):
            make(Protocol)
        with pytest.raises(TypeError, match="Opaque cannot be checked at run time: no instances"):
            make(Opaque)

    def test_find_on_a_passing_value(self) -> None:
        """The slow path agrees with the fast one on a value that passes."""
        node = protocol_node(Closeable, "Closeable")
        assert node.find(FileReader(), "x", set()) is None

    def test_runtime_checkable_still_isinstance(self) -> None:
        """A runtime-checkable protocol keeps its isinstance check (inlined)."""
        from typing import runtime_checkable

        @runtime_checkable
        class Sized(Protocol):
            def __len__(self) -> int: ...

        assert check_type([1], Sized) == [1]
        with pytest.raises(ValidationError, match="expected Sized, got int"):
            check_type(1, Sized)


class TestNamedTuple:
    def test_valid(self) -> None:
        """A NamedTuple whose fields match passes, unchanged."""
        point = Point(1, 2)
        assert make(Point)(point) is point
        assert check_type(Labelled("a", Point(1), ["t"]), Labelled)

    def test_type_mismatch(self) -> None:
        """A plain tuple is not the NamedTuple (typeguard: test_type_mismatch)."""
        error = error_of(make(Point), (1, 2))
        assert str(error).endswith("argument 'x' expected Point, got tuple: (1, 2)")

    def test_wrong_field_type(self) -> None:
        """A field of the wrong type is named as an attribute path (test_wrong_field_type)."""
        error = error_of(make(Point), Point(1, "2"))  # type: ignore[arg-type]  # the error under test
        assert error.context["path"] == "x.y"
        assert error.value == "2"
        assert "at x.y expected int, got str: '2'" in str(error)

    def test_nested(self) -> None:
        """Paths run through nested NamedTuples and containers."""
        bad = Labelled("a", Point(1, 2), ["t", 3])  # type: ignore[list-item]  # the error under test
        assert error_of(make(Labelled), bad).context["path"] == "x.tags[1]"
        bad = Labelled("a", Point(1.5), [])  # type: ignore[arg-type]  # the error under test
        assert error_of(make(list[Labelled]), [bad]).context["path"] == "x[0].point.x"

    def test_recursive(self) -> None:
        """A NamedTuple naming itself is checked through the whole chain."""
        assert check_type(Link(1, Link(2)), Link)
        with pytest.raises(ValidationError) as info:
            check_type(Link(1, Link(2, Link("3"))), Link)  # type: ignore[arg-type]  # the error under test
        assert info.value.context["path"] == "value.next.next.value"

    def test_generic(self) -> None:
        """A generic NamedTuple checks its fields with the type variable as Any."""
        assert check_type(Pair(1, "a"), Pair[int])
        with pytest.raises(ValidationError, match="expected Pair"):
            check_type((1, 2), Pair[int])

    def test_untyped_fields(self) -> None:
        """Any fields and collections.namedtuple are checked as the class only."""
        assert check_type(Untyped(object()), Untyped)
        assert check_type(Plain(1, "x"), Plain)
        with pytest.raises(ValidationError, match="expected Plain"):
            check_type((1, 2), Plain)

    def test_subclass(self) -> None:
        """A subclass of a NamedTuple is checked by the fields it inherits."""

        class Point3(Point):
            def norm(self) -> int:
                return abs(self.x) + abs(self.y)

        point = Point3(1, 2)
        assert check_type(point, Point) is point
        assert point.norm() == 3
        with pytest.raises(ValidationError, match=r"at value\.x"):
            check_type(Point3("1", 2), Point3)  # type: ignore[arg-type]  # the error under test

    def test_annotated_parameter(self) -> None:
        """The form users write: a NamedTuple parameter of a decorated function."""

        @validate_types
        def move(point: Point, by: int) -> Point:
            return Point(point.x + by, point.y)

        assert move(Point(1), 2) == Point(3, 0)
        with pytest.raises(ValidationError, match=r"argument 'point' at point\.x"):
            move(Point("1"), 2)  # type: ignore[arg-type]  # the error under test
