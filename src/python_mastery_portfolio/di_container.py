"""The seed's ``di_container`` module: the container, re-exported from :mod:`.di`."""

from __future__ import annotations

from python_mastery_portfolio.di import DIContainer, LifecycleScope, Scope, ServiceProvider

__all__ = ["DIContainer", "LifecycleScope", "Scope", "ServiceProvider"]
