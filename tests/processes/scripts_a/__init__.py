"""Small programs the process tests run as real subprocesses (``python -m`` or by path)."""
