"""The error a store raises when it cannot answer: defined here so the writer needs no query code.

``moose_trace.query.exceptions`` re-exports it: the query engines raise it too (a file
unreadable mid-scan), and the commands catch it there as one type for every store.
"""

from __future__ import annotations

__all__ = ["EngineError"]


class EngineError(RuntimeError):
    """An engine could not answer (a file unreadable mid-scan, the database failed).

    The command line prints the message and exits with status 1.
    """
