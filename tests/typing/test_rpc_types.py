"""Static proofs of the types of the rpc package (mypy and pyright check, pytest runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, assert_type

from python_mastery_portfolio.exceptions import ConnectionLostError, RpcError
from python_mastery_portfolio.rpc import (
    ConnectionState,
    RpcClient,
    RpcServer,
    RpcServerStats,
    Subscription,
)

server = RpcServer()


@server.method
async def health() -> dict[str, object]:
    return {"ok": True}


@server.method("users.count")
def users_count() -> int:
    return 3


def test_decorators_keep_the_function_type() -> None:
    # pyright names a coroutine's type CoroutineType, mypy Coroutine: both accept this.
    pending: Coroutine[Any, Any, dict[str, object]] = health()
    assert assert_type(asyncio.run(pending), dict[str, object]) == {"ok": True}
    assert_type(users_count(), int)
    assert_type(server.stats(), RpcServerStats)


async def use_client(client: RpcClient) -> None:
    assert_type(await client.call("users.count", timeout=1.0), Any)
    assert_type(client.subscribe("events"), Subscription)
    assert_type(client.state, ConnectionState)
    assert_type(await client.batch([("health", None)]), list[Any])


def test_error_fields() -> None:
    error = RpcError(-32601, "Method not found")
    assert_type(error.code, int)
    assert_type(error.data, Any)
    lost = ConnectionLostError("gone", path="/x")
    assert_type(lost.path, str | None)
    assert isinstance(lost, ConnectionError)
