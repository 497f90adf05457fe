"""The retried calls: the wrappers :func:`wrap_callable` builds and their retry loops."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from python_mastery_portfolio._internal.callables import is_async_callable, qualified_name
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.retrying._engine import Policy, Run
from python_mastery_portfolio.retrying._options import RetryState
from python_mastery_portfolio.retrying._stats import Statistics

__all__ = ["wrap_callable"]

# Tools that introspect defaults (as tenacity users rely on) read them off the wrapper too.
_ASSIGNED = (*functools.WRAPPER_ASSIGNMENTS, "__defaults__", "__kwdefaults__")


def _retry_sync(
    run: Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
) -> Any:
    """Wait, then attempt again until success or until ``run`` gives up."""
    sleep = run.policy.clock.sleep
    check = run.policy.check
    before = run.policy.before
    succeeded = False
    try:
        while True:
            if wait:
                try:
                    sleep(wait)
                except BaseException:
                    run.abandon(wait)  # cancelled: the attempt it led to never started
                    raise
            if before is not None:
                run.call_before(wait)
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                next_wait = run.after_error(error)
                if next_wait is None:
                    if run.final is not None and run.policy.rescues:
                        return run.rescue()
                    raise
                wait = next_wait
            else:
                if check is None or not check(result):
                    succeeded = True
                    return result
                next_wait = run.after_result(result)
                if next_wait is None:
                    return run.rescue()
                wait = next_wait
    finally:
        # The run failed at least once to get here, so it always counts (finish(), inlined).
        run.stats.add(run.attempt, run.waited, run.final is not None)
        if HOOKS.active:
            run.report(succeeded=succeeded)


async def _retry_async(
    run: Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
) -> Any:
    """Wait, then attempt again until success or until ``run`` gives up (coroutine form)."""
    asleep = run.policy.clock.asleep
    check = run.policy.check
    before = run.policy.before
    succeeded = False
    try:
        while True:
            if wait:
                try:
                    await asleep(wait)
                except BaseException:
                    run.abandon(wait)  # cancelled: the attempt it led to never started
                    raise
            if before is not None:
                run.call_before(wait)
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                next_wait = run.after_error(error)
                if next_wait is None:
                    if run.final is not None and run.policy.rescues:
                        return await _arescue(run)
                    raise
                wait = next_wait
            else:
                if check is None or not check(result):
                    succeeded = True
                    return result
                next_wait = run.after_result(result)
                if next_wait is None:
                    return await _arescue(run)
                wait = next_wait
    finally:
        # The run failed at least once to get here, so it always counts (finish(), inlined).
        run.stats.add(run.attempt, run.waited, run.final is not None)
        if HOOKS.active:
            run.report(succeeded=succeeded)


async def _arescue(run: Run) -> Any:
    """Return the fallback of a coroutine function's run, awaited when it is awaitable."""
    value = run.rescue()
    if inspect.isawaitable(value):
        return await value
    return value


def wrap_callable(func: Callable[..., Any], policy: Policy) -> Any:
    """Return ``func`` wrapped in ``policy``: a coroutine function stays a coroutine function.

    The first attempt runs inline; the loop (and every allocation) waits for a failure. The
    loop starts outside the ``except`` clause, so later errors do not chain to the first one.
    Without ``retry_on_result``, ``deadline``, hooks and a callable fallback the wrapper is a
    bare ``try`` around the call: no clock reading, no result check, no counting. The
    wrapper's ``statistics`` counts what the failure path does.

    Raises:
        TypeError: If ``func`` is a plain function and the fallback a coroutine function
            (its result could never be awaited).
    """
    name = qualified_name(func)
    stats = Statistics()
    if is_async_callable(func):
        if policy.check is None and not policy.timed:
            wrapper = _async_plain(func, policy, name, stats)
        else:
            wrapper = _async_full(func, policy, name, stats)
    else:
        if policy.rescues and is_async_callable(policy.fallback):
            raise TypeError(
                f"fallback must not be a coroutine function for {name}, which is not one: "
                f"nothing would await it, got {policy.fallback!r}"
            )
        if policy.check is None and not policy.timed:
            wrapper = _sync_plain(func, policy, name, stats)
        else:
            wrapper = _sync_full(func, policy, name, stats)
    wrapper.statistics = stats
    return wrapper


def _sync_plain(func: Callable[..., Any], policy: Policy, name: str, stats: Statistics) -> Any:
    @functools.wraps(func, _ASSIGNED)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, 0.0, stats)
            wait = run.after_error(error)
            if wait is None:
                run.finish()
                if run.final is not None and policy.rescues:
                    return run.rescue()
                raise
        return _retry_sync(run, func, args, kwargs, wait)

    return wrapper


def _sync_full(func: Callable[..., Any], policy: Policy, name: str, stats: Statistics) -> Any:
    now = policy.now
    check = policy.check
    before = policy.before

    @functools.wraps(func, _ASSIGNED)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = now()
        if before is not None:
            before(RetryState(1, 0.0, None, None, 0.0))
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, start, stats)
            wait = run.after_error(error)
            if wait is None:
                run.finish()
                if run.final is not None and policy.rescues:
                    return run.rescue()
                raise
        else:
            if check is None or not check(result):
                return result
            run = Run(policy, name, start, stats)
            try:
                wait = run.after_result(result)
            except BaseException:
                run.finish()  # given up, or a hook raised: the loop never starts
                raise
            if wait is None:
                run.finish()
                return run.rescue()
        return _retry_sync(run, func, args, kwargs, wait)

    return wrapper


def _async_plain(func: Callable[..., Any], policy: Policy, name: str, stats: Statistics) -> Any:
    @functools.wraps(func, _ASSIGNED)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, 0.0, stats)
            wait = run.after_error(error)
            if wait is None:
                run.finish()
                if run.final is not None and policy.rescues:
                    return await _arescue(run)
                raise
        return await _retry_async(run, func, args, kwargs, wait)

    return wrapper


def _async_full(func: Callable[..., Any], policy: Policy, name: str, stats: Statistics) -> Any:
    now = policy.now
    check = policy.check
    before = policy.before

    @functools.wraps(func, _ASSIGNED)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = now()
        if before is not None:
            before(RetryState(1, 0.0, None, None, 0.0))
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, start, stats)
            wait = run.after_error(error)
            if wait is None:
                run.finish()
                if run.final is not None and policy.rescues:
                    return await _arescue(run)
                raise
        else:
            if check is None or not check(result):
                return result
            run = Run(policy, name, start, stats)
            try:
                wait = run.after_result(result)
            except BaseException:
                run.finish()  # given up, or a hook raised: the loop never starts
                raise
            if wait is None:
                run.finish()
                return await _arescue(run)
        return await _retry_async(run, func, args, kwargs, wait)

    return wrapper
