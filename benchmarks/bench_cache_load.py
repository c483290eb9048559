"""Where the console's first table load goes: DuckDB's JSON reading, our normalizing SQL, the
table's write — side by side on the same files, in one process.

    python benchmarks/bench_cache_load.py --corpus /work/corpus-1m [--files 4] [--rounds 3]

``moose-trace serve`` loads the log files into a DuckDB table (``CachedDuckDBEngine.warm``).
Three arms over the same files (the ``--files`` largest of the corpus), each the median of
``--rounds``:

1. ``read_json_objects`` + ``count(*)``: DuckDB reading and splitting the JSON lines (the floor).
2. The normalizing relation the table is loaded from (every cached field, the time and numbers
   parsed, the raw line kept), every column computed: our normalization, without writing.
3. ``CachedDuckDBEngine.warm()``: the whole load (chunks, normalization, the table's write).

Prints a markdown table (seconds, and each arm's share of the whole load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from moose_trace.query.duckdb_cache import CACHED_FIELDS, NUMBER_FIELDS, CachedDuckDBEngine
from moose_trace.query.duckdb_engine import DuckDBDialect


def _median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus-1m"))
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.jsonl"), key=lambda path: -path.stat().st_size)
    files = files[: args.files]
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    listed = ", ".join(f"'{path}'" for path in files)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")

    def read_only() -> object:
        sql = (
            f"SELECT count(*) FROM read_json_objects([{listed}], "
            "format='newline_delimited', ignore_errors=true)"
        )
        return connection.execute(sql).fetchall()

    def normalize() -> object:
        dialect = DuckDBDialect(files, flat=True)
        numbers = ", ".join(
            f"{dialect.to_number(dialect.quote(field))} AS n_{field}" for field in NUMBER_FIELDS
        )
        time_us = dialect.timestamp_us(dialect.quote("timestamp"))
        relation = dialect.relation(CACHED_FIELDS, raw=True)
        # Every column hashed: DuckDB computes each (a count alone would skip them).
        sql = f"SELECT max(hash(COLUMNS(*))) FROM (SELECT *, {numbers}, {time_us} FROM {relation})"
        return connection.execute(sql).fetchall()

    def load() -> object:
        engine = CachedDuckDBEngine(files)
        try:
            engine.warm()
        finally:
            engine.close()
        return None

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    arms = {
        "DuckDB reads the JSON lines (read_json_objects, count)": read_only,
        "+ our normalizing SQL (all cached fields, time, numbers)": normalize,
        "+ the table's write (CachedDuckDBEngine.warm)": load,
    }
    seconds = {name: _median_seconds(action, args.rounds) for name, action in arms.items()}
    whole = seconds["+ the table's write (CachedDuckDBEngine.warm)"]
    print(f"\n{len(files)} files, {megabytes:.0f} MB, {os.cpu_count()} CPUs, "
          f"median of {args.rounds}\n")  # fmt: skip
    print("| arm | seconds | MB/s | share of the load |")
    print("| --- | ---: | ---: | ---: |")
    for name, value in seconds.items():
        print(f"| {name} | {value:.2f} | {megabytes / value:.0f} | {value / whole:.0%} |")
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
