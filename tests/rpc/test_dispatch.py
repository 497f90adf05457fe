"""Tests of the transport-free dispatcher: the JSON-RPC 2.0 specification's examples, exactly."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import RpcError, ValidationError
from python_mastery_portfolio.rpc import RpcServer


def make_server() -> RpcServer:
    """Return a server with the methods the specification's examples call."""
    server = RpcServer()

    @server.method
    def subtract(minuend: int, subtrahend: int) -> int:
        return minuend - subtrahend

    @server.method("sum")
    def total(*numbers: int) -> int:
        return sum(numbers)

    @server.method
    def update(*values: object) -> None:
        del values

    @server.method
    def notify_hello(value: int) -> None:
        del value

    @server.method
    def notify_sum(*numbers: int) -> None:
        del numbers

    @server.method
    async def get_data() -> list[object]:
        return ["hello", 5]

    return server


async def answer(server: RpcServer, text: str) -> Any:
    """Return the decoded response to ``text`` (``None`` when there is none)."""
    response = await server.handle_message(text)
    return None if response is None else json.loads(response)


def unordered(responses: list[Any]) -> list[str]:
    """Return a batch's responses in a canonical order (the spec allows any)."""
    return sorted(json.dumps(response, sort_keys=True) for response in responses)


INVALID_REQUEST = {
    "jsonrpc": "2.0",
    "error": {"code": -32600, "message": "Invalid Request"},
    "id": None,
}
PARSE_ERROR = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}

SINGLE_EXAMPLES = [
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        {"jsonrpc": "2.0", "result": 19, "id": 1},
        id="positional-1",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        {"jsonrpc": "2.0", "result": -19, "id": 2},
        id="positional-2",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42},'
        ' "id": 3}',
        {"jsonrpc": "2.0", "result": 19, "id": 3},
        id="named-1",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23},'
        ' "id": 4}',
        {"jsonrpc": "2.0", "result": 19, "id": 4},
        id="named-2",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None, id="notification"
    ),
    pytest.param('{"jsonrpc": "2.0", "method": "foobar"}', None, id="notification-unknown"),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"},
        id="method-not-found",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', PARSE_ERROR, id="bad-json"
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}', INVALID_REQUEST, id="invalid-request"
    ),
    pytest.param(
        '[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n'
        '  {"jsonrpc": "2.0", "method"\n]',
        PARSE_ERROR,
        id="batch-bad-json",
    ),
    pytest.param("[]", INVALID_REQUEST, id="empty-batch"),
    pytest.param("[1]", [INVALID_REQUEST], id="batch-of-one-non-object"),
    pytest.param("[1,2,3]", [INVALID_REQUEST] * 3, id="batch-of-non-objects"),
    pytest.param(
        '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        ' {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
        None,
        id="batch-of-notifications",
    ),
]


class TestSpecificationExamples:
    """Every example of the JSON-RPC 2.0 specification, answered exactly."""

    @pytest.mark.parametrize(("request_text", "expected"), SINGLE_EXAMPLES)
    async def test_example(self, request_text: str, expected: Any) -> None:
        """The example's response (or its absence) is the specification's, exactly."""
        assert await answer(make_server(), request_text) == expected

    async def test_mixed_batch(self) -> None:
        """The rpc-call batch is answered with the spec's five responses, in any order."""
        text = """[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]"""
        expected = [
            {"jsonrpc": "2.0", "result": 7, "id": "1"},
            {"jsonrpc": "2.0", "result": 19, "id": "2"},
            INVALID_REQUEST,
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
            {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
        ]
        assert unordered(await answer(make_server(), text)) == unordered(expected)


class TestRequestChecks:
    """Malformed request objects are Invalid Request; bytes and odd ids are handled."""

    @pytest.mark.parametrize(
        ("request_object", "response_id"),
        [
            pytest.param({"method": "get_data", "id": 1}, 1, id="no-jsonrpc"),
            pytest.param({"jsonrpc": "1.0", "method": "get_data", "id": 1}, 1, id="old-version"),
            pytest.param({"jsonrpc": "2.0", "id": 1}, 1, id="no-method"),
            pytest.param(
                {"jsonrpc": "2.0", "method": "get_data", "params": 3, "id": 1},
                1,
                id="scalar-params",
            ),
            pytest.param({"jsonrpc": "2.0", "method": "get_data", "id": True}, None, id="bool-id"),
            pytest.param({"jsonrpc": "2.0", "method": "get_data", "id": [1]}, None, id="list-id"),
        ],
    )
    async def test_invalid_request(self, request_object: object, response_id: object) -> None:
        """The answer is -32600, echoing the id only when the id itself is valid."""
        response = await answer(make_server(), json.dumps(request_object))
        assert response == {**INVALID_REQUEST, "id": response_id}

    @pytest.mark.parametrize(
        "request_id", [None, 1.5, "abc", 7], ids=["null", "float", "str", "int"]
    )
    async def test_any_valid_id_is_echoed(self, request_id: object) -> None:
        """String, number and null ids come back as sent."""
        text = json.dumps({"jsonrpc": "2.0", "method": "get_data", "id": request_id})
        assert (await answer(make_server(), text))["id"] == request_id

    async def test_bytes_message(self) -> None:
        """A message may arrive as UTF-8 bytes."""
        response = await make_server().handle_message(
            b'{"jsonrpc": "2.0", "method": "get_data", "id": 1}'
        )
        assert response == '{"jsonrpc":"2.0","result":["hello",5],"id":1}'

    @pytest.mark.parametrize(
        "text",
        [b"\xff\xfe\xfa", "[" * 100_000, "1"[:0]],
        ids=["not-utf8", "too-deep", "empty"],
    )
    async def test_parse_errors(self, text: str | bytes) -> None:
        """Undecodable bytes, absurd nesting and empty text are Parse errors."""
        assert await answer(make_server(), text) == PARSE_ERROR  # type: ignore[arg-type]  # str | bytes

    async def test_scalar_message(self) -> None:
        """A JSON scalar is not a request: Invalid Request."""
        assert await answer(make_server(), "42") == INVALID_REQUEST

    async def test_subscribe_without_transport(self) -> None:
        """The built-ins need a connection: through handle_message they are not found."""
        text = '{"jsonrpc": "2.0", "method": "subscribe", "params": ["events"], "id": 1}'
        assert (await answer(make_server(), text))["error"]["code"] == -32601


class TestParams:
    """Params are bound to the signature and checked against the annotations."""

    @pytest.mark.parametrize(
        ("params", "named"),
        [
            pytest.param([1], "subtrahend", id="missing-positional"),
            pytest.param({"minuend": 1}, "subtrahend", id="missing-named"),
            pytest.param({"minuend": 1, "subtrahend": 2, "extra": 3}, "extra", id="unexpected"),
            pytest.param(["1", 2], "minuend", id="wrong-type"),
            pytest.param([1, 2, 3], "3 were given", id="too-many"),
        ],
    )
    async def test_mismatch_is_invalid_params(self, params: object, named: str) -> None:
        """A mismatch answers -32602 with a detail naming the parameter."""
        text = json.dumps({"jsonrpc": "2.0", "method": "subtract", "params": params, "id": 1})
        error = (await answer(make_server(), text))["error"]
        assert error["code"] == -32602
        assert error["message"] == "Invalid params"
        assert named in error["data"]["detail"]

    async def test_wrong_type_names_parameter_field(self) -> None:
        """A value failing its annotation also names the parameter in data.parameter."""
        text = json.dumps({"jsonrpc": "2.0", "method": "subtract", "params": [1, "x"], "id": 1})
        assert (await answer(make_server(), text))["error"]["data"]["parameter"] == "subtrahend"

    async def test_unannotated_method_takes_anything(self) -> None:
        """Without annotations only the binding is checked."""
        server = RpcServer()

        @server.method
        def echo(value):  # type: ignore[no-untyped-def]  # unannotated on purpose
            return value

        text = '{"jsonrpc": "2.0", "method": "echo", "params": {"value": [1, "a"]}, "id": 1}'
        assert (await answer(server, text))["result"] == [1, "a"]

    async def test_notification_with_bad_params_is_silent(self) -> None:
        """A notification is never answered, not even with Invalid params."""
        text = '{"jsonrpc": "2.0", "method": "subtract", "params": ["x"]}'
        assert await make_server().handle_message(text) is None


class TestMethodErrors:
    """What a method's exception becomes."""

    @staticmethod
    def failing_server() -> RpcServer:
        server = RpcServer()

        @server.method
        def portfolio() -> None:
            raise ValidationError("age must be positive", field="age", value=-1)

        @server.method
        def chosen() -> None:
            raise RpcError(-32050, "user locked", data={"user_id": 7})

        @server.method
        def undumpable_data() -> None:
            raise RpcError(-32051, "odd", data=object())

        @server.method
        def crash() -> None:
            raise KeyError("secret internals")

        @server.method
        def unserializable() -> object:
            return object()

        @server.method
        def not_a_number() -> float:
            return float("nan")

        return server

    async def call(self, method: str) -> Any:
        text = json.dumps({"jsonrpc": "2.0", "method": method, "id": 1})
        return (await answer(self.failing_server(), text))["error"]

    async def test_portfolio_error(self) -> None:
        """A PortfolioError answers -32000, its message and to_dict() as data."""
        error = await self.call("portfolio")
        assert error["code"] == -32000
        assert error["message"] == "age must be positive"
        assert error["data"]["error"] == "ValidationError"
        assert error["data"]["context"] == {"field": "age", "value": -1}

    async def test_rpc_error_chooses(self) -> None:
        """An RpcError answers exactly its own code, message and data."""
        assert await self.call("chosen") == {
            "code": -32050,
            "message": "user locked",
            "data": {"user_id": 7},
        }

    @pytest.mark.parametrize(
        "method", ["crash", "unserializable", "not_a_number", "undumpable_data"]
    )
    async def test_internal_error_leaks_nothing(
        self, method: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Anything unexpected is -32603 with no data; the traceback goes to the log."""
        with caplog.at_level(logging.ERROR, logger="python_mastery_portfolio.rpc"):
            error = await self.call(method)
        assert error == {"code": -32603, "message": "Internal error"}
        assert caplog.records[-1].exc_info is not None

    @pytest.mark.parametrize("method", ["crash", "portfolio"])
    async def test_failing_notification_is_counted(self, method: str) -> None:
        """A notification whose method fails sends nothing but counts as an error."""
        server = self.failing_server()
        text = json.dumps({"jsonrpc": "2.0", "method": method})
        assert await server.handle_message(text) is None
        assert server.stats()["errors"] == 1
        assert server.stats()["requests"] == 1


class TestExecution:
    """Sync methods run in a worker thread, async ones on the loop."""

    async def test_sync_method_runs_off_the_loop(self) -> None:
        """A def method runs in another thread than the event loop's."""
        server = RpcServer()
        threads: list[int] = []

        @server.method
        def where() -> None:
            threads.append(threading.get_ident())

        await server.handle_message('{"jsonrpc": "2.0", "method": "where", "id": 1}')
        assert threads
        assert threads[0] != threading.get_ident()

    async def test_stats_count(self) -> None:
        """requests and errors count what handle_message saw."""
        server = make_server()
        await server.handle_message('{"jsonrpc": "2.0", "method": "get_data", "id": 1}')
        await server.handle_message('{"jsonrpc": "2.0", "method": "nope", "id": 2}')
        await server.handle_message("not json")
        stats = server.stats()
        assert (stats["requests"], stats["errors"]) == (2, 2)


class TestRegistration:
    """Registration checks its arguments at once."""

    def test_names(self) -> None:
        """The function's own name, or the given one, is registered."""
        assert make_server().methods() == [
            "get_data",
            "notify_hello",
            "notify_sum",
            "subtract",
            "sum",
            "update",
        ]

    def test_decorator_returns_function(self) -> None:
        """The function is returned unchanged, still callable directly."""
        server = RpcServer()

        def double(x: int) -> int:
            return 2 * x

        assert server.method(double) is double
        assert server.method("times.two")(double) is double

    @pytest.mark.parametrize(
        ("name", "error"),
        [
            pytest.param("", ValueError, id="empty"),
            pytest.param("rpc.discover", ValueError, id="reserved"),
            pytest.param("subscribe", ValueError, id="builtin"),
            pytest.param("taken", ValueError, id="duplicate"),
        ],
    )
    def test_bad_name(self, name: str, error: type[Exception]) -> None:
        """Empty, reserved, built-in and taken names are refused."""
        server = RpcServer()
        server.method("taken")(len)
        with pytest.raises(error, match="name"):
            server.method(name)(print)

    def test_not_callable(self) -> None:
        """A target that is neither a name nor callable is a TypeError."""
        with pytest.raises(TypeError, match="name or a named callable"):
            RpcServer().method(3)  # type: ignore[call-overload]  # wrong on purpose

    def test_dispatcher_refuses_non_str_and_non_callable(self) -> None:
        """A non-str name or a non-callable function is a TypeError naming it."""
        server = RpcServer()
        with pytest.raises(TypeError, match="func must be callable"):
            server.method("x")(3)  # type: ignore[type-var]  # wrong on purpose

    @pytest.mark.parametrize(
        ("option", "value", "error"),
        [
            ("max_message_size", 0, ValueError),
            ("queue_size", 0, ValueError),
            ("max_concurrency", 1.5, TypeError),
        ],
    )
    def test_bad_options(self, option: str, value: object, error: type[Exception]) -> None:
        """Constructor options are checked, naming the option."""
        with pytest.raises(error, match=option):
            RpcServer(**{option: value})  # type: ignore[arg-type]  # wrong on purpose
