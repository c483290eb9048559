"""Per-level log retention: one policy for the ClickHouse TTL and for pruning the file store.

Errors are kept longest because they are what an incident review reads weeks later; debug lines
are the bulk of the volume and the least useful after a day. The same ``RetentionPolicy`` renders
the ClickHouse table's TTL clause (``moose_trace.store.clickhouse.schema``) and decides which JSON
Lines lines ``moose-trace prune`` drops, so both stores forget the same events at the same age.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from moose_trace._record import record
from moose_trace.logging.levels import LEVEL_ALIASES, normalize_level

__all__ = [
    "DEFAULT_RETENTION",
    "LEVEL_ALIASES",
    "RetentionPolicy",
    "normalize_level",
    "parse_retention",
]


_DEFAULT_DAYS = MappingProxyType(
    {"critical": 30, "error": 30, "warning": 14, "info": 7, "debug": 1}
)


@record
class RetentionPolicy:
    """How many days events of each level are kept; levels not listed keep ``default_days``.

    ``default_days`` 0 (the default) means "as long as the longest listed level", so nothing is
    deleted earlier than an error would be just because its writer spelled its level differently.
    """

    days: Mapping[str, int] = _DEFAULT_DAYS
    default_days: int = 0

    def __post_init__(self) -> None:
        normalized: dict[str, int] = {}
        for level, days in self.days.items():
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise ValueError(f"retention for {level!r} must be a whole number of days ≥ 1")
            normalized[normalize_level(level)] = days
        if not normalized:
            raise ValueError("a retention policy needs at least one level")
        object.__setattr__(self, "days", MappingProxyType(normalized))
        if self.default_days == 0:
            object.__setattr__(self, "default_days", max(normalized.values()))
        elif self.default_days < 1:
            raise ValueError("default retention must be at least one day")

    @property
    def longest_days(self) -> int:
        """Return the longest retention in days: older data is gone whatever its level."""
        return max(self.default_days, *self.days.values())

    @property
    def shortest_days(self) -> int:
        """Return the shortest retention in days: younger data is kept whatever its level."""
        return min(self.default_days, *self.days.values())

    def days_for(self, level: object) -> int:
        """Return the days an event of ``level`` (any spelling) is kept."""
        return self.days.get(normalize_level(level), self.default_days)

    def is_expired(self, level: object, timestamp: datetime, now: datetime) -> bool:
        """Return whether an event of ``level`` written at ``timestamp`` has reached its end.

        The same moment ClickHouse's TTL deletes it: ``days`` after the timestamp's whole second
        (``toDateTime(timestamp) + INTERVAL days DAY``), and at that moment itself (a TTL is
        expired when it is ``<= now()``). An event exactly ``days`` old is gone in both stores.
        """
        whole_second = timestamp.replace(microsecond=0)
        return whole_second + timedelta(days=self.days_for(level)) <= now

    def levels_by_days(self) -> dict[int, tuple[str, ...]]:
        """Return the named levels grouped by their retention (for one TTL clause per group)."""
        groups: dict[int, list[str]] = {}
        for level, days in sorted(self.days.items()):
            groups.setdefault(days, []).append(level)
        return {days: tuple(levels) for days, levels in sorted(groups.items())}

    def describe(self) -> str:
        """Return the policy in the ``parse_retention`` syntax, e.g. ``error=30d,info=7d,*=30d``."""
        named = ",".join(f"{level}={days}d" for level, days in sorted(self.days.items()))
        return f"{named},*={self.default_days}d"


DEFAULT_RETENTION = RetentionPolicy()
"""Errors and critical 30 days, warnings 14, info 7, debug 1; other levels 30."""

_ITEM = re.compile(r"\s*(\*|[A-Za-z]+)\s*=\s*(\d+)\s*d?\s*")


def parse_retention(text: str) -> RetentionPolicy:
    """Parse ``error=30d,warning=14d,info=7d,debug=1d[,*=30d]`` into a policy.

    Levels not given keep their default; ``*`` sets the days for levels the policy does not name.
    Raises ``ValueError`` naming the bad item.
    """
    days = dict(DEFAULT_RETENTION.days)
    default_days = 0
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if match is None or int(match.group(2)) < 1:
            raise ValueError(
                f"bad retention item {item.strip()!r}: expected LEVEL=DAYSd with DAYS ≥ 1, "
                "e.g. error=30d"
            )
        level, count = match.group(1), int(match.group(2))
        if level == "*":
            default_days = count
        else:
            days[normalize_level(level)] = count
    return RetentionPolicy(days=days, default_days=default_days)


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC (the zone every log timestamp is in)."""
    return datetime.now(timezone.utc)
