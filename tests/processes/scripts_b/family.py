"""Start a grandchild, print its pid once it is ready, then stay or leave.

Usage: family.py (stay|leave|escape) (stubborn|polite)

``stay`` sleeps until killed; ``leave`` exits at once; ``escape`` makes the grandchild leave
the process group (``setsid``) while it holds this process's stderr, then exits.
"""

import subprocess
import sys
import time

mode, temper = sys.argv[1], sys.argv[2]
body = "import os, signal, sys, time\n"
if temper == "stubborn":
    body += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
if mode == "escape":
    body += "os.setsid()\n"
body += "print('ready', flush=True)\ntime.sleep(60)\n"
grandchild = subprocess.Popen(  # noqa: S603  # fixed command
    [sys.executable, "-c", body], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
)
assert grandchild.stdout is not None
grandchild.stdout.readline()
print(grandchild.pid, flush=True)  # noqa: T201 - the test reads it
if mode == "stay":
    time.sleep(60)
