"""Build-once cells and generator finalisers, shared by the container, its scopes and overrides.

Finalisation rules (shared by scopes, ``container.close()`` and overrides):

- Generator factories are finalised in reverse order of creation.
- An exception raised in the ``with`` body is thrown into each generator; a generator cannot
  swallow it: the body's exception always propagates unchanged.
- One failing finaliser does not stop the others. Their errors are raised together at the end:
  the error itself when one failed, an :class:`ExceptionGroup` when several did. When the body
  raised, its exception propagates instead and each finaliser error is logged and added to it
  as a note. Cancellation, ``KeyboardInterrupt`` and ``SystemExit`` always win.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

from python_mastery_portfolio._internal.callables import FATAL_EXCEPTIONS
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di._graph import chain_error
from python_mastery_portfolio.di._protocols import Finaliser
from python_mastery_portfolio.exceptions import CircularDependencyError, LifetimeError

__all__ = ["Cell", "Cleanups"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name


class Cell:
    """Hold one lazily built value (a singleton, or a scoped service in one scope).

    The value is built at most once, even when many threads or tasks ask at the same
    moment; a build that fails leaves the cell empty, so the next request tries again.
    """

    __slots__ = ("_building", "_lock", "_pending", "_task", "value")

    def __init__(self, value: Any = MISSING) -> None:
        self.value = value
        self._lock = threading.RLock()
        self._building = False
        self._pending: concurrent.futures.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None

    def get(self, make: Callable[[Any], Any], scope: Any, name: str) -> Any:
        """Return the value, building it with ``make(scope)`` under the lock if needed."""
        with self._lock:
            value = self.value
            if value is MISSING:
                if self._building:
                    # Only this thread can see the flag set: others wait on the lock.
                    raise _reentered(name)
                self._building = True
                try:
                    value = make(scope)
                finally:
                    self._building = False
                self.value = value
            return value

    async def aget(self, make: Callable[[Any], Awaitable[Any]], scope: Any, name: str) -> Any:
        """Return the value, building it with ``await make(scope)`` in one task if needed."""
        task = asyncio.current_task()
        while True:
            with self._lock:
                if self.value is not MISSING:
                    return self.value
                pending = self._pending
                if pending is None:
                    pending = self._pending = concurrent.futures.Future()
                    self._task = task
                    break
                if self._task is task:
                    raise _reentered(name)
            # A thread-safe future, so tasks of other event loops can wait on it too;
            # shielded, so a cancelled waiter does not cancel the build.
            await asyncio.shield(asyncio.wrap_future(pending))
        try:
            value = await make(scope)
        except BaseException:
            with self._lock:
                self._pending = self._task = None
            pending.set_result(None)
            raise
        with self._lock:
            self.value = value
            self._pending = self._task = None
        pending.set_result(None)
        return value


def _reentered(name: str) -> CircularDependencyError:
    return chain_error(
        CircularDependencyError, (name, name), ": requested again while it was being built"
    )


class Cleanups:
    """Generators to finalise, in order of creation; thread-safe."""

    __slots__ = ("_closed", "_items", "_lock")

    def __init__(self) -> None:
        self._items: list[tuple[Finaliser, str]] = []
        self._lock = threading.Lock()
        self._closed = False

    def push(self, finaliser: Finaliser, name: str) -> None:
        """Remember ``finaliser`` (of service ``name``) for the next close."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._items.append((finaliser, name))
        if closed:
            if isinstance(finaliser, Generator):
                finaliser.close()
            raise chain_error(LifetimeError, (name,), ": its scope is already closed")

    @property
    def closed(self) -> bool:
        """Whether a final close has happened (later pushes are refused)."""
        return self._closed

    def _take(self, *, final: bool) -> list[tuple[Finaliser, str]]:
        with self._lock:
            items, self._items = self._items, []
            self._closed = self._closed or final
        items.reverse()
        return items

    def close(self, error: BaseException | None = None, *, final: bool = False) -> None:
        """Finalise every generator, newest first, throwing ``error`` into each.

        Args:
            error: The exception the ``with`` body raised, or ``None``.
            final: Refuse later pushes (a closed scope).

        Raises:
            TypeError: If an async generator is pending (it needs :meth:`aclose`).
        """
        failures: list[BaseException] = []
        for finaliser, name in self._take(final=final):
            if not isinstance(finaliser, Generator):
                failures.append(
                    TypeError(
                        f"{name} comes from an async generator factory (or is an async "
                        "context manager): close with 'async with' or 'await ....aclose()'"
                    )
                )
                continue
            try:
                _finish(finaliser, error, name)
            except BaseException as failure:  # noqa: BLE001 - collected and re-raised by _settle
                failures.append(failure)
        _settle(failures, error)

    async def aclose(self, error: BaseException | None = None, *, final: bool = False) -> None:
        """Finalise every generator (sync and async), newest first; see :meth:`close`."""
        failures: list[BaseException] = []
        for finaliser, name in self._take(final=final):
            try:
                if isinstance(finaliser, Generator):
                    _finish(finaliser, error, name)
                else:
                    await _afinish(finaliser, error, name)
            except BaseException as failure:  # noqa: BLE001 - collected and re-raised by _settle
                failures.append(failure)
        _settle(failures, error)


def _finish(generator: Generator[Any, None, None], error: BaseException | None, name: str) -> None:
    try:
        if error is None:
            next(generator)
        else:
            generator.throw(error)
    except StopIteration:
        return
    except BaseException as raised:
        if raised is error:
            return
        raise
    generator.close()
    raise RuntimeError(f"generator factory of {name} yielded more than once")


async def _afinish(
    generator: AsyncGenerator[Any, None], error: BaseException | None, name: str
) -> None:
    try:
        if error is None:
            await anext(generator)
        else:
            await generator.athrow(error)
    except StopAsyncIteration:
        return
    except BaseException as raised:
        if raised is error:
            return
        raise
    await generator.aclose()
    raise RuntimeError(f"async generator factory of {name} yielded more than once")


def _settle(failures: list[BaseException], error: BaseException | None) -> None:
    """Raise the finaliser failures as the module docstring describes."""
    if not failures:
        return
    fatal = next((f for f in failures if isinstance(f, FATAL_EXCEPTIONS)), None)
    carrier = error if error is not None else fatal
    if carrier is not None:
        for failure in failures:
            if failure is not carrier:
                logger.error("a DI finaliser failed", exc_info=failure)
                carrier.add_note(f"a DI finaliser failed: {type(failure).__name__}: {failure}")
        if fatal is not None:
            raise fatal
        return
    if len(failures) == 1:
        raise failures[0]
    raise BaseExceptionGroup(f"{len(failures)} DI finalisers failed", failures)
