"""The ``pmp`` command line: parser and entry point."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import sys
import traceback
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from python_mastery_portfolio.cli._exit import ExitCode
from python_mastery_portfolio.cli._socket import default_admin_socket
from python_mastery_portfolio.exceptions import PortfolioError, ValidationError
from python_mastery_portfolio.logs import setup_logging

__all__ = [
    "APP_FACTORY",
    "ShutdownCancelFilter",
    "build_parser",
    "main",
    "serve_workers",
    "uvicorn_options",
]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

APP_FACTORY = "python_mastery_portfolio.service.app:create_app"
"""The import string uvicorn loads the application factory from."""

_DEFAULT_TIMEOUT = 5.0
_UVICORN_STARTUP_FAILURE = 3
"""What uvicorn exits with when the application cannot start."""


def _version() -> str:
    from python_mastery_portfolio import __version__  # noqa: PLC0415 - keeps startup lean

    return __version__


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 0 to 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class _ServeHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends the PMP_* settings to ``pmp serve --help``, generated from the model.

    Built only when the help is shown, so other commands never import pydantic.
    """

    def format_help(self) -> str:
        try:
            from python_mastery_portfolio.service.settings import (  # noqa: PLC0415 - only for this help
                settings_help,
            )
        except ImportError:
            table = "  (install the [web] extra to see them)"
        else:
            table = "\n".join(f"  {line}" for line in settings_help().splitlines())
        return f"{super().format_help()}\nsettings (environment variables):\n{table}\n"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``pmp`` command line.

    Example:
        >>> args = build_parser().parse_args(["serve", "--port", "9000"])
        >>> args.command, args.host, args.port, args.reload
        ('serve', None, 9000, False)
        >>> args = build_parser().parse_args(["events", "--count", "2", "-v"])
        >>> args.command, args.count, args.verbose, args.socket
        ('events', 2, True, None)
    """
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="pmp",
        description="python_mastery_portfolio command line: run the Users service and watch it.",
        formatter_class=raw,
        epilog=_examples(
            "pmp serve                 # run the service (terminal 1)",
            "pmp top                   # watch it live (terminal 2)",
            "pmp status --json | jq .cache.hit_rate",
        )
        + "\n\nexit status: 0 success, 1 error, 2 service unreachable, 3 invalid values,\n"
        "4 configuration, 130 interrupted (Ctrl-C).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages; show tracebacks"
    )
    # Lets -v also follow the command (pmp status -v) without resetting a -v given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    client = argparse.ArgumentParser(add_help=False, parents=[common])
    client.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the service's admin socket (default: PMP_ADMIN_SOCKET, else pmp.sock next to "
        "PMP_DATABASE_PATH, i.e. data/pmp.sock)",
    )
    client.add_argument(
        "--timeout",
        type=_seconds,
        default=_DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for each answer (default: {_DEFAULT_TIMEOUT:g})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        parents=[common],
        formatter_class=_ServeHelpFormatter,
        help="run the reference Users service",
        description="Run the Users service (settings from PMP_* environment variables).\n"
        "It also serves the admin socket the other commands talk to.",
        epilog=_examples(
            "pmp serve",
            "pmp serve --port 9000 --reload",
            "PMP_REDIS_URL=redis://localhost:6379/0 pmp serve --workers 4",
            "PMP_ADMIN_SOCKET=/tmp/pmp.sock pmp serve",
        ),
    )
    serve.add_argument("--host", help="address to listen on (default: PMP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: PMP_PORT or 8000)")
    serve.add_argument(
        "--reload", action="store_true", help="restart when the package's source changes"
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="worker processes (default: WEB_CONCURRENCY or 1); more than 1 needs "
        "PMP_REDIS_URL, which shares the rate limits, the cache invalidation, the events "
        "and the figures between them",
    )
    status = commands.add_parser(
        "status",
        parents=[client],
        formatter_class=raw,
        help="show the service's figures",
        description="Show the running service's request, cache, rate-limit and event figures.",
        epilog=_examples("pmp status", "pmp status --json", "pmp status --socket /tmp/pmp.sock"),
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    events = commands.add_parser(
        "events",
        parents=[client],
        formatter_class=raw,
        help="print user changes as they happen",
        description="Print one line per user change (time, type, user ID, request ID).",
        epilog=_examples("pmp events", "pmp events --count 1", "pmp events --json | jq .type"),
    )
    events.add_argument(
        "--count", type=_positive, metavar="N", help="exit after N events (default: run on)"
    )
    events.add_argument("--json", action="store_true", help="print each event as JSON")
    top = commands.add_parser(
        "top",
        parents=[client],
        formatter_class=raw,
        help="watch a live dashboard",
        description="A live dashboard, redrawn 4 times a second: requests by status, latency "
        "percentiles,\ncache hit rate, rate-limiter counts and recent events. Ctrl-C quits.",
        epilog=_examples("pmp top", "pmp top --once"),
    )
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    return parser


# -- serve ---------------------------------------------------------------------------------


class ShutdownCancelFilter(logging.Filter):
    """Turn uvicorn's shutdown cancellations into one WARNING line, without traceback.

    When a client stalls past the graceful-shutdown timeout, uvicorn cancels its request
    and logs the ``CancelledError`` as an ERROR with a traceback: an expected event of a
    shutdown, not a failure of the service.

    Example:
        >>> import asyncio
        >>> record = logging.LogRecord(
        ...     "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application",
        ...     None, (asyncio.CancelledError, asyncio.CancelledError(), None),
        ... )
        >>> ShutdownCancelFilter().filter(record), record.levelname, record.exc_info
        (True, 'WARNING', None)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the cancellation records; let every other record through unchanged."""
        cancelled = record.exc_info is not None and isinstance(
            record.exc_info[1], asyncio.CancelledError
        )
        if cancelled or str(record.msg).startswith("Cancel %s running task"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            if cancelled:
                record.msg, record.args = "A request was cancelled at shutdown", ()
                record.exc_info, record.exc_text = None, None
        return True


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """Return the server limits of ``settings`` (a service ``Settings``) as uvicorn options.

    Example:
        >>> from python_mastery_portfolio.service.settings import Settings
        >>> options = uvicorn_options(Settings())
        >>> options["limit_concurrency"], options["ws_max_size"], options["server_header"]
        (512, 65536, False)
    """
    options: dict[str, Any] = {
        # More connections and tasks than this are answered 503 at once, so running out of
        # file descriptors never makes /health time out.
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": settings.timeout_keep_alive,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "h11_max_incomplete_event_size": settings.max_header_size,
        "ws_max_size": settings.ws_max_message_size,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "server_header": False,
    }
    try:
        from python_mastery_portfolio.service.server import (  # noqa: PLC0415 - needs httptools
            HeaderTimeoutProtocol,
        )
    except ImportError:  # uvicorn without [standard]: its h11 limit is the header limit
        return options
    HeaderTimeoutProtocol.header_timeout = settings.header_timeout
    HeaderTimeoutProtocol.max_header_size = settings.max_header_size
    # Slow or silent clients are dropped before they hold a connection for ever.
    options["http"] = HeaderTimeoutProtocol
    return options


class _TerminatedError(Exception):
    """SIGTERM arrived: uvicorn has drained and stopped; exit 0."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedError


def serve_workers(given: int | None, environ: Mapping[str, str], *, redis_url: str | None) -> int:
    """Return how many workers ``pmp serve`` starts: ``--workers``, else ``WEB_CONCURRENCY``.

    uvicorn would honour ``WEB_CONCURRENCY`` silently; several workers without a shared
    Redis would each keep their own limits, cache and event subscribers, so that is refused.

    Raises:
        ValueError: If ``WEB_CONCURRENCY`` is not a positive integer, or more than one
            worker is asked for without ``redis_url`` (the message is the CLI's one line).

    Example:
        >>> serve_workers(None, {"WEB_CONCURRENCY": "2"}, redis_url="redis://localhost")
        2
        >>> serve_workers(3, {}, redis_url=None)
        Traceback (most recent call last):
        ValueError: 3 workers need PMP_REDIS_URL (shared rate limits, cache and events); ...
    """
    source = "--workers"
    workers = given
    if workers is None:
        text = environ.get("WEB_CONCURRENCY")
        if text is None:
            return 1
        source = "WEB_CONCURRENCY"
        try:
            workers = int(text)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"WEB_CONCURRENCY must be a positive integer, got {text!r}")
    if workers > 1 and redis_url is None:
        raise ValueError(
            f"{workers} workers need PMP_REDIS_URL (shared rate limits, cache and events); "
            f"set it, or use one worker ({source})"
        )
    return workers


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        import uvicorn  # noqa: PLC0415 - the [web] extra is only needed by this command
        from pydantic import ValidationError  # noqa: PLC0415 - idem

        from python_mastery_portfolio.service.settings import Settings  # noqa: PLC0415 - idem
        from python_mastery_portfolio.web.log import build_log_config  # noqa: PLC0415 - idem
    except ImportError as error:
        parser.exit(
            1,
            f"pmp serve needs the [web] extra ({error}): "
            "pip install 'python-mastery-portfolio[web]'\n",
        )
    try:
        settings = Settings()
    except ValidationError as error:
        parser.exit(ExitCode.CONFIGURATION_ERROR, f"invalid PMP_* settings:\n{error}\n")
    if settings.redis_url is not None and importlib.util.find_spec("redis") is None:
        parser.exit(
            ExitCode.CONFIGURATION_ERROR,
            "pmp serve: PMP_REDIS_URL needs redis-py: "
            "pip install 'python-mastery-portfolio[web,redis]'\n",
        )
    try:
        workers = serve_workers(args.workers, os.environ, redis_url=settings.redis_url)
    except ValueError as error:
        parser.exit(ExitCode.CONFIGURATION_ERROR, f"pmp serve: {error}\n")
    if workers > 1 and args.reload:
        parser.exit(ExitCode.CONFIGURATION_ERROR, "pmp serve: --reload runs one worker only\n")
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    package_dir = Path(__file__).resolve().parent.parent  # the package root, above cli/
    # Records are formatted and written by a background thread: the event loop never waits
    # on a formatter or on stderr.
    log_config = build_log_config(
        "DEBUG" if args.verbose else settings.log_level, settings.log_format, queue=True
    )
    log_config.setdefault("filters", {})["shutdown_cancel"] = {
        "()": f"{__name__}.ShutdownCancelFilter"
    }
    log_config.setdefault("loggers", {}).setdefault("uvicorn.error", {})["filters"] = [
        "shutdown_cancel"
    ]
    # uvicorn drains on SIGTERM, then re-raises it with the handler it found: ours turns
    # it into exit status 0 instead of death by signal (143).
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            reload=args.reload,
            # Always given: uvicorn would otherwise read WEB_CONCURRENCY behind our back.
            workers=workers,
            reload_dirs=[str(package_dir)] if args.reload else None,
            log_config=log_config,
            # The request middleware logs every request, with its request ID.
            access_log=False,
            # X-Forwarded-For is honoured by the app, and only from PMP_TRUSTED_PROXIES.
            proxy_headers=False,
            **uvicorn_options(settings),
        )
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully; Ctrl-C is how a user stops the server.
        logger.info("Stopped")
    except _TerminatedError:
        logger.info("Stopped (SIGTERM)")
    except SystemExit as error:
        # uvicorn exits with 3 when the application cannot start (it logged why, in one line).
        if error.code == _UVICORN_STARTUP_FAILURE:
            return ExitCode.CONFIGURATION_ERROR
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


# -- the client commands -------------------------------------------------------------------


class _CommandError(Exception):
    """An expected failure: one line on stderr and an exit status."""

    def __init__(self, status: ExitCode, message: str) -> None:
        super().__init__(message)
        self.status = status


def _socket(args: argparse.Namespace) -> Path:
    socket: Path | None = args.socket if args.socket is not None else default_admin_socket()
    if socket is None:
        raise _CommandError(
            ExitCode.CONFIGURATION_ERROR,
            "the admin socket is switched off (PMP_ADMIN_SOCKET is empty); pass --socket PATH",
        )
    return socket


def _client_command(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    try:
        import rich  # pyright: ignore[reportUnusedImport]  # noqa: F401, PLC0415 - the [cli] extra, checked before it is needed
    except ImportError as error:
        raise _CommandError(
            ExitCode.GENERAL_ERROR,
            f"pmp {args.command} needs the [cli] extra ({error}): "
            "pip install 'python-mastery-portfolio[cli]'",
        ) from error
    from rich.console import Console  # noqa: PLC0415 - idem

    from python_mastery_portfolio.cli._admin import (  # noqa: PLC0415 - idem
        print_top_once,
        run_events,
        run_status,
        run_top,
    )

    socket = _socket(args)
    args.socket = socket
    console = Console()
    if args.command == "status":
        return run_status(socket, console, as_json=args.json, call_timeout=args.timeout)
    if args.command == "events":
        return run_events(socket, console, count=args.count, as_json=args.json)
    if args.once:
        return print_top_once(socket, console, call_timeout=args.timeout)
    return run_top(socket, console, call_timeout=args.timeout)


def _explain(error: Exception, socket: object, *, verbose: bool) -> _CommandError:
    """Turn what a client command raised into one line on stderr and an exit status."""
    if isinstance(error, _CommandError):
        return error
    if isinstance(error, ConnectionError | FileNotFoundError | TimeoutError):
        reason = "no answer in time" if isinstance(error, TimeoutError) else str(error) or "lost"
        return _CommandError(
            ExitCode.CONNECTION_ERROR,
            f"cannot reach the service's admin socket at {socket} ({reason}); "
            "is `pmp serve` running with the same PMP_ADMIN_SOCKET / PMP_DATABASE_PATH?",
        )
    if isinstance(error, ValidationError):
        return _CommandError(ExitCode.VALIDATION_ERROR, f"the service refused the request: {error}")
    if isinstance(error, PortfolioError):
        return _CommandError(ExitCode.GENERAL_ERROR, f"the service answered with an error: {error}")
    hint = "" if verbose else " (run with -v for the traceback)"
    return _CommandError(ExitCode.GENERAL_ERROR, f"unexpected error: {error!r}{hint}")


def _run_client(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_client_command(args))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every failure becomes one line and a status
        if args.verbose:
            traceback.print_exception(error)
        failure = _explain(error, args.socket, verbose=args.verbose)
        print(f"pmp: {failure}", file=sys.stderr)  # noqa: T201 - the one line of a CLI failure
        return failure.status
    return ExitCode.SUCCESS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pmp`` command line with ``argv`` (default: ``sys.argv[1:]``); return the status.

    Bad arguments and ``--help`` / ``--version`` exit through ``SystemExit``, as argparse does.
    Client commands return an :class:`~python_mastery_portfolio.cli.ExitCode`: ``2`` when the
    service cannot be reached, ``130`` after Ctrl-C; an expected failure prints one line on
    stderr, and a traceback only with ``--verbose``.
    """
    try:
        parser = build_parser()
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        if args.command == "serve":
            return _serve(args, parser)
        setup_logging(args.verbose, json=os.environ.get("PMP_LOG_FORMAT", "").lower() == "json")
        return _run_client(args)
    except KeyboardInterrupt:
        # Ctrl-C before a command got going (while importing, say) is just as quiet.
        return ExitCode.INTERRUPTED
