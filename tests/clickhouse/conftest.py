"""Fixtures for the ClickHouse tests: a real chDB data directory per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from moose_trace.store.clickhouse.transport import ChdbTransport

sys.path.insert(0, str(Path(__file__).parent))


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
