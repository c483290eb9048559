"""A process that logs N events into a ClickHouseSink on chDB and then stops as told.

Usage: python sink_child.py CHDB_URL SPOOL_DIR COUNT MODE
MODE: ``exit`` (returns normally, atexit flushes), ``sigterm`` (opt-in handler, waits to be
killed), ``down`` (ClickHouse unreachable: everything ends in the spool at exit).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from faults import FlakyTransport

from moose_trace.clickhouse import ClickHouseSink, connect, install_sigterm_handler


def main() -> None:
    url, spool_dir, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    transport = FlakyTransport(connect(url))
    transport.down = mode == "down"
    # A long interval and a batch that does not divide COUNT: the stop comes mid-batch.
    sink = ClickHouseSink(transport, spool_dir=spool_dir, batch_size=1_000, flush_interval=60)
    if mode == "sigterm":
        install_sigterm_handler()
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")  # recent: retention TTL drops old events
    for i in range(count):
        sink.write(
            {
                "timestamp": f"{day}T10:00:00.{i:06d}Z",
                "level": "info",
                "event": "child",
                "i": i,
            }
        )
    if mode == "sigterm":
        print("ready", flush=True)
        time.sleep(60)


if __name__ == "__main__":
    main()
