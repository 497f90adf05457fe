"""The ``pmp`` command: run the reference Users service and watch it live.

- ``pmp serve [--host HOST] [--port PORT] [--reload] [--workers N]`` (also
  ``python -m python_mastery_portfolio serve``) starts the service with uvicorn. Settings come
  from ``PMP_*`` environment variables (see :mod:`python_mastery_portfolio.service.settings`);
  ``--host`` and ``--port`` override ``PMP_HOST`` and ``PMP_PORT``. Ctrl-C shuts the server
  down cleanly (the database is closed, written data is kept) and exits with status 0.
  ``--workers N`` (default ``WEB_CONCURRENCY``, else 1) starts N worker processes; more than
  one needs ``PMP_REDIS_URL`` (exit 4 otherwise). Needs the ``[web]`` extra.
- ``pmp status [--json]``, ``pmp events [--count N] [--json]`` and ``pmp top [--once]`` talk
  to a running service over its admin socket (``--socket PATH``; by default
  ``PMP_ADMIN_SOCKET``, else ``pmp.sock`` next to the database). They need the ``[cli]``
  extra (rich) and exit with an :class:`ExitCode`: 2 when the service cannot be reached,
  130 after Ctrl-C.
"""

from __future__ import annotations

from python_mastery_portfolio.cli._exit import ExitCode
from python_mastery_portfolio.cli._main import (
    APP_FACTORY,
    build_parser,
    main,
)

__all__ = [
    "APP_FACTORY",
    "ExitCode",
    "build_parser",
    "main",
]
