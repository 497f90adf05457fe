"""The handle every adapter's ``install_*`` returns."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from python_mastery_portfolio.instrumentation import HOOKS, Instrument

__all__ = ["AdapterHandle"]

I = TypeVar("I", bound=Instrument)  # noqa: E741 - the instrument's type


class AdapterHandle(Generic[I]):
    """An installed adapter: :meth:`uninstall` it, or use it in ``with``.

    Attributes:
        instrument: The adapter's instrument, installed on the hook.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument
        >>> handle = AdapterHandle(RecordingInstrument())
        >>> handle.uninstall(), handle.uninstall()
        (True, False)
    """

    __slots__ = ("_cleanup", "_installation", "instrument")

    def __init__(self, instrument: I, cleanup: Callable[[], object] | None = None) -> None:
        self.instrument = instrument
        self._cleanup = cleanup
        self._installation = HOOKS.install(instrument)

    def uninstall(self) -> bool:
        """Stop reporting to the adapter and release what it registered; ``False`` if done."""
        removed = self._installation.uninstall()
        if removed and self._cleanup is not None:
            self._cleanup()
        return removed

    def __enter__(self) -> AdapterHandle[I]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return f"<AdapterHandle of {self.instrument!r}>"
