"""Where each part keeps its keys in Redis: one key space per kind of part.

Every key starts with ``pmp:`` and then the kind of the part that owns it, so no operation of
one part can touch another part's keys, whatever namespaces they are given (a cache and a
rate limiter may both be called ``"users"``)::

    pmp:cache:<ns>:<key JSON>         a RedisCache / TieredCache entry (the cache's ttl)
    pmp:cache:<ns>:#stats             its hit and miss counters (a week idle)
    pmp:cache:<ns>:#flight:<key JSON> a TieredCache flight lock (lock_ttl)
    pmp:cache:<ns>:#invalidate        a TieredCache pub/sub channel (not a key)
    pmp:ratelimit:<ns>:<key JSON>     a rate-limit bucket (until it is full again)
    pmp:ratelimit:<ns>:#stats         its decision counters (a week idle)
    pmp:breaker:<ns>                  a circuit breaker's state (a week idle; kept while forced)
    pmp:lock:[<ns>:]<name>            a lock's holder token (the lock's ttl)
    pmp:fence:[<ns>:]<name>           a lock's fencing counter (never expires)

Within a kind, a part tells its own entries from a nested namespace's (``ns`` and
``ns:sub``) and from its counters by what follows the prefix: only JSON.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ROOT", "breaker_key", "cache_prefix", "lock_keys", "rate_limit_prefix"]

ROOT: Final = "pmp"
"""The first segment of every key and channel the Redis parts use."""


def cache_prefix(namespace: str) -> str:
    """Return the prefix of a cache namespace's keys (``pmp:cache:<ns>:``)."""
    return f"{ROOT}:cache:{namespace}:"


def rate_limit_prefix(namespace: str) -> str:
    """Return the prefix of a rate-limit namespace's keys (``pmp:ratelimit:<ns>:``)."""
    return f"{ROOT}:ratelimit:{namespace}:"


def breaker_key(namespace: str) -> str:
    """Return the key of a circuit breaker's state (``pmp:breaker:<ns>``)."""
    return f"{ROOT}:breaker:{namespace}"


def lock_keys(name: str, namespace: str | None) -> tuple[str, str]:
    """Return a lock's token key and its fencing counter's key.

    A namespace prefixes the name: the lock ``"b"`` in namespace ``"a"`` is the lock
    ``"a:b"``.
    """
    lock_id = name if namespace is None else f"{namespace}:{name}"
    return f"{ROOT}:lock:{lock_id}", f"{ROOT}:fence:{lock_id}"
