"""The ``pmp`` command: ``pmp serve`` runs the reference Users service.

``pmp serve [--host HOST] [--port PORT] [--reload]`` (also
``python -m python_mastery_portfolio serve``) starts the service with uvicorn. Settings come
from ``PMP_*`` environment variables (see :mod:`python_mastery_portfolio.service.settings`);
``--host`` and ``--port`` override ``PMP_HOST`` and ``PMP_PORT``. Ctrl-C shuts the server down
cleanly (the database is closed, written data is kept) and exits with status 0.

Needs the ``[web]`` extra.
"""

from __future__ import annotations

from python_mastery_portfolio.cli._main import (
    APP_FACTORY,
    build_parser,
    main,
)

__all__ = [
    "APP_FACTORY",
    "build_parser",
    "main",
]
