"""Fixtures for the ClickHouse tests: a real chDB data directory per test, and sinks over it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faults import FlakyTransport

from moose_trace.store.clickhouse.sink import ClickHouseSink
from moose_trace.store.clickhouse.transport import ChdbTransport


@pytest.fixture
def chdb_url(tmp_path: Path) -> str:
    """A chDB URL on a fresh data directory (chDB allows one directory per process at a time)."""
    return f"chdb://{tmp_path / 'chdb'}"


@pytest.fixture
def transport(chdb_url: str) -> Iterator[ChdbTransport]:
    """A real chDB transport on the test's own directory, closed afterwards."""
    opened = ChdbTransport(chdb_url)
    yield opened
    opened.close()


@pytest.fixture
def flaky(transport: ChdbTransport) -> FlakyTransport:
    """The test's chDB transport behind a switch that makes inserts fail on demand."""
    return FlakyTransport(transport)


@pytest.fixture
def make_sink(tmp_path: Path) -> Iterator[Callable[..., ClickHouseSink]]:
    """Make sinks over a transport (spooling in the test's directory, retrying within a tenth
    of a second, batching every 50 ms unless told otherwise); each is closed after the test."""
    sinks: list[ClickHouseSink] = []

    def make(transport: object, **options: object) -> ClickHouseSink:
        options.setdefault("spool_dir", tmp_path / "spool")
        options.setdefault("retry_initial", 0.02)
        options.setdefault("retry_max", 0.1)
        options.setdefault("flush_interval", 0.05)
        sink = ClickHouseSink(transport, **options)  # type: ignore[arg-type]
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()
