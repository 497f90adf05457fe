"""Start a child through ProcessGroup (``with``) or a bare ManagedProcess, print its pid, wait.

Usage: guarded_parent.py (group|bare)

The test sends this process SIGTERM; exit clean-up must stop the child.
"""

import sys
import time

from python_mastery_portfolio.processes._managed import ManagedProcess
from python_mastery_portfolio.processes._managed_async import ProcessGroup

child = [sys.executable, "-c", "import time; time.sleep(60)"]
if sys.argv[1] == "group":
    with ProcessGroup(stop_timeout=2) as group:
        print(group.start(child).pid, flush=True)  # noqa: T201 - the test reads it
        time.sleep(60)
else:
    print(ManagedProcess(child, stop_timeout=2).start().pid, flush=True)  # noqa: T201 - the test reads it
    time.sleep(60)
