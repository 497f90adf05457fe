"""Fork while holding a PidLock with an exit callback; the child exits normally.

Usage: ``python fork_child.py <pid file> <log file>``. The child must neither run the
parent's callback nor remove or release the parent's lock; it logs what it saw.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from python_mastery_portfolio.processes import LockHeldError, PidLock, on_exit


def note(log: Path, text: str) -> None:
    with log.open("a") as file:
        file.write(text + "\n")


def main() -> None:
    pid_file, log = Path(sys.argv[1]), Path(sys.argv[2])
    lock = PidLock(pid_file).acquire()
    on_exit(note, log, f"callback in {os.getpid()}")
    child = os.fork()
    if child == 0:
        note(log, f"child sees held={lock.held}")
        try:
            PidLock(pid_file).acquire()
        except LockHeldError as error:
            note(log, f"child refused, holder {error.pid}")
        sys.exit(0)  # atexit runs in the child too
    _, status = os.waitpid(child, 0)
    note(log, f"parent still holds={lock.held} file={pid_file.exists()} child={status}")


if __name__ == "__main__":
    main()
