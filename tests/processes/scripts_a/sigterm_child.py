"""Hold a PidLock, register exit callbacks, then wait for SIGTERM.

Usage: ``python sigterm_child.py <pid file> <log file>``. Each callback appends a line to the
log; the ``finally`` block too. Prints ``ready`` once everything is registered.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from python_mastery_portfolio.processes import PidLock, on_exit


def note(log: Path, text: str) -> None:
    with log.open("a") as file:
        file.write(text + "\n")


def fail() -> None:
    raise RuntimeError("a failing clean-up")


def answer(line: str) -> None:
    """Write one line to stdout at once: the test is waiting for it."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    pid_file, log = Path(sys.argv[1]), Path(sys.argv[2])
    # The application configures logging (the library writes nothing unless asked), so the
    # failing callback's ERROR record reaches stderr.
    logging.basicConfig(level=logging.WARNING)
    # An ignored SIGTERM is inherited through exec, and on_exit leaves an ignored SIGTERM
    # alone: start from the default action whatever the test runner's own disposition.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    on_exit(note, log, "first")
    lock = PidLock(pid_file).acquire()  # released through on_exit, after the later ones
    on_exit(lambda: note(log, f"lock held {lock.held} file {pid_file.exists()}"))
    on_exit(fail)
    on_exit(note, log, text="third")
    try:
        answer("ready")
        while True:
            signal.pause()
    finally:
        note(log, "finally")


if __name__ == "__main__":
    main()
