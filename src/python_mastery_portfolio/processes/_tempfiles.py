"""Temporary files and directories that are removed when their block ends, however it ends."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Generator
from pathlib import Path

__all__ = ["temporary_directory", "temporary_file"]

logger = logging.getLogger(__package__)


def _open_up(path: Path) -> None:
    """Give the owner full access to every directory in the tree, never following a link."""
    os.chmod(path, stat.S_IRWXU)
    for root, directories, _ in os.walk(path):  # top-down: opened before walked into
        for name in directories:
            entry = os.path.join(root, name)
            if not os.path.islink(entry):  # chmod would follow it out of the tree
                os.chmod(entry, stat.S_IRWXU)


def _remove_tree(path: Path) -> None:
    """Remove ``path`` and its contents; log at WARNING what cannot be removed."""
    try:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            return  # the block removed it
        except PermissionError:
            # The block made a directory read-only (a test of permissions, a copied tree):
            # its owner may open it up again and remove it.
            _open_up(path)
            shutil.rmtree(path)
    except OSError:
        # Raising here would replace the block's own exception, or fail a block that
        # succeeded, over a leftover in the temporary directory: logged, not raised.
        logger.warning("Could not remove temporary directory %s", path, exc_info=True)


@contextlib.contextmanager
def temporary_directory(
    *, prefix: str | None = None, parent: str | os.PathLike[str] | None = None
) -> Generator[Path, None, None]:
    """Create a private temporary directory; remove it and its contents when the block ends.

    The seed's version, with a ``Path`` instead of a ``str`` (``os.path.join`` accepts
    both). It is removed also when the block raises or SIGTERM arrives while an
    :func:`on_exit` handler is installed (SIGTERM then unwinds the stack). Read-only entries
    are made writable and removed; an entry that still cannot be removed is logged at
    WARNING instead of raised, so it never hides the block's own exception.

    Args:
        prefix: Start of the directory's name.
        parent: Directory to create it in; the system's temporary directory by default.

    Yields:
        The directory's path (mode 0o700).

    Example:
        >>> from python_mastery_portfolio.processes import temporary_directory
        >>> with temporary_directory() as temp_dir:
        ...     file_path = temp_dir / "data.txt"
        ...     _ = file_path.write_text("temporary data")
        ...     file_path.read_text()
        'temporary data'
        >>> temp_dir.exists()
        False
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        _remove_tree(path)


@contextlib.contextmanager
def temporary_file(
    suffix: str = "",
    *,
    prefix: str | None = None,
    parent: str | os.PathLike[str] | None = None,
    keep: bool = False,
) -> Generator[Path, None, None]:
    """Create an empty private temporary file; remove it when the block ends unless ``keep``.

    The file is created (mode 0o600, so no other user can read or replace it) and closed
    before the block starts, so the block, or a subprocess it starts, can open it by name
    on any platform. ``keep=True`` is the seed's ``NamedTemporaryFile(delete=False)``: the
    file stays after the block, for its name to be handed on. Without ``keep`` it is
    removed also when the block raises; a file the block already removed is fine.

    Args:
        suffix: End of the file's name, such as ``".json"``.
        prefix: Start of the file's name.
        parent: Directory to create it in; the system's temporary directory by default.
        keep: Keep the file after the block.

    Yields:
        The file's path.

    Example:
        >>> from python_mastery_portfolio.processes import temporary_file
        >>> with temporary_file(suffix=".txt") as path:
        ...     _ = path.write_text("hello")
        ...     path.suffix, path.read_text()
        ('.txt', 'hello')
        >>> path.exists()
        False
    """
    fd, name = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=parent)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        if not keep:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                logger.warning("Could not remove temporary file %s", path, exc_info=True)
