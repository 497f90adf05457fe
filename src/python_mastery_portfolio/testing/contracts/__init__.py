"""Contract suites: the behaviour every implementation of a store protocol must show.

Each suite is a test class to subclass with a factory of the implementation under test, as
trio's ``check_two_way_stream`` is for streams; our in-memory stores, the Redis backends and
users' own stores run the same assertions. The suites need pytest (a test-time dependency).

Suites:

* :mod:`.cache` -- ``CacheStoreContract`` (any :class:`~python_mastery_portfolio.CacheStore`,
  factory ``make_store()``) and ``CacheContract`` (a bounded TTL cache, ``make_cache()``);
* :mod:`.rate_limit` -- ``RateLimitStoreContract`` (any ``RateLimitStore``);
* :mod:`.breaker` -- ``BreakerStateStoreContract`` (any ``BreakerStateStore``).

Example (in a test module)::

    from python_mastery_portfolio.testing.contracts.cache import CacheStoreContract

    class TestMyStore(CacheStoreContract):
        def make_store(self):
            return MyStore()
"""
