"""Contract suites: the behaviour every implementation of a store protocol must show.

Each suite is a test class to subclass with a factory of the implementation under test, as
trio's ``check_two_way_stream`` is for streams; our in-memory stores, the Redis backends and
users' own stores run the same assertions. The suites need pytest (a test-time dependency).
"""
