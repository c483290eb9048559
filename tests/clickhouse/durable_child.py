"""A process writing events into a durable ClickHouseSink until it is killed.

Usage: python durable_child.py CLICKHOUSE_URL SPOOL_DIR FSYNC
After every 100 events it prints the number of the last one ``write`` returned for (all before
it returned too), so the parent knows what was accepted when it sends ``kill -9``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from moose_trace.clickhouse import ClickHouseSink


def main() -> None:
    url, spool_dir, fsync = sys.argv[1], sys.argv[2], sys.argv[3]
    sink = ClickHouseSink(
        url, spool_dir=spool_dir, durable=True, fsync=fsync, batch_size=500, flush_interval=0.05
    )
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "")
    i = 0
    while True:
        sink.write({"timestamp": f"{now}.{i % 1_000_000:06d}Z", "level": "info", "i": i})
        if i % 100 == 0:
            print(i, flush=True)
        i += 1


if __name__ == "__main__":
    main()
