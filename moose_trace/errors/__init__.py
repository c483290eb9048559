"""Errors: the taxonomy that names what went wrong, and the signature that groups alike failures.

``categories`` sorts an exception into an ``error_category`` and gives the error fields of a log
event; ``signature`` hashes a message into a stable ``error_signature``. The rules behind the
categories live in ``_rules``. This package re-exports the public names of both.
"""

from __future__ import annotations

# Each module's ``__all__`` is the one list of its public names; this package re-exports them
# without writing them again.
from moose_trace.errors import categories, signature
from moose_trace.errors.categories import *  # noqa: F403
from moose_trace.errors.signature import *  # noqa: F403

__all__: list[str] = []
__all__ += categories.__all__
__all__ += signature.__all__
