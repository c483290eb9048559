"""The one error the demo reports to its user: what went wrong and the command that fixes it."""

from __future__ import annotations

__all__ = ["DemoError"]


class DemoError(Exception):
    """The demo cannot start or run; the message says why and what to do (no traceback).

    ``moose-trace demo`` prints the message and exits with status 2 for a problem the user can
    fix (a missing extra or binary, a port in use) and 1 for a failure along the way.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
