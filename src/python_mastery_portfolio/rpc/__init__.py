"""JSON-RPC 2.0: a transport-free dispatcher, Unix-socket and TCP transports, a client.

:class:`RpcServer` registers ``def`` and ``async def`` methods and answers messages exactly as
the JSON-RPC 2.0 specification says (:meth:`RpcServer.handle_message` needs no transport);
:meth:`RpcServer.serve_unix` and :meth:`RpcServer.serve_tcp` serve newline-delimited JSON to
many clients at once, and :meth:`RpcServer.publish` pushes notifications to subscribers.
:class:`RpcClient` runs many calls at once over one connection, fails every pending call with
:class:`~python_mastery_portfolio.exceptions.ConnectionLostError` when the connection drops,
and with ``reconnect=True`` reconnects with backoff and subscribes again.

Error codes (the ``code`` of :class:`~python_mastery_portfolio.exceptions.RpcError`):

========  =================================================================================
-32700    Parse error: the message is not JSON
-32600    Invalid Request: not a request object (also: a message over ``max_message_size``)
-32601    Method not found
-32602    Invalid params: ``data.detail`` names the parameter
-32603    Internal error: the method raised something unexpected (logged, never sent)
-32000    the method raised a ``PortfolioError``: its message, ``data`` = ``to_dict()``
other     the method raised ``RpcError(code, message, data)``: exactly that
========  =================================================================================

Logs go to the ``python_mastery_portfolio.rpc`` logger.
"""

from __future__ import annotations

from python_mastery_portfolio.exceptions import ConnectionLostError, RpcError
from python_mastery_portfolio.rpc._client import RpcClient, Subscription
from python_mastery_portfolio.rpc._protocol import (
    APPLICATION_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
)
from python_mastery_portfolio.rpc._reconnect import DEFAULT_RECONNECT, ConnectionState
from python_mastery_portfolio.rpc._server import RpcServer, RpcServerStats

__all__ = [
    "APPLICATION_ERROR",
    "DEFAULT_RECONNECT",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "ConnectionLostError",
    "ConnectionState",
    "RpcClient",
    "RpcError",
    "RpcServer",
    "RpcServerStats",
    "Subscription",
]
