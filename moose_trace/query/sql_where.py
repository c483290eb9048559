"""Conditions and fields in SQL: the part of the compiler every answer shares.

The relation exposes one text column per normalized field the query uses (named by the field,
holding the value's text as ``normalize.value_text`` spells it), ``_bad`` (the line is not a log
event: counted, never matched) and, when a condition searches the line, ``_raw`` (its JSON).
Conditions compile to expressions that are never NULL, so ``NOT`` means what the Python
predicate means.
"""

from __future__ import annotations

from collections.abc import Iterable

from moose_trace.query.ast import (
    AllOf,
    Condition,
    Match,
    Not,
    NumberCompare,
    Query,
    Search,
    TimeRange,
    TraceIs,
    Value,
    searches_the_line,
)
from moose_trace.query.normalize import FALSY_TEXTS, datetime_us
from moose_trace.query.sql_dialect import SqlDialect

__all__ = ["WhereCompiler", "condition_fields"]


def condition_fields(condition: Condition) -> set[str]:
    """Return the normalized fields ``condition`` reads."""
    if isinstance(condition, (Match, NumberCompare)):
        return {condition.field}
    if isinstance(condition, TimeRange):
        return {"timestamp"}
    if isinstance(condition, TraceIs):
        return {"trace_id", "trace_ids"}
    if isinstance(condition, Search):
        return set()
    if isinstance(condition, Not):
        return condition_fields(condition.item)
    return set().union(*(condition_fields(item) for item in condition.items))


class WhereCompiler:
    """Fields and conditions of the AST as SQL expressions in one dialect."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect

    def column(self, field: str) -> str:
        """Return the relation column of a normalized field."""
        return self.dialect.quote(field)

    def timestamp(self) -> str:
        """Return the event time in microseconds since the epoch (NULL when unreadable)."""
        return self.dialect.timestamp_us(self.column("timestamp"))

    def number(self, field: str) -> str:
        """Return a field's value as a number (NULL when it is none)."""
        return self.dialect.to_number(self.column(field))

    def _truthy(self, expr: str) -> str:
        falsy = ", ".join(self.dialect.literal(text) for text in sorted(FALSY_TEXTS))
        number = self.dialect.to_number(expr)
        return f"coalesce(lower({expr}) NOT IN ({falsy}) AND coalesce({number} <> 0, true), false)"

    def _value(self, expr: str, value: Value) -> str:
        d = self.dialect
        if value.kind == "bool":
            truthy = self._truthy(expr)
            return truthy if value.text == "true" else f"NOT {truthy}"
        if value.kind == "glob":
            return f"coalesce({d.glob(expr, value.text)}, false)"
        if value.kind == "number":
            number = d.to_number(expr)
            return (
                f"coalesce({expr} = {d.literal(value.text)} "
                f"OR {number} = {d.number(value.number)}, false)"
            )
        return f"coalesce({expr} = {d.literal(value.text)}, false)"

    def where(self, condition: Condition) -> str:
        """Return ``condition`` as a boolean SQL expression that is never NULL."""
        d = self.dialect
        if isinstance(condition, Match):
            column = self.column(condition.field)
            tests = " OR ".join(self._value(column, value) for value in condition.values)
            return f"NOT ({tests})" if condition.negate else f"({tests})"
        if isinstance(condition, NumberCompare):
            bound = d.number(condition.number)
            return f"coalesce({self.number(condition.field)} {condition.op} {bound}, false)"
        if isinstance(condition, TimeRange):
            parts = []
            if condition.start is not None:
                parts.append(f"{self.timestamp()} >= {datetime_us(condition.start)}")
            if condition.end is not None:
                parts.append(f"{self.timestamp()} < {datetime_us(condition.end)}")
            readable = f"{self.timestamp()} IS NOT NULL"
            return f"coalesce({' AND '.join(parts) or readable}, false)"
        if isinstance(condition, TraceIs):
            hexes = ", ".join(d.literal(value) for value in condition.trace_ids)
            own = f"coalesce({d.trace_hex(self.column('trace_id'))} IN ({hexes}), false)"
            listed = d.trace_list_has(self.column("trace_ids"), condition.trace_ids)
            return f"({own} OR coalesce({listed}, false))"
        if isinstance(condition, Search):
            return d.contains_lowered("_raw", condition.needle)
        if isinstance(condition, Not):
            return f"NOT {self.where(condition.item)}"
        if not condition.items:
            return "true" if isinstance(condition, AllOf) else "false"
        joiner = " AND " if isinstance(condition, AllOf) else " OR "
        return "(" + joiner.join(self.where(item) for item in condition.items) + ")"

    def relation(self, query: Query, fields: Iterable[str], *, raw: bool = False) -> str:
        """Return the dialect's relation with the columns ``query`` and ``fields`` read."""
        wanted = sorted(condition_fields(query.where) | set(fields))
        return self.dialect.relation(wanted, raw=raw or searches_the_line(query.where))
