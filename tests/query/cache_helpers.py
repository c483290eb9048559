"""What the cached table's tests share: an engine closed after use, and the settings for
generated logs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from moose_trace.query.duckdb_cache import CachedDuckDBEngine


@contextlib.contextmanager
def cached_engine(
    files: Sequence[Path] | None = None, **options: Any
) -> Iterator[CachedDuckDBEngine]:
    """A ``CachedDuckDBEngine`` over ``files`` (or ``discover=…``), closed when the block ends:
    its table lives in a temporary DuckDB file that only ``close`` removes."""
    engine = CachedDuckDBEngine(files, **options)
    try:
        yield engine
    finally:
        engine.close()


def generated_logs(examples: int) -> settings:
    """Hypothesis settings for a test over generated logs and queries: each example loads a
    table, so no deadline, and large examples are wanted."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
