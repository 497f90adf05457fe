"""Tests of the error hierarchy."""

from __future__ import annotations

import copy
import inspect
import io
import json
import pickle
from datetime import UTC
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio import (
    APIError,
    CircuitOpenError,
    CircularDependencyError,
    ConfigurationError,
    DataProcessingError,
    DependencyError,
    LifetimeError,
    PortfolioError,
    RateLimitError,
    ResolutionError,
    RetryExhaustedError,
    ServiceNotRegisteredError,
    UnwrapError,
    ValidationError,
)

FIELDED: list[tuple[type[PortfolioError], dict[str, Any], str, int]] = [
    (ValidationError, {"field": "age", "value": -1}, "validation_error", 422),
    (RateLimitError, {"retry_after": 60.0, "limit": 10}, "rate_limit_exceeded", 429),
    (ConfigurationError, {"config_key": "API_KEY"}, "configuration_error", 500),
    (DataProcessingError, {"step": "validation", "row_index": 42}, "data_processing_error", 500),
    (APIError, {"status_code": 503, "endpoint": "/v1/users"}, "api_error", 503),
    (CircuitOpenError, {"retry_after": 5.0, "breaker": "db"}, "circuit_open", 503),
    (RetryExhaustedError, {"last_result": None, "attempts": 3}, "retry_exhausted", 500),
    (UnwrapError, {"failure": "boom"}, "unwrap_error", 500),
    (DependencyError, {"chain": ("A", "B")}, "dependency_error", 500),
]
FIELDED_IDS = [cls.__name__ for cls, *_ in FIELDED]


class TestPortfolioError:
    def test_message_code_context_timestamp(self) -> None:
        """The base error keeps its message, default code, context and a UTC timestamp."""
        error = PortfolioError("boom", user="u1")
        assert str(error) == "boom"
        assert error.message == "boom"
        assert error.code == "portfolio_error"
        assert error.context == {"user": "u1"}
        assert error.timestamp.tzinfo is UTC

    def test_explicit_code_wins(self) -> None:
        """A code given by the caller replaces the class default."""
        assert ValidationError("x", code="too_young").code == "too_young"

    def test_to_dict_keys(self) -> None:
        """to_dict has the documented keys and JSON-serialises."""
        error = PortfolioError("boom", user="u1")
        error.add_note("while saving")
        data = error.to_dict()
        assert data["error"] == "PortfolioError"
        assert data["code"] == "portfolio_error"
        assert data["message"] == "boom"
        assert data["context"] == {"user": "u1"}
        assert data["timestamp"] == error.timestamp.isoformat()
        assert data["notes"] == ["while saving"]
        assert "cause" not in data
        json.dumps(data)

    def test_to_dict_cause(self) -> None:
        """An error raised from another names that cause."""
        try:
            try:
                raise KeyError("API_KEY")
            except KeyError as exc:
                raise ConfigurationError("missing", config_key="API_KEY") from exc
        except ConfigurationError as error:
            data = error.to_dict()
        assert data["cause"] == {"type": "KeyError", "message": "'API_KEY'"}

    def test_to_dict_unserialisable_context(self) -> None:
        """Values json cannot encode become their repr, at any depth."""

        class Opaque:
            def __repr__(self) -> str:
                return "<opaque>"

        cyclic: list[Any] = []
        cyclic.append(cyclic)
        error = PortfolioError(
            "x",
            obj=Opaque(),
            nested={"k": [1, Opaque(), {2: 3}]},
            nan=float("nan"),
            items=(1, 2),
            cyclic=cyclic,
            when=PortfolioError("y").timestamp,
        )
        data = error.to_dict()
        encoded = json.loads(json.dumps(data, allow_nan=False))
        assert encoded["context"]["obj"] == "<opaque>"
        assert encoded["context"]["nested"] == {"k": [1, "<opaque>", {"2": 3}]}
        assert encoded["context"]["nan"] == "nan"
        assert encoded["context"]["items"] == [1, 2]
        assert isinstance(encoded["context"]["cyclic"], list)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text() | st.integers(), inner),
            max_leaves=20,
        )
    )
    def test_to_dict_always_json(self, value: object) -> None:
        """Whatever the context holds, json.dumps accepts to_dict()."""
        json.dumps(PortfolioError("x", value=value).to_dict(), allow_nan=False)

    def test_repr(self) -> None:
        """The repr shows the message and context."""
        assert repr(ValidationError("bad", field="age")) == "ValidationError('bad', field='age')"

    def test_serializable_protocol_shape(self) -> None:
        """Errors expose to_dict, so they satisfy the Serializable protocol's shape."""
        assert callable(PortfolioError("x").to_dict)


class TestProblemDetails:
    def test_standard_members(self) -> None:
        """The problem object has the RFC 9457 members and the extensions."""
        problem = ValidationError(
            "Age cannot be negative", field="age", value=-1
        ).to_problem_details(instance="/users")
        assert problem == {
            "type": "about:blank",
            "title": HTTPStatus(422).phrase,
            "status": 422,
            "detail": "Age cannot be negative",
            "instance": "/users",
            "code": "validation_error",
            "context": {"field": "age", "value": -1},
        }

    def test_instance_omitted_when_none(self) -> None:
        """No instance member is produced when none is given."""
        assert "instance" not in PortfolioError("x").to_problem_details()

    def test_extension_never_overwrites_standard_member(self) -> None:
        """Extensions named like a standard member are dropped; others are kept."""
        problem = PortfolioError("x").to_problem_details(
            "/p", status=200, title="hacked", request_id="r1"
        )
        assert problem["status"] == 500
        assert problem["title"] == "Internal Server Error"
        assert problem["request_id"] == "r1"

    def test_unknown_status_title(self) -> None:
        """A status with no HTTP phrase falls back to the class name as title."""
        problem = APIError("odd", status_code=599).to_problem_details()
        assert problem["status"] == 599
        assert problem["title"] == "APIError"

    def test_json_safe(self) -> None:
        """Problem details always JSON-serialise."""
        json.dumps(PortfolioError("x", obj=object()).to_problem_details(extra=object()))


class TestSubclasses:
    @pytest.mark.parametrize(("cls", "fields", "code", "status"), FIELDED, ids=FIELDED_IDS)
    def test_fields_attributes_and_context(
        self, cls: type[PortfolioError], fields: dict[str, Any], code: str, status: int
    ) -> None:
        """Seed fields are attributes and context entries, with the class's code and status."""
        error = cls("message", **fields)
        for name, value in fields.items():
            assert getattr(error, name) == value
            if value is not None:
                assert error.context[name] == value
        assert error.code == code
        assert error.http_status == status
        assert isinstance(error, PortfolioError)

    @pytest.mark.parametrize(("cls", "fields", "code", "status"), FIELDED, ids=FIELDED_IDS)
    def test_unset_fields_are_none(
        self, cls: type[PortfolioError], fields: dict[str, Any], code: str, status: int
    ) -> None:
        """A field not given is None and absent from context."""
        error = cls("message")
        for name in fields:
            assert getattr(error, name) is None
            assert name not in error.context

    @pytest.mark.parametrize(("cls", "fields", "code", "status"), FIELDED, ids=FIELDED_IDS)
    def test_pickle_round_trip(
        self, cls: type[PortfolioError], fields: dict[str, Any], code: str, status: int
    ) -> None:
        """Every error survives pickling with message, code, context, fields and notes."""
        error = cls("message", code="custom", extra=[1, 2], **fields)
        error.add_note("a note")
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is cls
        assert str(clone) == "message"
        assert clone.code == "custom"
        assert clone.context == error.context
        assert clone.timestamp == error.timestamp
        assert clone.http_status == error.http_status
        assert clone.__notes__ == ["a note"]
        for name in fields:
            assert getattr(clone, name) == getattr(error, name)

    def test_validation_error_is_value_error(self) -> None:
        """ValidationError can be caught as a ValueError."""
        with pytest.raises(ValueError, match="bad"):
            raise ValidationError("bad", field="x")

    @pytest.mark.parametrize("status", [True, 0, 99, 600, "502", 502.0], ids=repr)
    def test_api_error_refuses_bad_status(self, status: Any) -> None:
        """An APIError status must be an HTTP status code."""
        with pytest.raises(ValueError, match="status_code must be an HTTP status"):
            APIError("x", status_code=status)

    @pytest.mark.parametrize("status", [200, 301], ids=["ok", "redirect"])
    def test_api_error_success_status_is_still_a_failure(self, status: int) -> None:
        """An upstream answering 2xx/3xx where it should not is still served as 502."""
        error = APIError("unexpected answer", status_code=status)
        assert error.status_code == status
        assert error.http_status == 502

    def test_api_error_default_status(self) -> None:
        """APIError without a status code maps to 502 Bad Gateway."""
        assert APIError("down").http_status == 502

    @pytest.mark.parametrize(
        "cls",
        [ServiceNotRegisteredError, CircularDependencyError, LifetimeError, ResolutionError],
        ids=lambda cls: cls.__name__,
    )
    def test_dependency_family(self, cls: type[DependencyError]) -> None:
        """The DI errors are DependencyErrors carrying a chain."""
        error = cls("x", chain=("A", "B"))
        assert isinstance(error, DependencyError)
        assert error.chain == ("A", "B")

    def test_not_registered_is_lookup_error(self) -> None:
        """A missing registration can be caught as LookupError."""
        assert isinstance(ServiceNotRegisteredError("x"), LookupError)


class TestSeedExamples:
    def test_section_1(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The seed's section 1 example runs as written."""
        user_age = -5
        try:
            if user_age < 0:
                raise ValidationError("Age cannot be negative", field="age", value=user_age)
        except ValidationError as e:
            print(e.to_dict())  # noqa: T201 - the seed prints
            print(e.context)  # noqa: T201
        out = capsys.readouterr().out
        assert "{'field': 'age', 'value': -5}" in out

    def test_section_9(self) -> None:
        """The seed's section 9 examples raise the documented errors."""
        with pytest.raises(DataProcessingError) as info:
            try:
                raise RuntimeError("bad row")
            except Exception as e:
                raise DataProcessingError(
                    "Failed to process row", step="validation", row_index=42
                ) from e
        assert info.value.to_dict()["cause"]["type"] == "RuntimeError"
        limit = 10
        with pytest.raises(RateLimitError) as rate:
            raise RateLimitError("Too many requests", retry_after=60.0, limit=limit)
        assert rate.value.retry_after == 60.0
        assert rate.value.limit == 10
        with pytest.raises(ConfigurationError) as config:
            try:
                _ = dict[str, str]()["API_KEY"]
            except KeyError:
                raise ConfigurationError(
                    "Missing required environment variable", config_key="API_KEY"
                ) from None
        assert config.value.config_key == "API_KEY"


# Module level, so that pickle finds them by their import path.
class PaymentDeclinedError(PortfolioError):
    """A user's error declared the documented way: fields once, nothing else."""

    default_code = "payment_declined"
    http_status = 402
    fields = ("card_last4", "reason")
    card_last4: str | None
    reason: str | None


class FraudSuspectedError(PaymentDeclinedError):
    """A user's subclass of a subclass: inherits the fields and adds one (unannotated)."""

    fields = ("score", "reason")


class PositiveAmountError(PortfolioError):
    """A user's error that checks a field in __post_init__."""

    fields = ("amount",)
    amount: float | None

    def __post_init__(self) -> None:
        if self.amount is not None and self.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount!r}")


class OrderNotFoundError(PortfolioError, LookupError):
    """A user's error written the older way: its own __init__ with a required argument."""

    http_status = 404
    order_id: str

    def __init__(self, order_id: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(f"no order {order_id}", code=code, order_id=order_id, **context)
        self.order_id = order_id


class FieldedOrderNotFoundError(PortfolioError):
    """The older way combined with a field spec: the field keyword is passed on to super."""

    fields = ("order_id",)
    order_id: str | None

    def __init__(self, order_id: str, **context: Any) -> None:
        super().__init__(f"no order {order_id}", order_id=order_id, **context)


def _pickled_globals(data: bytes) -> set[tuple[str, str]]:
    """Return every (module, name) a pickle loads by reference."""
    found: set[tuple[str, str]] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str, /) -> Any:
            found.add((module, name))
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return found


PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


class TestFieldSpec:
    @pytest.mark.parametrize(
        ("cls", "fields"),
        [
            (PortfolioError, ()),
            (ValidationError, ("field", "value")),
            (APIError, ("status_code", "endpoint")),
            (ServiceNotRegisteredError, ("chain",)),
            (PaymentDeclinedError, ("card_last4", "reason")),
            (FraudSuspectedError, ("card_last4", "reason", "score")),
        ],
        ids=lambda value: value.__name__ if isinstance(value, type) else "",
    )
    def test_fields_are_merged_in_order(
        self, cls: type[PortfolioError], fields: tuple[str, ...]
    ) -> None:
        """A class's fields are its parents' followed by its own new ones."""
        assert cls.fields == fields

    def test_user_subclass_fields(self) -> None:
        """A declared field is a keyword, an attribute and (when set) a context entry."""
        error = PaymentDeclinedError("card declined", card_last4="4242", order="o-17")
        assert (error.card_last4, error.reason) == ("4242", None)
        assert error.context == {"order": "o-17", "card_last4": "4242"}
        assert error.code == "payment_declined"
        assert (
            repr(error) == "PaymentDeclinedError('card declined', order='o-17', card_last4='4242')"
        )

    def test_user_subclass_to_dict_and_problem_details(self) -> None:
        """Fields reach to_dict() and to_problem_details() through the context."""
        error = FraudSuspectedError("held", card_last4="4242", score=0.93)
        data = error.to_dict()
        assert data["error"] == "FraudSuspectedError"
        assert data["code"] == "payment_declined"
        assert data["context"] == {"card_last4": "4242", "score": 0.93}
        problem = error.to_problem_details("/pay")
        assert problem["status"] == 402
        assert problem["context"] == {"card_last4": "4242", "score": 0.93}
        json.dumps(data)

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_user_subclass_pickles(self, protocol: int) -> None:
        """A user's error survives pickling with every protocol."""
        error = FraudSuspectedError("held", code="fraud", card_last4="4242", score=0.9)
        error.add_note("flagged by rules")
        clone = pickle.loads(pickle.dumps(error, protocol))
        assert type(clone) is FraudSuspectedError
        assert (str(clone), clone.code, clone.context) == ("held", "fraud", error.context)
        assert (clone.card_last4, clone.reason, vars(clone)["score"]) == ("4242", None, 0.9)
        assert clone.timestamp == error.timestamp
        assert clone.__notes__ == ["flagged by rules"]
        assert clone.args == ("held",)
        assert clone.to_dict() == error.to_dict()

    def test_copy_and_empty_state(self) -> None:
        """copy.copy keeps the state; restoring no state (None) leaves the error as it is."""
        error = PaymentDeclinedError("card declined", reason="funds")
        assert copy.copy(error).to_dict() == error.to_dict()
        error.__setstate__(None)
        assert error.reason == "funds"

    def test_signature_names_the_fields(self) -> None:
        """help() and inspect.signature() show the field keywords of the shared __init__."""
        signature = inspect.signature(FraudSuspectedError)
        assert list(signature.parameters) == [
            "message", "card_last4", "reason", "score", "code", "context"
        ]  # fmt: skip
        assert signature.parameters["card_last4"].annotation == "str | None"
        assert signature.parameters["score"].annotation is inspect.Parameter.empty
        assert signature.parameters["reason"].default is None
        assert signature.parameters["reason"].kind is inspect.Parameter.KEYWORD_ONLY
        assert str(inspect.signature(ValidationError)).startswith(
            "(message: 'str', *, field: 'str | None' = None, value: 'Any' = None"
        )

    def test_post_init_checks_fields(self) -> None:
        """__post_init__ runs after the fields are set and may refuse a value."""
        assert PositiveAmountError("x", amount=5.0).amount == 5.0
        with pytest.raises(ValueError, match="amount must be positive"):
            PositiveAmountError("x", amount=-1.0)

    def test_old_style_subclass(self) -> None:
        """A subclass with its own __init__ still works; its keywords land in context."""
        error = OrderNotFoundError("o-1", region="eu")
        assert str(error) == "no order o-1"
        assert error.order_id == "o-1"
        assert error.context == {"order_id": "o-1", "region": "eu"}
        assert error.to_dict()["context"] == {"order_id": "o-1", "region": "eu"}
        assert error.http_status == 404
        assert isinstance(error, LookupError)
        assert list(inspect.signature(OrderNotFoundError).parameters) == [
            "order_id", "code", "context"
        ]  # fmt: skip

    def test_old_style_subclass_with_fields(self) -> None:
        """An own __init__ that passes a declared field on gets the attribute too."""
        error = FieldedOrderNotFoundError("o-2")
        assert error.order_id == "o-2"
        assert error.context == {"order_id": "o-2"}

    def test_legacy_underscore_fields_spelling(self) -> None:
        """A class declaring ``_fields`` (the first releases' spelling) keeps its attributes."""

        class LegacyError(PortfolioError):
            _fields = ("user_id",)

            def __init__(self, message: str, *, user_id: str | None = None) -> None:
                super().__init__(message, user_id=user_id)

        error = LegacyError("x", user_id="u3")
        assert error.user_id == "u3"  # type: ignore[attr-defined]  # declared through _fields
        assert error.context == {"user_id": "u3"}
        assert LegacyError.fields == ("user_id",)

    def test_fields_and_underscore_fields_together_refused(self) -> None:
        """Declaring both spellings is a TypeError at class definition."""
        with pytest.raises(TypeError, match="both fields and _fields"):

            class BothError(PortfolioError):
                fields = ("a",)
                _fields = ("b",)

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    @pytest.mark.parametrize(
        "error",
        [OrderNotFoundError("o-1", region="eu"), FieldedOrderNotFoundError("o-2")],
        ids=["own-init", "own-init-with-fields"],
    )
    def test_old_style_subclass_pickles(self, error: PortfolioError, protocol: int) -> None:
        """Unpickling never calls an __init__ that needs other arguments."""
        clone = pickle.loads(pickle.dumps(error, protocol))
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.context == error.context
        assert getattr(clone, "order_id") == getattr(error, "order_id")  # noqa: B009 - typed loosely on purpose

    @pytest.mark.parametrize(
        ("fields", "match"),
        [
            ("reason", "must be a tuple of names"),
            (("reason", 3), "must be a tuple of names"),
            (("_secret",), "not a public identifier"),
            (("class",), "not a public identifier"),
            (("two words",), "not a public identifier"),
            (("message",), "would hide PortfolioError.message"),
            (("code",), "would hide PortfolioError.code"),
            (("to_dict",), "would hide PortfolioError.to_dict"),
            (("args",), "would hide PortfolioError.args"),
        ],
        ids=repr,
    )
    def test_bad_field_spec_fails_at_class_creation(self, fields: object, match: str) -> None:
        """A field spec that could not work is refused when the class is defined."""
        with pytest.raises(TypeError, match=match):
            type("BadError", (PortfolioError,), {"fields": fields})

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    @pytest.mark.parametrize(
        "error",
        [cls("message", **fields) for cls, fields, *_ in FIELDED]
        + [ServiceNotRegisteredError("x", chain=("A",)), PortfolioError("base", key="v")],
        ids=[*FIELDED_IDS, "ServiceNotRegisteredError", "PortfolioError"],
    )
    def test_pickle_names_the_public_path(self, error: PortfolioError, protocol: int) -> None:
        """A pickled error names its class at the package root, never a private module."""
        data = pickle.dumps(error, protocol)
        modules = {module for module, _ in _pickled_globals(data)}
        assert ("python_mastery_portfolio", type(error).__name__) in _pickled_globals(data)
        assert not any(module.startswith("python_mastery_portfolio.") for module in modules)
        assert b"python_mastery_portfolio." not in data


class TestConnectionErrors:
    """ConnectionLostError and RpcError, the JSON-RPC layer's errors."""

    def test_connection_lost_is_a_connection_error(self) -> None:
        """ConnectionLostError is caught as ConnectionError and OSError; str is the message."""
        from python_mastery_portfolio.exceptions import ConnectionLostError

        error = ConnectionLostError("daemon gone", path="/run/x.sock")
        assert isinstance(error, ConnectionError)
        assert isinstance(error, OSError)
        assert str(error) == "daemon gone"
        assert error.context == {"path": "/run/x.sock"}
        assert error.address is None
        assert error.to_problem_details()["status"] == 503
        assert pickle.loads(pickle.dumps(error)).path == "/run/x.sock"

    def test_rpc_error_fields(self) -> None:
        """RpcError keeps the integer code, the message and data; it pickles."""
        from python_mastery_portfolio.exceptions import RpcError

        error = RpcError(-32601, "Method not found", data={"method": "x"})
        assert (error.code, error.message, error.data) == (
            -32601,
            "Method not found",
            {"method": "x"},
        )
        assert isinstance(error, PortfolioError)
        assert json.loads(json.dumps(error.to_dict()))["code"] == -32601
        copy_ = pickle.loads(pickle.dumps(error))
        assert (copy_.code, copy_.data) == (-32601, {"method": "x"})
        assert RpcError(-32000, "no data").data is None

    @pytest.mark.parametrize("code", ["-32601", True, 1.5], ids=["str", "bool", "float"])
    def test_rpc_error_code_must_be_int(self, code: object) -> None:
        """A non-int code is a TypeError naming it."""
        from python_mastery_portfolio.exceptions import RpcError

        with pytest.raises(TypeError, match="code must be an int"):
            RpcError(code, "x")  # type: ignore[arg-type]  # wrong on purpose
