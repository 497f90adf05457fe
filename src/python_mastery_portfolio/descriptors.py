"""The seed's ``descriptors`` module: :class:`CachedProperty`, re-exported from :mod:`.caching`."""

from __future__ import annotations

from python_mastery_portfolio.caching import CachedProperty

__all__ = ["CachedProperty"]
