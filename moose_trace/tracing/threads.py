"""The trace context in worker threads: a wrapper and an executor that carry it over.

A new thread starts with empty contextvars, so ``ThreadPoolExecutor.submit``/``map`` and
``loop.run_in_executor`` lose the trace id, the bound fields, the OpenTelemetry span and the
incoming ``tracestate``/baggage (``asyncio.to_thread`` already copies them). ``carry_context(fn)``
returns ``fn`` bound to a copy of the caller's context; ``ContextThreadPoolExecutor`` is a
``ThreadPoolExecutor`` whose ``submit`` (and so ``map`` and ``run_in_executor``) runs each call
in a copy of the submitting code's context. Each call gets its own copy: what a worker binds
stays in that worker's call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from moose_trace.tracing.context import context_snapshot

__all__ = ["ContextThreadPoolExecutor", "carry_context"]

P = ParamSpec("P")
R = TypeVar("R")


def carry_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Return ``fn`` bound to a copy of the current context (taken now, used at each call).

    ``executor.submit(carry_context(work), item)``, ``threading.Thread(target=carry_context(f))``.
    Each call runs in its own copy of that snapshot, so calls from several threads never share
    the variables they set.
    """
    snapshot = context_snapshot()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return snapshot.copy().run(fn, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` that runs each call in the context of the code that submitted it.

    A drop-in replacement: ``map``, ``submit`` and ``loop.run_in_executor(executor, ...)`` (or
    ``loop.set_default_executor(ContextThreadPoolExecutor())`` for ``run_in_executor(None, …)``)
    keep the trace id, fields and OpenTelemetry span of the caller.
    """

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        """Schedule ``fn(*args, **kwargs)`` in a copy of the current context."""
        return super().submit(context_snapshot().run, fn, *args, **kwargs)
