"""Tests of the exit statuses and the default admin socket of the client commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_mastery_portfolio.cli import ExitCode
from python_mastery_portfolio.cli._socket import default_admin_socket
from python_mastery_portfolio.service.settings import Settings


class TestExitCode:
    def test_seed_values(self) -> None:
        """The seed's five statuses keep their values; Ctrl-C is 130."""
        assert [(code.name, int(code)) for code in ExitCode] == [
            ("SUCCESS", 0),
            ("GENERAL_ERROR", 1),
            ("CONNECTION_ERROR", 2),
            ("VALIDATION_ERROR", 3),
            ("CONFIGURATION_ERROR", 4),
            ("INTERRUPTED", 130),
        ]


class TestDefaultAdminSocket:
    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"PMP_DATABASE_PATH": "/srv/pmp/users.db"},
            {"PMP_DATABASE_PATH": "users.db"},
            {"PMP_ADMIN_SOCKET": "/run/pmp.sock", "PMP_DATABASE_PATH": "/srv/users.db"},
            {"PMP_ADMIN_SOCKET": ""},
        ],
        ids=["default", "database-dir", "bare-database", "explicit", "off"],
    )
    def test_agrees_with_the_service(
        self, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The CLI finds the socket where the service's settings put it."""
        for name in ("PMP_ADMIN_SOCKET", "PMP_DATABASE_PATH"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        assert default_admin_socket() == Settings().admin_socket_path
        assert default_admin_socket(environ) == Settings().admin_socket_path

    def test_default_is_next_to_the_database(self) -> None:
        """Without settings the socket is data/pmp.sock."""
        assert default_admin_socket({}) == Path("data/pmp.sock")
