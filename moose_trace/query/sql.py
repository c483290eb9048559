"""The query AST compiled to SQL: one compiler, a small dialect per engine.

``SqlCompiler`` turns a ``Query`` into one SQL statement and a function that turns its rows
into a result. Everything engine-specific sits behind ``SqlDialect``: where the events come
from (``relation``: DuckDB reads JSON Lines files in place, ClickHouse a table) and the few
functions whose spelling differs (glob match, number and timestamp parsing, quantiles, …).

The parts: ``sql_dialect`` (what differs per engine), ``sql_where`` (fields and conditions as
SQL expressions, the relation's columns), ``sql_answers`` (each kind of answer's statement and
how its rows become the result). This module joins them and keeps their public names.
"""

from __future__ import annotations

from moose_trace.query.ast import (
    Comparison,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Query,
    Stats,
)
from moose_trace.query.sql_answers import (
    COMPARE_FIELDS,
    ERROR_FIELDS,
    Plan,
    comparison,
    error_groups,
    events_from_json,
    group_counts,
    histogram,
    list_events,
    operation_stats,
)
from moose_trace.query.sql_dialect import SqlDialect
from moose_trace.query.sql_where import WhereCompiler, condition_fields

__all__ = [
    "COMPARE_FIELDS",
    "ERROR_FIELDS",
    "Plan",
    "SqlCompiler",
    "SqlDialect",
    "condition_fields",
    "events_from_json",
]


class SqlCompiler(WhereCompiler):
    """Compiles a ``Query`` to one statement in a dialect, plus how to read its rows."""

    def plan(self, query: Query) -> Plan:
        """Return the statement answering ``query`` and how to read its rows."""
        mode = query.mode
        if isinstance(mode, ListEvents):
            return list_events(self, query, mode)
        if isinstance(mode, GroupBy):
            return group_counts(self, query, mode)
        if isinstance(mode, Histogram):
            return histogram(self, query, mode)
        if isinstance(mode, Comparison):
            return comparison(self, query, mode)
        if isinstance(mode, Stats):
            return operation_stats(self, query, mode)
        assert isinstance(mode, ErrorGroups)
        return error_groups(self, query)
