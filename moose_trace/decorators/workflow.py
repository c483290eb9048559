"""``traced_workflow`` and ``traced_task``: workflow runs and their tasks, with run ids and retries.

A workflow call is one run: it gets a ``workflow_run_id`` (its ``workflow_run_id`` / ``run_id``
argument when it has one, else a new id) that every task called inside it inherits, so
``moose-trace logs --filter workflow_run_id=…`` shows the whole run. Both log ``started`` and
their outcome; a task can retry, logging each failed attempt with its ``retry_count``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from ._kind import Kind
from .core import decorator

__all__ = ["traced_task", "traced_workflow"]

F = TypeVar("F", bound=Callable[..., Any])

WORKFLOW = Kind(
    type="workflow",
    layer="workflow",
    success_event="workflow completed",
    failure_event="workflow failed",
    start_event="workflow started",
    retry_event="workflow retrying",
    success_status="completed",
    run_id="new",
)
"""How workflow runs read in the logs."""

TASK = Kind(
    type="task",
    layer="workflow",
    success_event="task completed",
    failure_event="task failed",
    start_event="task started",
    retry_event="task retrying",
    run_id="inherit",
)
"""How tasks read in the logs."""


@overload
def traced_workflow(name: F, /) -> F: ...


@overload
def traced_workflow(
    name: str | None = None,
    *,
    layer: str | None = None,
    retries: int = 0,
    retry_backoff_ms: float = 0,
    slow_ms: float | None = None,
    **fields: Any,
) -> Callable[[F], F]: ...


def traced_workflow(
    name: Any = None,
    *,
    layer: str | None = None,
    retries: int = 0,
    retry_backoff_ms: float = 0,
    slow_ms: float | None = None,
    **fields: Any,
) -> Any:
    """Trace a workflow run: ``type=workflow``, ``layer=workflow``, a ``workflow_run_id``.

    Logs ``workflow started`` (``status=started``), then ``workflow completed``
    (``status=completed``, ``latency_ms``) or ``workflow failed`` at error. The run id is the
    call's ``workflow_run_id`` or ``run_id`` argument when the function has one, else new.
    ``retries``/``retry_backoff_ms`` rerun a failed run as ``traced`` describes; ``slow_ms``
    (off by default) logs a long run at warning. Works bare (``@traced_workflow``) too.
    """
    options = decorator(
        WORKFLOW,
        name=None if callable(name) else name,
        layer=layer,
        fields=fields,
        slow_ms=slow_ms,
        log_start=True,
        retries=retries,
        retry_backoff_ms=retry_backoff_ms,
    )
    return options(name) if callable(name) else options


@overload
def traced_task(name: F, /) -> F: ...


@overload
def traced_task(
    name: str | None = None,
    *,
    layer: str | None = None,
    retries: int = 0,
    retry_backoff_ms: float = 0,
    slow_ms: float | None = None,
    **fields: Any,
) -> Callable[[F], F]: ...


def traced_task(
    name: Any = None,
    *,
    layer: str | None = None,
    retries: int = 0,
    retry_backoff_ms: float = 0,
    slow_ms: float | None = None,
    **fields: Any,
) -> Any:
    """Trace a workflow task: ``type=task``, ``layer=workflow``, the run's ``workflow_run_id``.

    The run id is the call's ``workflow_run_id``/``run_id`` argument, else the enclosing
    workflow's. Logs ``task started``, then ``task completed`` (``status=success``) or ``task
    failed`` at error. With ``retries=n`` a failed attempt is retried up to ``n`` times after
    ``retry_backoff_ms``: each logs ``task retrying`` at warning with the error and the next
    ``retry_count``, which stays bound for the attempt's own lines. Works bare too.
    """
    options = decorator(
        TASK,
        name=None if callable(name) else name,
        layer=layer,
        fields=fields,
        slow_ms=slow_ms,
        log_start=True,
        retries=retries,
        retry_backoff_ms=retry_backoff_ms,
    )
    return options(name) if callable(name) else options
