"""``SqlDialect``: what differs between the SQL engines, behind one small interface.

Where the events come from (``relation``: DuckDB reads JSON Lines files in place, ClickHouse a
table) and the few functions whose spelling differs (glob match, number and timestamp parsing,
quantiles, …). ``SqlCompiler`` writes everything else once for every engine.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

__all__ = ["SqlDialect"]


class SqlDialect(ABC):
    """What one SQL engine spells its own way; the compiler writes everything else."""

    def quote(self, name: str) -> str:
        """Return ``name`` as a quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        """Return ``text`` as a string literal."""
        return "'" + text.replace("'", "''") + "'"

    def number(self, value: float) -> str:
        """Return a number literal (integral values without a fraction)."""
        if not math.isfinite(value):
            return f"CAST({self.literal(repr(value))} AS DOUBLE)"
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)

    @abstractmethod
    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return a FROM item with a text column per field, ``_bad``, and ``_raw`` if asked."""

    @abstractmethod
    def glob(self, expr: str, pattern: str) -> str:
        """Return whether ``expr`` matches the glob ``pattern`` (``*`` any run, ``?`` one char)."""

    @abstractmethod
    def to_number(self, expr: str) -> str:
        """Return ``expr``'s number when its text is in JSON number syntax, else NULL."""

    @abstractmethod
    def timestamp_us(self, expr: str) -> str:
        """Return microseconds since the epoch for a timestamp text (``normalize.timestamp_us``)."""

    @abstractmethod
    def trace_list_has(self, expr: str, hexes: Sequence[str]) -> str:
        """Return whether the JSON array text ``expr`` lists one of the trace ids ``hexes``."""

    @abstractmethod
    def quantile(self, expr: str, fraction: float) -> str:
        """Return the ``fraction`` quantile of ``expr``, linearly interpolated."""

    def quantiles(self, expr: str, fractions: Sequence[float], condition: str) -> list[str]:
        """Return one aggregate per fraction: ``expr``'s quantile over rows where ``condition``
        holds (a dialect that computes several at once from one sort overrides this)."""
        return [f"{self.quantile(expr, q)} FILTER (WHERE {condition})" for q in fractions]

    @abstractmethod
    def arg_max(self, arg: str, value: str) -> str:
        """Return ``arg`` of the row with the largest ``value``, among rows where both are set."""

    def int_div(self, expr: str, divisor: int) -> str:
        """Return the integer quotient of ``expr`` by ``divisor``."""
        return f"{expr} // {divisor}"

    def contains_lowered(self, expr: str, needle: str) -> str:
        """Return whether lowercased ``expr`` contains ``needle`` (already lowercase)."""
        return f"coalesce(strpos(lower({expr}), {self.literal(needle)}) > 0, false)"

    def trace_hex(self, expr: str) -> str:
        """Return a trace id's text lowercased without hyphens (``normalize.trace_hex``)."""
        return f"lower(replace({expr}, '-', ''))"

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return a statement whose one row holds the ``limit`` latest matching ``_raw`` values.

        Row: (list of raw JSON texts, latest first; count of ``_bad`` lines). Events without a
        readable timestamp count as the oldest; ties go by the raw text. This generic form
        reads the relation twice; a dialect with a top-N aggregate does it in one scan.
        """
        timestamp = self.timestamp_us(self.quote("timestamp"))
        return (
            f"SELECT (SELECT list(_raw) FROM (SELECT _raw FROM {relation} "
            f"WHERE NOT _bad AND ({where}) ORDER BY {timestamp} DESC NULLS LAST, _raw DESC "
            f"LIMIT {limit})), (SELECT count(*) FROM {relation} WHERE _bad)"
        )
