"""How the ClickHouse writer reports its own trouble without feeding it back into a sink.

The writer warns through the stdlib logger ``moose_trace.clickhouse``. A thread that is one of
the writer's own workers, or any thread while it reports the writer's trouble, is *quiet*: a
sink drops what it logs (every other handler still gets it), so a failing sink cannot fill
itself with reports of its failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QUIET", "logger", "quiet", "warn"]

logger = logging.getLogger("moose_trace.clickhouse")

QUIET = threading.local()
"""``QUIET.on`` is true in a thread whose log records must not enter a sink (read with
``getattr(QUIET, "on", False)``: a thread starts without the attribute)."""


@contextmanager
def quiet() -> Iterator[None]:
    """Make the current thread quiet for the block (nested blocks keep the outer state)."""
    previous = getattr(QUIET, "on", False)
    QUIET.on = True
    try:
        yield
    finally:
        QUIET.on = previous


def warn(message: str, *args: object) -> None:
    """Log a warning about the writer, keeping it out of every sink."""
    with quiet():
        logger.warning(message, *args)
