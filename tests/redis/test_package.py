"""Tests of the redis subpackage's import behaviour and its relation to redis-py."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    """Return the stdout of ``code`` run in a fresh interpreter."""
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def test_both_packages_import_side_by_side() -> None:
    """redis-py (top-level redis) and ours (python_mastery_portfolio.redis) are distinct."""
    import redis

    import python_mastery_portfolio.redis as ours

    assert redis.__name__ == "redis"
    assert hasattr(redis, "Redis")
    assert ours.__name__ == "python_mastery_portfolio.redis"
    assert "RedisCache" in ours.__all__


def test_the_core_does_not_import_redis() -> None:
    """Importing python_mastery_portfolio imports neither redis-py nor our redis package."""
    code = (
        "import sys, python_mastery_portfolio;"
        "print(any(n == 'redis' or n.startswith(('redis.', 'python_mastery_portfolio.redis'))"
        " for n in sys.modules))"
    )
    assert run(code) == "False"


def test_missing_redis_py_names_the_extra() -> None:
    """Without redis-py, importing our package is an ImportError naming the [redis] extra."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n    import python_mastery_portfolio.redis\n"
        "except ImportError as error:\n    print(error)\n"
    )
    assert "python-mastery-portfolio[redis]" in run(code)
