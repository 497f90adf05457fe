"""Exit clean-up: callbacks run once, last registered first, at exit and on SIGTERM.

``atexit`` alone misses the commonest way a service is stopped: SIGTERM's default action
kills the interpreter without running ``atexit`` handlers, ``finally`` blocks or context
managers. :func:`on_exit` therefore also turns SIGTERM into ``SystemExit`` in the main
thread (when nothing else handles SIGTERM), so the stack unwinds and the callbacks run.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

__all__ = [
    "EXIT_REGISTRY",
    "HOOKS",
    "SIGTERM_EXIT_STATUS",
    "ExitHandle",
    "ExitHooks",
    "ExitRegistry",
    "on_exit",
    "unregister",
]

logger = logging.getLogger(__package__)

SIGTERM_EXIT_STATUS: Final = 128 + signal.SIGTERM
"""The status a SIGTERM'd process exits with: the shells' convention for "killed by SIGTERM"."""


class ExitHandle:
    """The receipt of one :func:`on_exit` registration; pass it to :func:`unregister`.

    Example:
        >>> from python_mastery_portfolio.processes import on_exit, unregister
        >>> handle = on_exit(print, "bye")
        >>> handle.callback is print, unregister(handle)
        (True, True)
    """

    __slots__ = ("args", "callback", "kwargs", "number")

    callback: Callable[..., object]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    number: int

    def __init__(
        self,
        number: int,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.number = number
        self.callback = callback
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"ExitHandle(#{self.number}, {name})"


class ExitRegistry:
    """A set of clean-up callbacks run once, last registered first.

    The process-wide instance is :data:`EXIT_REGISTRY`, behind :func:`on_exit` and
    :func:`unregister`; a separate instance is useful in tests. Thread-safe.

    Example:
        >>> registry = ExitRegistry()
        >>> _ = registry.register(print, "first registered, runs last")
        >>> _ = registry.register(print, "last registered, runs first")
        >>> registry.run()
        last registered, runs first
        first registered, runs last
        >>> registry.run()  # each callback runs once
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, ExitHandle] = {}  # insertion order is registration order
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, callback: Callable[..., object], /, *args: Any, **kwargs: Any) -> ExitHandle:
        """Add ``callback(*args, **kwargs)``; return the handle that removes it.

        Raises:
            TypeError: If ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        with self._lock:
            handle = ExitHandle(next(self._numbers), callback, args, kwargs)
            self._entries[handle.number] = handle
        return handle

    def unregister(self, handle: ExitHandle, /) -> bool:
        """Remove ``handle``'s callback; return ``False`` if it already ran or was removed."""
        with self._lock:
            return self._entries.pop(handle.number, None) is not None

    def clear(self) -> None:
        """Forget every callback without running it."""
        with self._lock:
            self._entries.clear()

    def run(self) -> None:
        """Run and remove every callback, last registered first.

        A callback that raises an ``Exception`` is logged at ERROR with its traceback and
        the others still run. ``KeyboardInterrupt``, ``SystemExit`` and other
        ``BaseException`` are logged too and the others still run; the first of them is
        then re-raised. A callback registered by a running callback runs in the same pass.

        Raises:
            BaseException: The first non-``Exception`` a callback raised, after all ran.
        """
        pending: BaseException | None = None
        while True:
            with self._lock:
                if not self._entries:
                    break
                _, handle = self._entries.popitem()  # LIFO: dicts pop their newest item
            try:
                handle.callback(*handle.args, **handle.kwargs)
            except Exception:
                logger.exception("Exit callback %r failed", handle)
            except BaseException as error:
                # Never swallowed: the others still run, then the first such error goes on.
                logger.exception("Exit callback %r raised %s", handle, type(error).__name__)
                if pending is None:
                    pending = error
        if pending is not None:
            raise pending


EXIT_REGISTRY: Final = ExitRegistry()
"""The process-wide registry that :func:`on_exit` fills."""


class ExitHooks:
    """The process-wide hooks (atexit, SIGTERM, fork) installed on the first :func:`on_exit`."""

    def __init__(self, registry: ExitRegistry) -> None:
        self.registry = registry
        self.lock = threading.Lock()
        self.atexit_installed = False
        self.signal_checked = False
        self.exiting = False

    def install(self) -> None:
        with self.lock:
            if not self.atexit_installed:
                self.atexit_installed = True
                atexit.register(self.run_at_exit)
                # A forked child must not stop its parent's subprocesses or remove its lock.
                os.register_at_fork(after_in_child=self.registry.clear)
            # Signal handlers can only be set from the main thread: until on_exit is used
            # there, SIGTERM keeps its default action.
            if not self.signal_checked and threading.current_thread() is threading.main_thread():
                self.signal_checked = True
                self.install_sigterm_handler()

    def install_sigterm_handler(self) -> bool:
        """Install the SIGTERM handler unless the application has one; return whether it did."""
        current = signal.getsignal(signal.SIGTERM)
        if current is not signal.SIG_DFL:
            # SIG_IGN, a handler set from C (None) or the application's own Python handler:
            # the application decides what SIGTERM means; it runs the callbacks by exiting.
            logger.debug("SIGTERM already handled by %r; not installing ours", current)
            return False
        signal.signal(signal.SIGTERM, self.handle_sigterm)
        return True

    def handle_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Turn SIGTERM into ``SystemExit`` so ``finally`` blocks and the callbacks run."""
        if self.exiting:
            # Already unwinding for a SIGTERM: a second one must not interrupt the clean-up.
            logger.warning("SIGTERM received again while exiting; ignored")
            return
        self.exiting = True
        logger.info("SIGTERM received; exiting with status %d", SIGTERM_EXIT_STATUS)
        raise SystemExit(SIGTERM_EXIT_STATUS)

    def run_at_exit(self) -> None:
        self.exiting = True
        self.registry.run()


HOOKS: Final = ExitHooks(EXIT_REGISTRY)
"""The hooks behind :data:`EXIT_REGISTRY`."""


def on_exit(callback: Callable[..., object], /, *args: Any, **kwargs: Any) -> ExitHandle:
    """Run ``callback(*args, **kwargs)`` once when the process exits; return its handle.

    Callbacks run last registered first, at normal interpreter exit (``atexit``) and when
    SIGTERM arrives: SIGTERM becomes ``SystemExit(143)`` in the main thread, so ``finally``
    blocks and context managers run before the callbacks. A failing callback is logged at
    ERROR with its traceback and the others still run; a ``KeyboardInterrupt`` or
    ``SystemExit`` raised by one is logged, the others run, then it is re-raised.

    The SIGTERM handler is installed the first time ``on_exit`` is called from the main
    thread, and only if SIGTERM still has its default action: a handler the application
    installed (before or after), or ``SIG_IGN``, is left in charge; it runs the callbacks
    by exiting (``sys.exit``). A child created by ``os.fork`` starts with no callbacks.
    Nothing runs on SIGKILL, ``os._exit`` or a crash of the interpreter; atexit, so the
    callbacks, runs only after the interpreter has joined non-daemon threads.

    Args:
        callback: The function to call.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        A handle for :func:`unregister`.

    Raises:
        TypeError: If ``callback`` is not callable.

    Example:
        >>> from python_mastery_portfolio.processes import on_exit, unregister
        >>> handle = on_exit(print, "cleaning up")
        >>> unregister(handle)
        True
        >>> unregister(handle)
        False
    """
    handle = EXIT_REGISTRY.register(callback, *args, **kwargs)
    HOOKS.install()
    return handle


def unregister(handle: ExitHandle, /) -> bool:
    """Remove a callback :func:`on_exit` registered; return ``False`` if it ran or was removed.

    Example:
        >>> from python_mastery_portfolio.processes import on_exit, unregister
        >>> unregister(on_exit(print))
        True
    """
    return EXIT_REGISTRY.unregister(handle)
