"""The JSON-RPC 2.0 codec and error objects: no I/O, no dispatching.

A transport frames messages (newline-delimited JSON for the socket transports); this module
turns Python values into message text and back, and exceptions into error objects. Error codes
follow the specification: ``-32700`` to ``-32603`` are the protocol's own, ``-32000`` is what a
method raising a :class:`~python_mastery_portfolio.exceptions.PortfolioError` answers (its
message, and ``data`` from ``to_dict()``), and a method raising
:class:`~python_mastery_portfolio.exceptions.RpcError` chooses its own code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from python_mastery_portfolio.exceptions import PortfolioError, RpcError

__all__ = [
    "APPLICATION_ERROR",
    "EVENT_METHOD",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MESSAGES",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "Params",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
    "error_for",
    "rpc_error_from",
]

PARSE_ERROR: Final = -32700
"""Invalid JSON was received."""
INVALID_REQUEST: Final = -32600
"""The JSON sent is not a valid Request object (also: a message over the size limit)."""
METHOD_NOT_FOUND: Final = -32601
"""The method does not exist."""
INVALID_PARAMS: Final = -32602
"""The params do not fit the method's signature or annotations."""
INTERNAL_ERROR: Final = -32603
"""The method failed unexpectedly; the traceback is logged on the server, never sent."""
APPLICATION_ERROR: Final = -32000
"""A method raised a ``PortfolioError``: ``data`` is its ``to_dict()``."""

EVENT_METHOD: Final = "event"
"""The method of the notifications pushed to subscribers; params: ``topic``, ``payload``."""

MESSAGES: Final[Mapping[int, str]] = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}

Params = Sequence[Any] | Mapping[str, Any] | None
"""Request params: by position (a list), by name (an object) or none."""

# Compact separators: smaller frames, and json encodes them faster.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_result(request_id: object, result: object) -> str:
    """Return the text of a success response.

    Raises:
        TypeError: If ``result`` is not JSON-serializable.
        ValueError: If ``result`` holds NaN or an infinity (not JSON).

    Example:
        >>> encode_result(1, 19)
        '{"jsonrpc":"2.0","result":19,"id":1}'
    """
    return _encode({"jsonrpc": "2.0", "result": result, "id": request_id})


def encode_error(request_id: object, code: int, message: str, data: object = None) -> str:
    """Return the text of an error response (``data`` is left out when ``None``).

    Example:
        >>> encode_error(None, PARSE_ERROR, "Parse error")
        '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}'
    """
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _encode({"jsonrpc": "2.0", "error": error, "id": request_id})


def encode_request(method: str, params: Params, request_id: int | str | None) -> str:
    """Return the text of a request; ``request_id=None`` makes it a notification.

    Example:
        >>> encode_request("subtract", [42, 23], 1)
        '{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}'
        >>> encode_request("update", None, None)
        '{"jsonrpc":"2.0","method":"update"}'
    """
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params if isinstance(params, Mapping) else list(params)
    if request_id is not None:
        message["id"] = request_id
    return _encode(message)


def encode_notification(topic: str, payload: object) -> str:
    """Return the text of the notification pushed to the subscribers of ``topic``.

    Example:
        >>> encode_notification("events", {"user": 7})
        '{"jsonrpc":"2.0","method":"event","params":{"topic":"events","payload":{"user":7}}}'
    """
    return _encode(
        {"jsonrpc": "2.0", "method": EVENT_METHOD, "params": {"topic": topic, "payload": payload}}
    )


def error_for(error: PortfolioError) -> tuple[int, str, object]:
    """Return the ``(code, message, data)`` a method's ``PortfolioError`` answers with.

    An :class:`RpcError` answers exactly its own code, message and data; any other
    ``PortfolioError`` answers :data:`APPLICATION_ERROR`, its message and ``to_dict()``.

    Example:
        >>> from python_mastery_portfolio.exceptions import ValidationError
        >>> code, message, data = error_for(ValidationError("too young", field="age"))
        >>> code, message, data["error"], data["context"]
        (-32000, 'too young', 'ValidationError', {'field': 'age'})
    """
    if isinstance(error, RpcError):
        return error.code, error.message, error.data
    return APPLICATION_ERROR, error.message, error.to_dict()


def rpc_error_from(error: object) -> RpcError:
    """Return the :class:`RpcError` for the ``error`` member of a response.

    A malformed error member still becomes an ``RpcError`` (code ``-32603``), so a caller
    always gets the one exception type.

    Example:
        >>> rpc_error_from({"code": -32601, "message": "Method not found"}).code
        -32601
        >>> rpc_error_from("nonsense").message
        "malformed error object: 'nonsense'"
    """
    if isinstance(error, Mapping):
        member = cast("Mapping[str, object]", error)  # decoded JSON: an object's keys are strings
        code, message = member.get("code"), member.get("message")
        if isinstance(code, int) and not isinstance(code, bool) and isinstance(message, str):
            return RpcError(code, message, member.get("data"))
    return RpcError(INTERNAL_ERROR, f"malformed error object: {error!r}")
