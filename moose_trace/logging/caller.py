"""Where in the code a log line was written: ``file``, ``line``, ``function`` (opt-in).

``configure_logging(caller=True)`` adds ``add_caller_location`` to the chain. It walks up the
stack from the processor to the first frame outside the logging machinery (structlog, the
stdlib ``logging`` module, moose-trace's own logging modules), so a ``log.info(...)`` in your
code and a ``logging.getLogger(__name__).warning(...)`` in a library both name their caller.
It costs a stack walk per line (see docs/benchmarks.md), which is why it is off by default.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from types import FrameType
from typing import Any

__all__ = ["CALLER_FIELDS", "add_caller_location"]

CALLER_FIELDS = ("file", "line", "function")
"""The fields ``add_caller_location`` sets."""

# Modules whose frames are the logging machinery, not the code that logs.
_MACHINERY = (
    "structlog",
    "logging",
    "moose_trace.logging.config",
    "moose_trace.logging.processors",
)
_MACHINERY_PREFIXES = tuple(f"{name}." for name in _MACHINERY)
_MACHINERY_EXACT = frozenset(_MACHINERY) | {
    "moose_trace.logging._outputs",
    "moose_trace.logging.caller",
    "moose_trace.logging._bound_logger",  # the structlog wrapper_class and the compiled line
    "moose_trace.logging._fast_line",
}
_MAX_DEPTH = 64
_getframe = sys._getframe


def _is_machinery(module: str) -> bool:
    return module in _MACHINERY_EXACT or module.startswith(_MACHINERY_PREFIXES)


def add_caller_location(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Set ``file``, ``line`` and ``function`` of the code that logged (fields it has win)."""
    if "file" in event_dict:
        return event_dict
    frame: FrameType | None = _getframe(1)
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        module = frame.f_globals.get("__name__", "")
        if not _is_machinery(module):
            code = frame.f_code
            event_dict["file"] = code.co_filename
            event_dict["line"] = frame.f_lineno
            event_dict["function"] = getattr(code, "co_qualname", code.co_name)  # 3.11+
            return event_dict
        frame = frame.f_back
        depth += 1
    return event_dict
