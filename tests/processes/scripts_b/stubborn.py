"""Ignore SIGTERM, say ready, then sleep until killed (bounded, so a failed test ends)."""

import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)  # noqa: T201 - the test reads it
time.sleep(60)
