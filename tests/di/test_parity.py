"""Behaviour a user switching from svcs, punq or lagom relies on (issue 16, feature 7).

Translated from the peers' own suites: ``None`` as a registered value (svcs' ``register_value``
and punq's ``instance=``), factories returning context managers (svcs), and several
implementations of one service type (punq's ``resolve_all``).
"""

from __future__ import annotations

import pytest

from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
from python_mastery_portfolio.exceptions import ServiceNotRegisteredError

SINGLETON = LifecycleScope.SINGLETON
TRANSIENT = LifecycleScope.TRANSIENT
SCOPED = LifecycleScope.SCOPED


class Config:
    def __init__(self, debug: bool = False) -> None:
        self.debug = debug


class Service:
    def __init__(self, config: Config | None) -> None:
        self.config = config


# -- None as an instance --------------------------------------------------------------------


class TestNoneInstance:
    def test_none_is_registered_and_resolved(self) -> None:
        container = DIContainer().register(Config, instance=None)
        assert Config in container
        assert container.resolve(Config) is None
        assert container.resolve(Config) is None  # the built-singleton path

    def test_none_is_injected(self) -> None:
        container = DIContainer().register(Config, instance=None).register(Service)
        assert container.resolve(Service).config is None

    def test_none_in_a_scope_and_async(self) -> None:
        import asyncio

        container = DIContainer().register(Config, instance=None).register(Service, scope=SCOPED)
        with container.scope() as scope:
            assert scope.resolve(Config) is None
            assert scope.resolve(Service).config is None
        assert asyncio.run(container.aresolve(Config)) is None

    def test_not_giving_an_instance_is_not_none(self) -> None:
        # Without instance=, the class itself is built, as before.
        assert isinstance(DIContainer().register(Config).resolve(Config), Config)

    def test_none_counts_as_given(self) -> None:
        with pytest.raises(ValueError, match=r"\['implementation', 'instance'\]"):
            DIContainer().register(Config, Config, instance=None)
        with pytest.raises(ValueError, match=r"\['factory', 'instance'\]"):
            DIContainer().register(Config, factory=Config, instance=None)

    def test_none_instance_cannot_be_scoped(self) -> None:
        with pytest.raises(ValueError, match="SCOPED"):
            DIContainer().register(Config, instance=None, scope=SCOPED)

    def test_none_replaces_a_registration(self) -> None:
        container = DIContainer().register(Config)
        container.resolve(Config)
        container.register(Config, instance=None)
        assert container.resolve(Config) is None

    def test_override_with_none(self) -> None:
        container = DIContainer().register(Config, scope=SCOPED).register(Service)
        with container.override(Config, None):
            assert container.resolve(Config) is None
            assert container.resolve(Service).config is None
        with container.scope() as scope:
            assert isinstance(scope.resolve(Config), Config)

    def test_none_survives_close(self) -> None:
        container = DIContainer().register(Config, instance=None)
        container.close()
        assert container.resolve(Config) is None

    def test_none_validates(self) -> None:
        DIContainer().register(Config, instance=None).register(Service).validate()

    def test_a_missing_service_is_still_an_error(self) -> None:
        with pytest.raises(ServiceNotRegisteredError):
            DIContainer().register(Service).resolve(Service)
