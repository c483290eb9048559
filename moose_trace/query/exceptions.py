"""The one error a query raises for bad input: it names the bad token and what was expected."""

from __future__ import annotations

__all__ = ["EngineError", "QueryError"]


class QueryError(ValueError):
    """A filter, duration, option or source the user gave cannot be used.

    The message names the bad token and what was expected; the command line prints it and
    exits with status 2, without a traceback.
    """


class EngineError(RuntimeError):
    """An engine could not answer (a file unreadable mid-scan, the database failed).

    The command line prints the message and exits with status 1.
    """
