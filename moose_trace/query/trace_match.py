"""Whether an event belongs to one of some traces: by its ``trace_id``, or a batch line's
``trace_ids`` (any spelling of an id: case, hyphens)."""

from __future__ import annotations

from moose_trace.query.normalize import trace_hex, value_text

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from typing import Any

__all__ = ["trace_matcher"]


def trace_matcher(trace_ids: Collection[str]) -> Callable[[Mapping[str, Any]], bool]:
    """Return a test of events for the traces ``trace_ids`` (32 lowercase hex digits each)."""
    wanted = frozenset(trace_ids)

    def check(event: Mapping[str, Any]) -> bool:
        own = value_text(event.get("trace_id"))
        if own is not None and trace_hex(own) in wanted:
            return True
        listed = event.get("trace_ids")
        if not isinstance(listed, list):
            return False
        return any(
            (text := value_text(item)) is not None and trace_hex(text) in wanted for item in listed
        )

    return check
