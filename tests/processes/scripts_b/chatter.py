"""Write lines to stdout and stderr, one of them long, the last without a newline."""

import sys

sys.stdout.write("first line\nsecond line\r\n" + "x" * 100 + "\n")
sys.stdout.flush()
sys.stderr.write("a warning\n")
sys.stderr.flush()
sys.stdout.write("no newline at the end")
