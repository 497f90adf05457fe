"""The seed's ``di_container`` module: the container, re-exported from :mod:`.di`."""

from __future__ import annotations

from python_mastery_portfolio.di import (
    ContainerStats,
    DIContainer,
    LifecycleScope,
    Scope,
    ServiceProvider,
)

__all__ = ["ContainerStats", "DIContainer", "LifecycleScope", "Scope", "ServiceProvider"]
