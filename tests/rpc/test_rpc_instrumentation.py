"""JSON-RPC calls reported to the instrumentation hook, by side, method and outcome."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_mastery_portfolio.exceptions import RpcError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.rpc import RpcClient, RpcServer
from python_mastery_portfolio.rpc._dispatch import Dispatcher


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


def _calls(recorder: RecordingInstrument, side: str) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = {}
    for record in recorder.select("count", "rpc.calls", side=side):
        key = (str(record.attributes["method"]), str(record.attributes["outcome"]))
        totals[key] = totals.get(key, 0) + record.value
    return totals


def test_both_sides(recorder: RecordingInstrument, sock_path: Path) -> None:
    """Each call counts once on each side; unknown methods are not labels."""
    server = RpcServer()

    @server.method
    async def echo(value: object) -> object:
        return value

    async def main() -> None:
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            assert await client.call("echo", 1) == 1
            with pytest.raises(RpcError):
                await client.call("made.up.name")

    asyncio.run(main())
    assert _calls(recorder, "server") == {("echo", "ok"): 1, ("<unknown>", "error"): 1}
    assert _calls(recorder, "client") == {("echo", "ok"): 1, ("made.up.name", "error"): 1}


class _Session:
    def subscribe(self, topic: str) -> bool:
        return True

    def unsubscribe(self, topic: str) -> bool:
        return False


def test_built_in_methods_are_named(recorder: RecordingInstrument) -> None:
    """A connection's built-in methods count under their own names."""
    dispatcher = Dispatcher()
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": ["t"]})
    asyncio.run(dispatcher.handle(request, _Session()))
    asyncio.run(dispatcher.handle(request, None))  # no session: no such method
    assert _calls(recorder, "server") == {("subscribe", "ok"): 1, ("<unknown>", "error"): 1}


def test_quiet_without_instrument(sock_path: Path) -> None:
    """Without an instrument calls work the same."""
    server = RpcServer()

    @server.method
    def double(value: int) -> int:
        return 2 * value

    async def main() -> int:
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            result: int = await client.call("double", 2)
            return result

    assert asyncio.run(main()) == 4
