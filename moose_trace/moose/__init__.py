"""Moose integration: the trace id through Moose's own Python streaming runner.

``moose_trace.moose.instrument()`` in a Moose project's ``app/main.py``, and records are handled
inside their trace, outputs and dead letters carry their input's ``trace_id`` and
``traceparent`` headers, and Moose's own log lines carry ``trace_id`` (docs/moose.md).
Importing this package imports neither moose-lib nor kafka-python; ``instrument()`` does.
"""

from __future__ import annotations

from moose_trace.moose._producer_hooks import OUTPUTS_SENT_EVENT
from moose_trace.moose._record_traces import MISSING_TRACE_EVENT
from moose_trace.moose._state import HOOK_FAILED_EVENT
from moose_trace.moose.instrument import (
    PURE_PYTHON_CRC_EVENT,
    SUPPORTED_MOOSE_LIB,
    MooseInstrumentationWarning,
    instrument,
    is_instrumented,
    uninstrument,
)

__all__ = [
    "HOOK_FAILED_EVENT",
    "MISSING_TRACE_EVENT",
    "OUTPUTS_SENT_EVENT",
    "PURE_PYTHON_CRC_EVENT",
    "SUPPORTED_MOOSE_LIB",
    "MooseInstrumentationWarning",
    "instrument",
    "is_instrumented",
    "uninstrument",
]
