"""The ``pmp`` command line: parser and entry point."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["APP_FACTORY", "build_parser", "main"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

APP_FACTORY = "python_mastery_portfolio.service.app:create_app"
"""The import string uvicorn loads the application factory from."""


def _version() -> str:
    from python_mastery_portfolio import __version__  # noqa: PLC0415 - keeps startup lean

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``pmp`` command line.

    Example:
        >>> args = build_parser().parse_args(["serve", "--port", "9000"])
        >>> args.command, args.host, args.port, args.reload
        ('serve', None, 9000, False)
    """
    parser = argparse.ArgumentParser(
        prog="pmp", description="python_mastery_portfolio command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the reference Users service",
        description="Run the Users service (settings from PMP_* environment variables).",
    )
    serve.add_argument("--host", help="address to listen on (default: PMP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PMP_PORT or 8000)")
    serve.add_argument(
        "--reload", action="store_true", help="restart when the package's source changes"
    )
    return parser


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
        parser.exit(2, f"invalid PMP_* settings:\n{error}\n")
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    package_dir = Path(__file__).resolve().parent.parent  # the package root, above cli/
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            reload=args.reload,
            reload_dirs=[str(package_dir)] if args.reload else None,
            log_config=build_log_config(settings.log_level, settings.log_format),
            # The request middleware logs every request, with its request ID.
            access_log=False,
            # X-Forwarded-For is honoured by the app, and only from PMP_TRUSTED_PROXIES.
            proxy_headers=False,
            # Ctrl-C never hangs on a client that keeps its connection open.
            timeout_graceful_shutdown=5,
        )
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully; Ctrl-C is how a user stops the server.
        logger.info("Stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pmp`` command line with ``argv`` (default: ``sys.argv[1:]``); return the status.

    Bad arguments and ``--help`` / ``--version`` exit through ``SystemExit``, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    # "serve" is the only command; argparse has refused anything else.
    return _serve(args, parser)
