"""Tests of the service settings (PMP_* environment variables) and request models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from python_mastery_portfolio.service.models import UserCreate, UserUpdate
from python_mastery_portfolio.service.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PMP_"):
            monkeypatch.delenv(name)


class TestSettings:
    @pytest.mark.parametrize(
        "url", ["redis://localhost:6379/0", "rediss://cache.test", "unix:///run/redis.sock"]
    )
    def test_redis_urls(self, url: str) -> None:
        """PMP_REDIS_URL takes Redis URLs (TCP, TLS, Unix socket)."""
        assert Settings(redis_url=url).redis_url == url

    def test_a_redis_url_needs_its_scheme(self) -> None:
        """A host:port without a scheme is refused at start, not at the first request."""
        with pytest.raises(pydantic.ValidationError, match="must start with one of redis://"):
            Settings(redis_url="localhost:6379")

    def test_defaults(self) -> None:
        """Defaults follow the issue: data/users.db, 127.0.0.1:8000, text logs, example.com."""
        settings = Settings()
        assert settings.database_path == Path("data/users.db")
        assert (settings.host, settings.port) == ("127.0.0.1", 8000)
        assert (settings.log_level, settings.log_format) == ("INFO", "text")
        assert settings.blocked_email_domains == ("example.com",)
        assert settings.trusted_proxies == ()
        assert settings.write_burst is None

    def test_environment_with_prefix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every field reads PMP_<NAME>; lists are comma-separated."""
        monkeypatch.setenv("PMP_DATABASE_PATH", "/srv/pmp/x.db")
        monkeypatch.setenv("PMP_PORT", "9001")
        monkeypatch.setenv("PMP_LOG_LEVEL", "debug")
        monkeypatch.setenv("PMP_LOG_FORMAT", "json")
        monkeypatch.setenv("PMP_WRITE_RATE_LIMIT", "2.5")
        monkeypatch.setenv("PMP_CACHE_TTL", "5")
        monkeypatch.setenv("PMP_BLOCKED_EMAIL_DOMAINS", "Spam.test, @junk.test,,")
        monkeypatch.setenv("PMP_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
        settings = Settings()
        assert settings.database_path == Path("/srv/pmp/x.db")
        assert settings.port == 9001
        assert settings.log_level == "DEBUG"
        assert settings.log_format == "json"
        assert settings.write_rate_limit == 2.5
        assert settings.cache_ttl == 5.0
        assert settings.blocked_email_domains == ("spam.test", "junk.test")
        assert settings.trusted_proxies == ("10.0.0.0/8", "::1")

    def test_unprefixed_variables_are_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PORT without the prefix does not configure the service."""
        monkeypatch.setenv("PORT", "1234")
        assert Settings().port == 8000

    def test_lists_given_as_python_values(self) -> None:
        """Lists passed in code are normalised the same way."""
        settings = Settings.model_validate(
            {"blocked_email_domains": ["A.test"], "trusted_proxies": ["127.0.0.1"]}
        )
        assert settings.blocked_email_domains == ("a.test",)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("port", "70000"),
            ("port", "-1"),
            ("log_level", "LOUD"),
            ("log_format", "xml"),
            ("write_rate_limit", "0"),
            ("cache_ttl", "-1"),
            ("cache_maxsize", "-1"),
            ("write_burst", "0"),
            ("events_queue_size", "0"),
            ("trusted_proxies", "not-an-ip"),
        ],
        ids=[
            "port-high",
            "port-negative",
            "level",
            "format",
            "rate",
            "ttl",
            "maxsize",
            "burst",
            "queue",
            "proxy",
        ],
    )
    def test_invalid_values_are_refused(
        self, monkeypatch: pytest.MonkeyPatch, field: str, value: str
    ) -> None:
        """Invalid environment values fail at start-up, naming the field."""
        monkeypatch.setenv(f"PMP_{field.upper()}", value)
        with pytest.raises(pydantic.ValidationError, match=field):
            Settings()

    @pytest.mark.parametrize(
        ("field", "value"),
        [("log_level", 10), ("blocked_email_domains", 5), ("trusted_proxies", 5)],
        ids=["level-number", "domains-number", "proxies-number"],
    )
    def test_wrong_types_are_refused(self, field: str, value: object) -> None:
        """Values of the wrong type given in code are refused, naming the field."""
        with pytest.raises(pydantic.ValidationError, match=field):
            Settings.model_validate({field: value})

    def test_frozen(self) -> None:
        """Settings cannot change after start-up."""
        with pytest.raises(pydantic.ValidationError):
            Settings().port = 1


class TestModels:
    def test_email_is_lowercased(self) -> None:
        """The whole e-mail address is stored lowercased."""
        assert UserCreate(email="Ada.L@Example.ORG", name="Ada").email == "ada.l@example.org"

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "not-an-email", "name": "A"},
            {"email": "a@example.org", "name": ""},
            {"email": "a@example.org", "name": "   "},
            {"email": "a@example.org", "name": "x" * 101},
            {"email": "a@example.org", "name": "A", "age": -1},
            {"email": "a@example.org", "name": "A", "age": 151},
            {"email": "a@example.org", "name": "A", "admin": True},
            {"name": "A"},
        ],
        ids=[
            "email",
            "empty-name",
            "blank-name",
            "long-name",
            "age-low",
            "age-high",
            "extra",
            "missing",
        ],
    )
    def test_invalid_create(self, body: dict[str, Any]) -> None:
        """Create bodies follow the rules: valid e-mail, name 1-100, age 0-150, no extras."""
        with pytest.raises(pydantic.ValidationError):
            UserCreate.model_validate(body)

    @pytest.mark.parametrize(
        ("name", "age"), [("x" * 100, 0), ("A", 150), ("A", None)], ids=["max", "age", "none"]
    )
    def test_valid_bounds(self, name: str, age: int | None) -> None:
        """The bounds themselves are accepted."""
        assert UserCreate(email="a@example.org", name=name, age=age).age == age

    def test_update_changes_only_sent_fields(self) -> None:
        """changes() lists exactly the fields the client sent."""
        assert UserUpdate.model_validate({}).changes() == {}
        assert UserUpdate.model_validate({"age": None}).changes() == {"age": None}
        assert UserUpdate.model_validate({"email": "X@Y.org"}).changes() == {"email": "x@y.org"}

    @pytest.mark.parametrize("field", ["email", "name"], ids=["email", "name"])
    def test_update_refuses_null_for_required_fields(self, field: str) -> None:
        """email and name may be left out but not set to null."""
        with pytest.raises(pydantic.ValidationError, match="not set to null"):
            UserUpdate.model_validate({field: None})

    def test_update_same_rules_as_create(self) -> None:
        """An update is validated like a create."""
        with pytest.raises(pydantic.ValidationError):
            UserUpdate.model_validate({"age": 151})


class TestAdminSocket:
    def test_default_is_next_to_the_database(self) -> None:
        """Unset, the admin socket is pmp.sock in the database's directory."""
        assert Settings().admin_socket_path == Path("data/pmp.sock")
        assert Settings(database_path=Path("/srv/x/u.db")).admin_socket_path == Path(
            "/srv/x/pmp.sock"
        )

    def test_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PMP_ADMIN_SOCKET sets the path; an empty value switches the endpoint off."""
        monkeypatch.setenv("PMP_ADMIN_SOCKET", "/run/pmp/admin.sock")
        assert Settings().admin_socket_path == Path("/run/pmp/admin.sock")
        monkeypatch.setenv("PMP_ADMIN_SOCKET", "")
        assert Settings().admin_socket_path is None


class TestHardeningSettings:
    def test_safe_defaults(self) -> None:
        """Issue 18's limits have safe defaults."""
        settings = Settings()
        assert settings.max_body_size == 1024 * 1024
        assert settings.ws_max_message_size == 64 * 1024
        assert settings.ws_per_message_deflate is False
        assert settings.served_hosts == {"127.0.0.1", "localhost", "::1"}
        assert settings.metrics_enabled
        assert settings.docs_enabled
        assert settings.metrics_token is None

    def test_hosts_and_origins_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Comma-separated, lowercased, without trailing slashes."""
        monkeypatch.setenv("PMP_ALLOWED_HOSTS", "API.example, other.example")
        monkeypatch.setenv("PMP_WS_ALLOWED_ORIGINS", "https://App.example/")
        monkeypatch.setenv("PMP_HOST", "0.0.0.0")  # noqa: S104 - parsed only
        settings = Settings()
        assert settings.ws_allowed_origins == ("https://app.example",)
        assert {"api.example", "other.example", "0.0.0.0"} <= settings.served_hosts  # noqa: S104

    def test_wrong_type_of_hosts(self) -> None:
        """A number is not a list of hosts."""
        with pytest.raises(pydantic.ValidationError, match="allowed_hosts"):
            Settings.model_validate({"allowed_hosts": 5})

    def test_help_lists_every_setting(self) -> None:
        """settings_help() has one line per field, so `pmp serve --help` cannot drift."""
        from python_mastery_portfolio.service import settings as settings_module

        lines = settings_module.settings_help().splitlines()
        assert len(lines) == len(Settings.model_fields)
        for line, name in zip(lines, Settings.model_fields, strict=True):
            assert line.startswith(f"PMP_{name.upper()} ")
        assert "PMP_MAX_BODY_SIZE" in (settings_module.__doc__ or "")
