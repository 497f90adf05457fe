"""Where the client commands find the service's admin socket."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["default_admin_socket"]

DEFAULT_DATABASE = Path("data/users.db")
SOCKET_NAME = "pmp.sock"


def default_admin_socket(environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the admin socket the service uses with the same environment, or ``None`` if off.

    ``PMP_ADMIN_SOCKET`` when set (empty means off), else ``pmp.sock`` next to the database
    (``PMP_DATABASE_PATH``, default ``data/users.db``): the rule of the service's settings,
    restated here so the client commands need only the ``[cli]`` extra.

    Example:
        >>> default_admin_socket({})
        PosixPath('data/pmp.sock')
        >>> default_admin_socket({"PMP_DATABASE_PATH": "/srv/users.db"})
        PosixPath('/srv/pmp.sock')
        >>> default_admin_socket({"PMP_ADMIN_SOCKET": ""}) is None
        True
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("PMP_ADMIN_SOCKET")
    if configured is not None:
        return Path(configured) if configured else None
    database = Path(environ.get("PMP_DATABASE_PATH") or DEFAULT_DATABASE)
    return database.parent / SOCKET_NAME
