"""Decorators that trace a function's calls: ``traced`` and its presets for each primitive.

| decorator | ``type`` | default ``layer`` |
| --- | --- | --- |
| ``traced(type, name, layer)`` | yours | yours |
| ``traced_transform`` | ``transform`` | ``streaming`` |
| ``traced_sync(table)`` | ``olap_table`` | ``sync`` |
| ``traced_api`` | ``api`` | ``webserver`` |
| ``traced_workflow`` / ``traced_task`` | ``workflow`` / ``task`` | ``workflow`` |

See docs/decorators.md for the log lines each leaves.
"""

from __future__ import annotations

from moose_trace.decorators.dead_letters import DeadLetterSink

from ._plan import DEFAULT_MAX_TRACE_IDS, DEFAULT_SLOW_MS
from .api import traced_api
from .core import traced
from .sync import traced_sync
from .transform import traced_transform
from .workflow import traced_task, traced_workflow

__all__ = [
    "DEFAULT_MAX_TRACE_IDS",
    "DEFAULT_SLOW_MS",
    "DeadLetterSink",
    "traced",
    "traced_api",
    "traced_sync",
    "traced_task",
    "traced_transform",
    "traced_workflow",
]
