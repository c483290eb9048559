"""The query tool's errors: bad input (``QueryError``), an engine that failed (``EngineError``).

``EngineError`` is defined with the stores (``moose_trace.store.exceptions``), which raise it too.
"""

from __future__ import annotations

from moose_trace.store.exceptions import EngineError

__all__ = ["EngineError", "QueryError"]


class QueryError(ValueError):
    """A filter, duration, option or source the user gave cannot be used.

    The message names the bad token and what was expected; the command line prints it and
    exits with status 2, without a traceback.
    """
