"""The embedded engine: DuckDB reading JSON Lines files (plain or .gz) in place.

No import step and no server: each query is one SQL statement over ``read_json`` (for counts,
with the columns the query needs given explicitly: DuckDB's schema sampling misreads sparse
fields, and a typed scan parses each line once) or ``read_ndjson_objects`` (for event
listings, which need every field of each event). The normalization rules of
``moose_trace.query.normalize`` are spelled here in SQL: Rust tracing JSON is flattened,
aliases resolved, levels lowercased — the Python predicate applies the same rules.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from moose_trace.query.ast import Query
from moose_trace.query.exceptions import EngineError
from moose_trace.query.normalize import (
    ALIASES,
    EVENT_KEYS,
    NESTED_KEYS,
    NUMBER_PATTERN,
    SPAN_OWN_KEYS,
    STRUCTURED_ERROR_CATEGORY,
    STRUCTURED_MARKER,
    STRUCTURED_NAME_KEYS,
    TIMESTAMP_PATTERN,
)
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.results import EventsResult, Result
from moose_trace.query.sources import OnUnreadable, UnreadableFile
from moose_trace.query.sql import SqlCompiler, SqlDialect
from moose_trace.store.retention import LEVEL_ALIASES

__all__ = ["DEFAULT_MEMORY_LIMIT", "DuckDBDialect", "DuckDBEngine"]

DEFAULT_MEMORY_LIMIT = "384MB"
"""DuckDB's memory cap for one query; larger sorts spill to a temporary directory."""

_JSON_KEYS = frozenset({*NESTED_KEYS, "trace_ids"})
_FETCH_ROWS = 2048


def _path(key: str) -> str:
    return "'$.\"" + key.replace("'", "''") + "\"'"


class DuckDBDialect(SqlDialect):
    """DuckDB SQL over a fixed list of JSON Lines files.

    ``flat``: the caller knows no line has the Rust side's containers (``fields``, ``span``,
    ``spans``), so fields are not looked for in them: the same answer from a statement a tenth
    the size (DuckDB plans it in milliseconds rather than a few hundred).
    """

    def __init__(self, files: Sequence[Path], *, flat: bool = False) -> None:
        self.files = [str(path) for path in files]
        self.flat = flat

    def _file_list(self) -> str:
        return "[" + ", ".join(self.literal(name) for name in self.files) + "]"

    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return the normalized events of the files, with a column per field in ``fields``."""
        keys = _physical_keys(fields)
        if raw:
            return self._objects_relation(fields, keys)
        return self._typed_relation(fields, keys)

    def _typed_relation(self, fields: Sequence[str], keys: list[str]) -> str:
        columns = ", ".join(
            f"{self.literal(key)}: '{'JSON' if key in _JSON_KEYS else 'VARCHAR'}'" for key in keys
        )
        source = (
            f"read_json({self._file_list()}, format='newline_delimited', ignore_errors=true, "
            f"columns={{{columns}}})"
        )
        normalized = _Normalizer(self, self.quote)
        return f"(SELECT {normalized.select(fields)} FROM {source})"

    def _objects_relation(self, fields: Sequence[str], keys: list[str]) -> str:
        text_keys = [key for key in keys if key not in _JSON_KEYS]
        json_keys = [key for key in keys if key in _JSON_KEYS]
        positions = {key: f"_v[{index + 1}]" for index, key in enumerate(text_keys)}
        positions |= {
            key: f"nullif(_j[{index + 1}], 'null')" for index, key in enumerate(json_keys)
        }
        paths = ", ".join(_path(key) for key in text_keys)
        json_paths = ", ".join(_path(key) for key in json_keys)
        source = (
            f"(SELECT json AS _raw, json_extract_string(json, [{paths}]) AS _v, "
            f"json_extract(json, [{json_paths}]) AS _j "
            f"FROM read_ndjson_objects({self._file_list()}, ignore_errors=true))"
        )
        normalized = _Normalizer(self, positions.__getitem__)
        return f"(SELECT {normalized.select(fields)}, _raw FROM {source})"

    def glob(self, expr: str, pattern: str) -> str:
        """Return ``expr LIKE`` the pattern, ``*``/``?`` turned into ``%``/``_``."""
        escaped = []
        for char in pattern:
            if char == "*":
                escaped.append("%")
            elif char == "?":
                escaped.append("_")
            elif char in "%_\\":
                escaped.append("\\" + char)
            else:
                escaped.append(char)
        return f"({expr} LIKE {self.literal(''.join(escaped))} ESCAPE '\\')"

    def to_number(self, expr: str) -> str:
        """Return the number of a JSON-number text, else NULL."""
        return (
            f"(CASE WHEN regexp_full_match({expr}, {self.literal(NUMBER_PATTERN)}) "
            f"THEN TRY_CAST({expr} AS DOUBLE) END)"
        )

    def timestamp_us(self, expr: str) -> str:
        """Return epoch microseconds of a timestamp text in the accepted ISO 8601 forms."""
        return (
            f"(CASE WHEN regexp_full_match({expr}, {self.literal(TIMESTAMP_PATTERN)}) "
            f"THEN epoch_us(TRY_CAST({expr} AS TIMESTAMPTZ)) END)"
        )

    def trace_list_has(self, expr: str, hexes: Sequence[str]) -> str:
        """Return whether the JSON array ``expr`` lists one of ``hexes`` (any id spelling)."""
        wanted = ", ".join(self.literal(value) for value in hexes)
        normalized = (
            f"list_transform(json_extract_string({expr}, '$[*]'), lambda x: {self.trace_hex('x')})"
        )
        return f"list_has_any({normalized}, [{wanted}])"

    def quantile(self, expr: str, fraction: float) -> str:
        """Return DuckDB's interpolated quantile."""
        return f"quantile_cont({expr}, {fraction})"

    def quantiles(self, expr: str, fractions: Sequence[float], condition: str) -> list[str]:
        """Return the quantiles as items of one list aggregate: DuckDB sorts once for all
        (the same aggregate repeated is computed once)."""
        listed = ", ".join(self.number(q) for q in fractions)
        aggregate = f"(quantile_cont({expr}, [{listed}]) FILTER (WHERE {condition}))"
        return [f"{aggregate}[{index + 1}]" for index in range(len(fractions))]

    def arg_max(self, arg: str, value: str) -> str:
        """Return DuckDB's ``arg_max`` (rows with a NULL ``arg`` or ``value`` are ignored)."""
        return f"arg_max({arg}, {value})"

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return the latest ``limit`` matching events in one scan (a top-N aggregate)."""
        order = "{'timed': _ts IS NOT NULL, 'ts': coalesce(_ts, 0), 'raw': _raw}"
        return (
            f"SELECT max_by(_raw, {order}, {limit}) FILTER (WHERE NOT _bad), "
            f"count(*) FILTER (WHERE _bad) FROM (SELECT *, "
            f"{self.timestamp_us(self.quote('timestamp'))} AS _ts FROM {relation}) "
            f"WHERE _bad OR ({where})"
        )


def _physical_keys(fields: Sequence[str]) -> list[str]:
    """Return the top-level keys to read for ``fields``: aliases, markers and containers too."""
    keys: dict[str, None] = dict.fromkeys(EVENT_KEYS)
    keys.update(dict.fromkeys(NESTED_KEYS))
    for field in fields:
        keys.update(dict.fromkeys(ALIASES.get(field, (field,))))
        if field in ("type", "name"):
            keys[STRUCTURED_MARKER] = None
            keys.update(dict.fromkeys(key for key, _ in STRUCTURED_NAME_KEYS))
        elif field == "error_category":
            keys[STRUCTURED_MARKER] = None
    return list(keys)


class _Normalizer:
    """Builds the normalized column expressions from a way to read one top-level key."""

    def __init__(self, dialect: DuckDBDialect, top: Callable[[str], str]) -> None:
        self.dialect = dialect
        self.top = top

    def _nested(self, key: str) -> str:
        fields, span, spans = (self.top(name) for name in NESTED_KEYS)
        if key in SPAN_OWN_KEYS:
            lift = "json_extract" if key in _JSON_KEYS else "json_extract_string"
            return f"{lift}({fields}, {_path(key)})"
        path = _path(key)
        if key in _JSON_KEYS:
            pick = f"nullif(json_extract({{}}, {path}), 'null')"
            inner = (
                f"list_filter(list_reverse(json_extract({spans}, '$[*].\"{key}\"')), "
                "lambda x: x IS NOT NULL AND x <> 'null')[1]"
            )
        else:
            pick = f"json_extract_string({{}}, {path})"
            inner = (
                f"list_filter(list_reverse(json_extract_string({spans}, '$[*].\"{key}\"')), "
                "lambda x: x IS NOT NULL)[1]"
            )
        return (
            f"CASE WHEN {fields} IS NOT NULL OR {span} IS NOT NULL OR {spans} IS NOT NULL "
            f"THEN coalesce({pick.format(fields)}, {pick.format(span)}, {inner}) END"
        )

    def key(self, key: str) -> str:
        """Return one top-level key's value, from the Rust containers when missing on top."""
        if key in NESTED_KEYS or self.dialect.flat:
            return self.top(key)
        return f"coalesce({self.top(key)}, {self._nested(key)})"

    def field(self, field: str) -> str:
        """Return a normalized field: aliases, structured print lines and levels resolved."""
        candidates = [self.key(key) for key in ALIASES.get(field, (field,))]
        if field in ("type", "name"):
            marker = f"{self.key(STRUCTURED_MARKER)} = 'true'"
            names = [(self.key(key), primitive) for key, primitive in STRUCTURED_NAME_KEYS]
            if field == "type":
                whens = " ".join(f"WHEN {expr} IS NOT NULL THEN '{kind}'" for expr, kind in names)
                derived = f"CASE {whens} END"
            else:
                derived = f"coalesce({', '.join(expr for expr, _ in names)})"
            candidates.append(f"CASE WHEN {marker} THEN {derived} END")
        elif field == "error_category":
            marker = f"{self.key(STRUCTURED_MARKER)} = 'true'"
            unknown = self.dialect.literal(STRUCTURED_ERROR_CATEGORY)
            candidates.append(
                f"CASE WHEN {marker} AND {self.field('level')} = 'error' THEN {unknown} END"
            )
        value = candidates[0] if len(candidates) == 1 else f"coalesce({', '.join(candidates)})"
        if field != "level":
            return value
        lowered = f"lower(trim({value}))"
        whens = " ".join(
            f"WHEN {self.dialect.literal(alias)} THEN {self.dialect.literal(level)}"
            for alias, level in LEVEL_ALIASES.items()
        )
        return f"(CASE {lowered} {whens} ELSE {lowered} END)"

    def select(self, fields: Sequence[str]) -> str:
        """Return the select list: every normalized field, then ``_bad``."""
        bad = " AND ".join(f"{self.top(key)} IS NULL" for key in EVENT_KEYS)
        columns = [f"{self.field(field)} AS {self.dialect.quote(field)}" for field in fields]
        return ", ".join([*columns, f"({bad}) AS _bad"])


class DuckDBEngine:
    """Answers queries over JSON Lines files with an in-process DuckDB.

    ``on_progress(fraction)`` is called from a helper thread about ten times a second while
    a query runs (for a progress bar); ``memory_limit`` caps DuckDB's memory, larger sorts
    spill to a temporary directory. With ``on_unreadable``, a file DuckDB cannot read (no
    permission, a bad or cut-short .gz) is told to it and the query runs again without it;
    without one, the query fails with ``EngineError``.
    """

    def __init__(
        self,
        files: Sequence[Path],
        *,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
        on_progress: Callable[[float], None] | None = None,
        on_unreadable: OnUnreadable | None = None,
    ) -> None:
        self.files = list(files)
        self.on_unreadable = on_unreadable
        self.memory_limit = memory_limit
        self.threads = threads
        self.on_progress = on_progress

    def sql(self, query: Query) -> str:
        """Return the SQL statement that answers ``query`` (for ``--explain`` and tests)."""
        return SqlCompiler(DuckDBDialect(self.files)).plan(query).sql

    def run(self, query: Query) -> Result:
        """Answer ``query``; an event listing streams its rows as they are consumed."""
        while True:
            try:
                return self._run(query)
            except EngineError as failure:
                unreadable = self._unreadable_in(failure)
                if unreadable is None or self.on_unreadable is None:
                    raise
                self.files.remove(unreadable.path)
                self.on_unreadable(unreadable)
                if not self.files:
                    return PythonEngine(lambda: ()).run(query)

    def _unreadable_in(self, failure: EngineError) -> UnreadableFile | None:
        """Return the file a read error names (DuckDB's IO errors name the file), if any."""
        cause = failure.__cause__
        if not isinstance(cause, duckdb.IOException):
            return None
        message = str(cause).split("\n", 1)[0]  # the rest quotes the SQL, every file in it
        named = [path for path in self.files if str(path) in message]
        if not named:
            return None
        path = max(named, key=lambda path: len(str(path)))  # /a/x.jsonl.gz, not /a/x.jsonl
        reason = message.removeprefix("IO Error: ").replace(f'"{path}"', "").replace(str(path), "")
        return UnreadableFile(path, " ".join(reason.split()).strip(" :") or "unreadable")

    def _run(self, query: Query) -> Result:
        plan = SqlCompiler(DuckDBDialect(self.files)).plan(query)
        spill = tempfile.TemporaryDirectory(prefix="moose-trace-duckdb-")
        connection = duckdb.connect(config=self._config(spill.name))

        def close() -> None:
            connection.close()
            spill.cleanup()

        try:
            # Timestamps without a zone are UTC, whatever the machine's zone is.
            connection.execute("SET TimeZone = 'UTC'")
            if self.on_progress is not None:
                # Track progress for query_progress(), without DuckDB printing its own bar.
                connection.execute("SET enable_progress_bar = true")
                connection.execute("SET enable_progress_bar_print = false")
            with self._progress(connection):
                cursor = connection.execute(plan.sql)
                first = cursor.fetchmany(_FETCH_ROWS)
        except duckdb.Error as failure:
            close()
            raise EngineError(f"DuckDB could not read the logs: {failure}") from failure
        except BaseException:
            close()
            raise
        rows = _rows(cursor, first, close)
        result = plan.finish(rows)
        if not (isinstance(result, EventsResult) and isinstance(result.events, Iterator)):
            rows.close()
        return result

    def _config(self, spill: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "memory_limit": self.memory_limit,
            "temp_directory": spill,
            "preserve_insertion_order": False,
        }
        if self.threads is not None:
            config["threads"] = self.threads
        return config

    @contextlib.contextmanager
    def _progress(self, connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
        report = self.on_progress
        if report is None:
            yield
            return
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.1):
                with contextlib.suppress(duckdb.Error):
                    fraction = connection.query_progress()
                    if fraction >= 0:
                        report(min(1.0, fraction / 100))

        watcher = threading.Thread(target=poll, name="moose-trace-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()


def _rows(
    cursor: duckdb.DuckDBPyConnection, first: list[Any], close: Callable[[], None]
) -> Generator[tuple[Any, ...], None, None]:
    try:
        batch = first
        while batch:
            yield from batch
            batch = cursor.fetchmany(_FETCH_ROWS)
    except duckdb.Error as failure:
        raise EngineError(f"DuckDB could not read the logs: {failure}") from failure
    finally:
        close()
