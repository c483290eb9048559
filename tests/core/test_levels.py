"""One vocabulary of log levels: a level written in any spelling is read back as that level.

The writer (``level_name``), the configuration (``parse_level``), retention and every query
engine read ``moose_trace.logging.levels``: ``err`` is an error everywhere, not only where it
was written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from moose_trace.logging.levels import (
    LEVEL_ALIASES,
    LEVELS,
    level_name,
    normalize_level,
    parse_level,
)
from moose_trace.query.ast import Query
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.language import parse_levels
from moose_trace.query.python_engine import PythonEngine
from moose_trace.store import retention

SPELLINGS = sorted({*LEVELS, *LEVEL_ALIASES})


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_means_one_level_when_written_read_kept_or_configured(spelling: str) -> None:
    level = LEVEL_ALIASES.get(spelling, spelling)
    assert level in LEVELS
    for written in (spelling, spelling.upper(), f" {spelling.title()} "):
        assert level_name(written) == level
        assert normalize_level(written) == level
        assert retention.normalize_level(written) == level
    registered = logging.getLevelName(spelling.upper())  # stdlib's own, or one an app added
    expected = registered if isinstance(registered, int) else getattr(logging, level.upper())
    assert parse_level(spelling) == expected


def test_an_unknown_spelling_is_kept_lowercased_and_refused_as_a_setting() -> None:
    assert normalize_level(" Verbose2 ") == "verbose2"
    assert level_name("verbose2") == "info"  # the writer still writes a schema level
    with pytest.raises(ValueError, match="unknown log level"):
        parse_level("verbose2")


LINES = [
    {"timestamp": f"2026-01-09T10:00:0{second}.000000Z", "level": level, "event": level}
    for second, level in enumerate(["err", "CRIT", "Warn", "notice", "exception", "emerg", "info"])
]


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "other-writer.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in LINES))
    return path


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ("error", ["err", "exception"]),
        ("error+", ["err", "CRIT", "exception", "emerg"]),
        ("warn", ["Warn"]),
        ("info", ["notice", "info"]),
    ],
)
def test_both_file_engines_read_other_spellings_as_the_level_they_mean(
    log_file: Path, levels: str, expected: list[str]
) -> None:
    query = Query(where=parse_levels(levels))
    python = PythonEngine(lambda: log_file.read_bytes().splitlines()).run(query)
    duckdb = DuckDBEngine([log_file]).run(query)
    for result in (python, duckdb):
        assert sorted(event["event"] for event in result.events) == sorted(expected)
