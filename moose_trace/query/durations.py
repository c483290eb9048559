"""Times as people type them: durations (``30s 10m 24h 7d 2w``), instants and time windows.

``--since 1h`` means one hour back from now; ``--until 2026-01-09T10:00:00Z`` an ISO 8601
instant; ``--compare before=2d-1d`` the window from two days ago to one day ago. Every parser
raises ``QueryError`` naming the bad text and the forms it accepts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from moose_trace.query.exceptions import QueryError
from moose_trace.query.normalize import timestamp_us, us_datetime

__all__ = ["MAX_DURATION", "parse_duration", "parse_instant", "parse_range"]

MAX_DURATION = timedelta(days=36_525)
"""The longest duration accepted (100 years): longer ones are typing mistakes."""

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = r"\d+(?:\.\d+)?[smhdw]"
_DURATION = re.compile(f"(?:{_PART})+")
_PARTS = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_RELATIVE = f"(?:now|{_PART}(?:{_PART})*)"
_RELATIVE_RANGE = re.compile(f"({_RELATIVE})-({_RELATIVE})")
_DURATION_HELP = "a number and a unit s, m, h, d or w (e.g. 30s, 10m, 24h, 7d, 2w, 1h30m)"
_INSTANT_HELP = f"{_DURATION_HELP} back from now, 'now', or an ISO 8601 time (2026-01-09T10:00:00Z)"


def parse_duration(text: str) -> timedelta:
    """Return the length ``text`` spells: ``30s``, ``10m``, ``24h``, ``7d``, ``2w``, ``1h30m``."""
    cleaned = text.strip().lower()
    if _DURATION.fullmatch(cleaned) is None:
        raise QueryError(f"bad duration {text!r}: expected {_DURATION_HELP}")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PARTS.findall(cleaned))
    if seconds <= 0:
        raise QueryError(f"bad duration {text!r}: it must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise QueryError(f"bad duration {text!r}: expected at most {MAX_DURATION.days:,}d")
    return timedelta(seconds=seconds)


def parse_instant(text: str, now: datetime) -> datetime:
    """Return the moment ``text`` names: a duration back from ``now``, ``now``, or ISO 8601.

    An ISO time without a zone is UTC; a bare date is its midnight UTC.
    """
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    if _DURATION.fullmatch(cleaned.lower()) is not None:
        duration = parse_duration(cleaned)
        try:
            return now - duration
        except OverflowError:
            raise QueryError(f"bad time {text!r}: that is before the year 1") from None
    micros = timestamp_us(cleaned)
    if micros is None:
        raise QueryError(f"bad time {text!r}: expected {_INSTANT_HELP}")
    return us_datetime(micros)


def parse_range(text: str, now: datetime) -> tuple[datetime, datetime]:
    """Return the window ``[start, end)`` that ``text`` names: ``2d-1d``, ``1d-now``, ``A..B``.

    ``A..B`` takes any two instants (ISO times included); ``A-B`` takes durations and ``now``.
    """
    cleaned = text.strip()
    if ".." in cleaned:
        first, _, second = cleaned.partition("..")
    else:
        relative = _RELATIVE_RANGE.fullmatch(cleaned.lower())
        if relative is None:
            raise QueryError(
                f"bad time window {text!r}: expected START-END with durations or 'now' "
                "(2d-1d, 1d-now) or START..END with any times (2026-01-08..2026-01-09)"
            )
        first, second = relative.groups()
    start, end = parse_instant(first, now), parse_instant(second, now)
    if end <= start:
        raise QueryError(f"bad time window {text!r}: its end must come after its start")
    return start, end
