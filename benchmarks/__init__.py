"""Peer benchmarks for python_mastery_portfolio, run with ``make bench``."""
