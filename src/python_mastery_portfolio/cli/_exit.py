"""The exit statuses of the ``pmp`` command line (seed 003's ``ExitCode``)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """What ``pmp`` exits with; the first five are the seed's values.

    ``INTERRUPTED`` (130, 128 + SIGINT) is the shell's convention for a command stopped
    with Ctrl-C; ``pmp`` exits with it quietly, without a traceback.

    Example:
        >>> from python_mastery_portfolio.cli import ExitCode
        >>> int(ExitCode.CONNECTION_ERROR), ExitCode(130).name
        (2, 'INTERRUPTED')
    """

    SUCCESS = 0
    """The command did what was asked."""
    GENERAL_ERROR = 1
    """Anything else went wrong (an error answer from the service, a missing extra)."""
    CONNECTION_ERROR = 2
    """The service's admin socket could not be reached, or the connection was lost."""
    VALIDATION_ERROR = 3
    """The service refused the request's values."""
    CONFIGURATION_ERROR = 4
    """The settings make the command impossible (the admin socket is switched off)."""
    INTERRUPTED = 130
    """Stopped with Ctrl-C."""
