"""What the sink does when ClickHouse refuses a batch: store every line it can, set aside the rest.

Bad data must never block the queue. A refusal with a permanent error code (the rows are wrong)
is narrowed down: lines that are not one JSON object each are found locally, any other by
splitting the batch in halves until each refused line is alone. Each part is inserted with a
token derived from its batch's (``<token>.v``, then ``0``/``1`` per half), so a retry after a
crash stores every part once. A transient failure is raised: the whole batch is retried later.
"""

from __future__ import annotations

from collections.abc import Callable

from moose_trace._text import safe_str
from moose_trace.store.clickhouse.lines import count_lines, is_event_line
from moose_trace.store.clickhouse.transport import ClickHouseError

__all__ = ["UNKNOWN_CODE_ATTEMPTS", "Insert", "SetAside", "store_batch"]

UNKNOWN_CODE_ATTEMPTS = 5
"""A server error code in neither list of the transport is retried this often, then the batch
is treated as refused: an unknown error must not block the queue forever."""

Insert = Callable[[bytes, str], None]
"""Inserts JSON Lines with a deduplication token; raises ``ClickHouseError``."""
SetAside = Callable[[str, list[bytes], str], None]
"""Keeps refused lines (token, lines, reason) where a person can look at them."""


def store_batch(
    data: bytes,
    token: str,
    *,
    spooled: bool,
    failed_before: int,
    insert: Insert,
    set_aside: SetAside,
) -> int:
    """Insert a batch; on a refusal, store what can be stored and set the rest aside.

    Returns how many events were stored. A transient failure propagates (the whole batch is
    retried later; the deterministic tokens of its parts make the retry store them once). A
    spooled batch (a write-ahead segment, a file of an earlier run) is checked line by line
    first: lines that are not one JSON object each never reach the server. ``failed_before``:
    how often this batch already failed with an error code of unknown meaning.
    """
    if spooled:
        lines = data.split(b"\n")
        good = [line for line in lines if is_event_line(line)]
        if len(good) < len(lines):
            bad = [line for line in lines if not is_event_line(line)]
            set_aside(token, bad, "not one JSON object each")
            return _store_parts(good, f"{token}.v", "refused", insert, set_aside)
    try:
        insert(data, token)
        return count_lines(data)
    except ClickHouseError as failure:
        refused = failure.permanent or (
            not failure.transient and failed_before + 1 >= UNKNOWN_CODE_ATTEMPTS
        )
        if not refused:
            raise
        reason = safe_str(failure)
    lines = data.split(b"\n")
    good = [line for line in lines if is_event_line(line)]
    if len(good) < len(lines):
        set_aside(token, [line for line in lines if not is_event_line(line)], reason)
    return _store_parts(good, f"{token}.v", reason, insert, set_aside)


def _store_parts(
    lines: list[bytes], token: str, reason: str, insert: Insert, set_aside: SetAside
) -> int:
    """Insert ``lines``; on a refusal split them in halves until the refused lines are alone."""
    if not lines:
        return 0
    try:
        insert(b"\n".join(lines), token)
        return len(lines)
    except ClickHouseError as failure:
        if failure.transient:
            raise
        if len(lines) == 1:
            set_aside(token, lines, safe_str(failure))
            return 0
    half = len(lines) // 2
    return _store_parts(lines[:half], f"{token}0", reason, insert, set_aside) + _store_parts(
        lines[half:], f"{token}1", reason, insert, set_aside
    )
