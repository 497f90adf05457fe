"""The transport-free JSON-RPC 2.0 dispatcher: one message in, one response (or none) out."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Final, Protocol

from python_mastery_portfolio._internal.callables import is_async_callable
from python_mastery_portfolio.exceptions import PortfolioError, ValidationError
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.rpc._protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MESSAGES,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    encode_error,
    encode_result,
    error_for,
)
from python_mastery_portfolio.validation import validate_types

__all__ = ["SESSION_METHODS", "Dispatcher", "Session"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

SESSION_METHODS: Final = frozenset({"subscribe", "unsubscribe"})
"""Built-in methods a connection answers itself; no registered method may take these names."""

_ABSENT: Final[Any] = object()


class Session(Protocol):
    """What a transport's connection offers the built-in ``subscribe``/``unsubscribe``."""

    def subscribe(self, topic: str) -> bool:
        """Start pushing ``topic``'s notifications; ``False`` if already subscribed."""
        ...

    def unsubscribe(self, topic: str) -> bool:
        """Stop pushing ``topic``'s notifications; ``False`` if not subscribed."""
        ...


@validate_types
def _topic(topic: str) -> str:
    """Return the built-ins' one parameter, checked like any method's params."""
    return topic


def _param_check(func: Callable[..., Any]) -> Callable[..., None]:
    """Return a function with ``func``'s signature and annotation checks that does nothing.

    Calling it binds the params exactly as calling ``func`` would (a ``TypeError`` naming the
    parameter on a mismatch) and checks annotated values (a ``ValidationError``), without
    running ``func``: errors from the method's own body are never mistaken for bad params.
    """

    def check(*args: Any, **kwargs: Any) -> None:
        del args, kwargs

    functools.update_wrapper(check, func)  # __wrapped__: the signature, annotations, globals
    checker: Callable[..., None] = validate_types(check)
    return checker


class Method:
    """A registered method: the function, its params check, and how to run it."""

    __slots__ = ("check", "func", "is_async", "name")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name = name
        self.func = func
        self.is_async = is_async_callable(func)
        self.check = _param_check(func)


def _valid_id(value: object) -> bool:
    # The spec allows a String, a Number or Null; a bool is not a Number in JSON.
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


class Dispatcher:
    """Parse, check and run JSON-RPC messages against registered methods.

    Counters (read by ``RpcServer.stats``): ``requests`` (request objects and notifications
    handled) and ``errors`` (error responses produced, plus failed notifications).
    """

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self.requests = 0
        self.errors = 0

    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Register ``func`` under ``name``.

        Raises:
            TypeError: If ``func`` is not callable.
            ValueError: If ``name`` is empty, reserved (``rpc.*``, a built-in) or taken.
        """
        if not callable(func):
            raise TypeError(f"func must be callable, got {func!r}")
        if not name:
            raise ValueError("name must not be empty")
        if name.startswith("rpc.") or name in SESSION_METHODS:
            raise ValueError(f"name {name!r} is reserved by JSON-RPC or the server")
        if name in self._methods:
            raise ValueError(f"name {name!r} is already registered")
        self._methods[name] = Method(name, func)

    def names(self) -> list[str]:
        """Return the registered method names, sorted."""
        return sorted(self._methods)

    async def handle(self, data: str | bytes, session: Session | None = None) -> str | None:
        """Answer one message (a request, a notification or a batch) per the specification.

        Args:
            data: The message text (bytes are decoded as JSON does: UTF-8, -16 or -32).
            session: The connection, for the built-ins; without one they are not found.

        Returns:
            The response text, or ``None`` when nothing is to be sent back.
        """
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are
            self.errors += 1
            return encode_error(None, PARSE_ERROR, MESSAGES[PARSE_ERROR])
        if not isinstance(message, list):
            return await self._one(message, session)
        if not message:
            self.errors += 1
            return encode_error(None, INVALID_REQUEST, MESSAGES[INVALID_REQUEST])
        # The entries of a batch run concurrently; the spec lets responses come in any order.
        responses = await asyncio.gather(*(self._one(entry, session) for entry in message))  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]  # JSON values
        parts = [response for response in responses if response is not None]
        return f"[{','.join(parts)}]" if parts else None

    def _fail(self, request_id: object, code: int, message: str, data: object = None) -> str:
        self.errors += 1
        try:
            return encode_error(request_id, code, message, data)
        except (TypeError, ValueError):
            logger.exception("JSON-RPC error data is not JSON: %r", data)
            return encode_error(request_id, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])

    async def _one(self, request: object, session: Session | None) -> str | None:
        """Answer one request object; ``None`` for a notification."""
        if not isinstance(request, dict):
            return self._fail(None, INVALID_REQUEST, MESSAGES[INVALID_REQUEST])
        # isinstance() leaves the type arguments unknown; a JSON object's keys are strings.
        fields: dict[str, Any] = request  # pyright: ignore[reportUnknownVariableType]
        request_id = fields.get("id", _ABSENT)
        notification = request_id is _ABSENT
        if notification:
            request_id = None
        elif not _valid_id(request_id):
            return self._fail(None, INVALID_REQUEST, MESSAGES[INVALID_REQUEST])
        name = fields.get("method")
        params = fields.get("params", _ABSENT)
        if (
            fields.get("jsonrpc") != "2.0"
            or not isinstance(name, str)
            or not (params is _ABSENT or isinstance(params, list | dict))
        ):
            return self._fail(request_id, INVALID_REQUEST, MESSAGES[INVALID_REQUEST])
        self.requests += 1
        # Decoded JSON again: a list's items and an object's values are anything.
        args: tuple[Any, ...] = tuple(params) if isinstance(params, list) else ()  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        kwargs: dict[str, Any] = params if isinstance(params, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        try:
            result = await self._run(name, args, kwargs, session)
        except _NotFoundError:
            return None if notification else self._fail(request_id, *_NOT_FOUND)
        except _BadParamsError as bad:
            return None if notification else self._fail(request_id, *bad.args)
        except PortfolioError as error:
            logger.debug("JSON-RPC method %r raised %r", name, error)
            if notification:
                self.errors += 1
                return None
            return self._fail(request_id, *error_for(error))
        except Exception:
            # The traceback goes to the log only: a caller never sees the server's internals.
            logger.exception("JSON-RPC method %r failed", name)
            if notification:
                self.errors += 1
                return None
            return self._fail(request_id, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])
        if notification:
            return None
        try:
            return encode_result(request_id, result)
        except (TypeError, ValueError):
            logger.exception("JSON-RPC method %r returned a value that is not JSON", name)
            return self._fail(request_id, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])

    async def _run(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], session: Session | None
    ) -> object:
        """Run the request; while the instrumentation hook is on, report its outcome.

        The ``method`` attribute is a registered or built-in name, ``"<unknown>"`` for any
        other: a client's made-up names must not become labels.
        """
        if not HOOKS.active:
            return await self._call(name, args, kwargs, session)
        known = name in self._methods or (session is not None and name in SESSION_METHODS)
        method = name if known else "<unknown>"
        try:
            result = await self._call(name, args, kwargs, session)
        except BaseException:
            HOOKS.count("rpc.calls", 1, {"side": "server", "method": method, "outcome": "error"})
            raise
        HOOKS.count("rpc.calls", 1, {"side": "server", "method": method, "outcome": "ok"})
        return result

    async def _call(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], session: Session | None
    ) -> object:
        """Check the params against the method and run it; sync methods in a worker thread."""
        if session is not None and name in SESSION_METHODS:
            topic = _checked(_topic, args, kwargs)
            return session.subscribe(topic) if name == "subscribe" else session.unsubscribe(topic)
        method = self._methods.get(name)
        if method is None:
            raise _NotFoundError
        _checked(method.check, args, kwargs)
        if method.is_async:
            return await method.func(*args, **kwargs)
        return await asyncio.to_thread(method.func, *args, **kwargs)


_NOT_FOUND: Final = (METHOD_NOT_FOUND, MESSAGES[METHOD_NOT_FOUND])


class _NotFoundError(Exception):
    """No method has the requested name (internal signal)."""


class _BadParamsError(Exception):
    """The params do not fit; ``args`` are the error object's code, message and data."""


def _checked(check: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a params check, turning its complaint into :class:`_BadParamsError`."""
    try:
        return check(*args, **kwargs)
    except ValidationError as error:
        data = {"detail": error.message, "parameter": error.field}
        raise _BadParamsError(INVALID_PARAMS, MESSAGES[INVALID_PARAMS], data) from error
    except TypeError as error:
        data = {"detail": str(error)}
        raise _BadParamsError(INVALID_PARAMS, MESSAGES[INVALID_PARAMS], data) from error
