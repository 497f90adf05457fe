"""Race for a PidLock on command: one line on stdin per step, one line of answer on stdout.

Usage: ``python lock_worker.py <pid file>``. Commands: ``go`` (try once; answers ``won`` or
``lost <holder pid>``), ``release`` (answers ``released``), ``wait <seconds>`` (acquire
waiting that long; answers ``won`` or ``lost <pid>``), ``exit``.
"""

from __future__ import annotations

import sys

from python_mastery_portfolio.processes import LockHeldError, PidLock


def answer(line: str) -> None:
    """Write one line to stdout at once: the test is waiting for it."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    path = sys.argv[1]
    lock: PidLock | None = None
    for line in sys.stdin:
        command, *rest = line.split()
        if command in ("go", "wait"):
            candidate = PidLock(path, timeout=float(rest[0]) if rest else None)
            try:
                lock = candidate.acquire()
            except LockHeldError as error:
                answer(f"lost {error.pid}")
            else:
                answer("won")
        elif command == "release":
            assert lock is not None
            lock.release()
            lock = None
            answer("released")
        else:
            break


if __name__ == "__main__":
    main()
