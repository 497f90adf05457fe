"""The Redis rows of the benchmarks: none, with the reason logged, without ``redis-server``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from benchmarks import redis_scenarios, redis_server


class TestWithoutRedisServer:
    def test_no_rows_and_the_reason_logged(
        self,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """With no ``redis-server`` on PATH there are no Redis rows, and a WARNING says why."""
        monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing to find
        assert shutil.which("redis-server") is None
        with caplog.at_level(logging.WARNING, logger=redis_scenarios.__name__):
            assert redis_scenarios.redis_scenarios() == []
        (record,) = [r for r in caplog.records if r.name == redis_scenarios.__name__]
        assert record.levelno == logging.WARNING
        assert "redis-server is not on PATH" in record.getMessage()

    def test_the_server_is_not_started(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Asking for the address without a server names the reason instead of starting one."""
        monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
        monkeypatch.setattr(redis_server, "_server", [])
        with pytest.raises(RuntimeError, match="redis-server is not on PATH"):
            redis_server.address()
