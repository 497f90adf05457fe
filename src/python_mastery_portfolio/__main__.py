"""``python -m python_mastery_portfolio``: the ``pmp`` command line."""

from __future__ import annotations

from python_mastery_portfolio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
