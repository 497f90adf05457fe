"""Class-level patterns: singleton, class logging, validated descriptors, registries."""

from __future__ import annotations

__all__: list[str] = []
