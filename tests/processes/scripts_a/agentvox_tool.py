"""Seed 000's long-lived tool, with our names: one instance, clean-up at exit.

Usage: ``python agentvox_tool.py <pid file>``. A second instance exits with status 1 and
one line on stderr. The running one makes a kept temporary file (the seed's
``NamedTemporaryFile(delete=False)``), registers its clean-up, prints ``ready <file>``,
and exits normally when stdin closes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from python_mastery_portfolio.processes import LockHeldError, PidLock, on_exit, temporary_file

temp_files: list[Path] = []


def cleanup() -> None:
    """The seed's atexit clean-up: remove temp files (the PID lock removes itself)."""
    for path in temp_files:
        path.unlink(missing_ok=True)


def main() -> None:
    try:
        PidLock(sys.argv[1]).acquire()  # released at exit through on_exit
    except LockHeldError as error:
        sys.stderr.write(f"already running (pid {error.pid})\n")
        sys.exit(1)
    on_exit(cleanup)
    with temporary_file(suffix=".mp3", keep=True) as path:
        path.write_bytes(b"ID3")
        temp_files.append(path)
    sys.stdout.write(f"ready {path}\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the test closes stdin


if __name__ == "__main__":
    main()
