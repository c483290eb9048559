"""The wrapper around a decorated function: one for plain functions, one for coroutines.

Both do the same four steps: start a ``Call``, run the function (again after a failure the plan
retries, waiting its backoff), and end the call with ``succeeded`` or ``failed``; a failure the
dead-letter sink took returns ``None``, any other is re-raised. The wrapper keeps the function's
name, docstring, signature and coroutine-ness.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from ._call import Call
from ._plan import Plan

__all__ = ["wrap"]


def wrap(fn: Any, plan_for: Callable[[Callable[..., Any]], Plan]) -> Any:
    """Return ``fn`` traced by the plan ``plan_for(fn)`` makes; see ``traced``."""
    if isinstance(fn, (classmethod, staticmethod)):
        return type(fn)(wrap(fn.__func__, plan_for))
    if not callable(fn):
        raise TypeError(f"traced decorators wrap functions, got {fn!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is a generator: trace the function that "
            "handles one item (or one batch) instead"
        )
    plan = plan_for(fn)
    if inspect.iscoroutinefunction(fn):
        return _async_wrapper(fn, plan)
    return _sync_wrapper(fn, plan)


def _sync_wrapper(fn: Callable[..., Any], plan: Plan) -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced_call(*args: Any, **kwargs: Any) -> Any:
        call = Call(plan, args, kwargs)
        while True:
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                delay = call.retry_delay(error)
                if delay is None:
                    if call.failed(error):
                        return None
                    raise
                if delay:
                    time.sleep(delay)
                continue
            call.succeeded(result)
            return result

    return traced_call


def _async_wrapper(fn: Callable[..., Any], plan: Plan) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced_call(*args: Any, **kwargs: Any) -> Any:
        call = Call(plan, args, kwargs)
        while True:
            try:
                result = await fn(*args, **kwargs)
            except BaseException as error:
                delay = call.retry_delay(error)
                if delay is None:
                    if call.failed(error):
                        return None
                    raise
                if delay:
                    await asyncio.sleep(delay)
                continue
            call.succeeded(result)
            return result

    return traced_call
