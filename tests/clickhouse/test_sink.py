"""ClickHouseSink on real chDB: batches, prompt errors, outages, overflow, shutdown — every event
stored exactly once."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
import structlog
from faults import FlakyTransport

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.store.clickhouse.sink import ClickHouseSink
from moose_trace.store.clickhouse.transport import ChdbTransport

NOW = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "")


def _event(i: int, level: str = "info") -> dict[str, object]:
    return {
        "timestamp": f"{NOW}.{i % 1_000_000:06d}Z",
        "level": level,
        "event": f"event {i}",
        "i": i,
    }


def _stored(transport: ChdbTransport) -> list[int]:
    rows = transport.query("SELECT raw FROM moose_logs")
    return sorted(orjson.loads(row["raw"])["i"] for row in rows)


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_events_are_stored_in_batches_with_every_field(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=500, flush_interval=60)
    events = [_event(i) for i in range(1_250)]
    for event in events:
        sink.write(event)
    assert sink.flush(timeout=30)
    rows = transport.query("SELECT raw FROM moose_logs ORDER BY timestamp")
    assert [orjson.loads(row["raw"]) for row in rows] == events
    assert flaky.inserted_batches == [500, 500, 250]  # thousands-row batches, not single rows
    assert sink.stats().inserted == 1_250


def test_an_error_event_is_sent_promptly_without_waiting_for_the_interval(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=10_000, flush_interval=300)
    for i in range(10):
        sink.write(_event(i))
    sink.write(_event(10, level="error"))
    # No flush() call: the error alone makes the sink send, long before the 300 s interval.
    assert _wait_for(lambda: flaky.inserted_batches == [11])
    assert _stored(transport) == list(range(11))


@pytest.mark.parametrize("level", ["fatal", "ERR", "CRIT", "exception"])
@pytest.mark.parametrize("rendered", [False, True])
def test_every_spelling_of_a_failure_is_sent_promptly(
    flaky: FlakyTransport,
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    level: str,
    rendered: bool,
) -> None:
    """Other writers spell a failure's level their way (syslog's ``err``, the Rust side's
    ``ERROR``, ``fatal``): the level table's every spelling of error and critical is urgent."""
    sink = make_sink(flaky, batch_size=10_000, flush_interval=300)
    sink.write(_event(0))
    if rendered:
        sink.write_json(orjson.dumps(_event(1, level=level)))
    else:
        sink.write(_event(1, level=level))
    assert _wait_for(lambda: flaky.inserted_batches == [2])


def test_an_error_storm_does_not_become_a_storm_of_inserts(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=10_000, flush_interval=300, error_flush_interval=30)
    for i in range(2_000):
        sink.write(_event(i, level="error"))
    assert _wait_for(lambda: sum(flaky.inserted_batches) >= 1)
    sink.close()
    # One early insert for the storm's first error, the rest together at close: not 2,000 inserts.
    assert len(flaky.inserted_batches) <= 3
    assert _stored(transport) == list(range(2_000))


def test_an_outage_is_spooled_retried_and_replayed_with_nothing_lost_or_doubled(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=200, flush_interval=0.05)
    flaky.down = True
    for i in range(1_000):
        sink.write(_event(i))
    assert _wait_for(lambda: sink.stats().spilled == 1_000)
    # Spooled batch by batch: no file holds more than a batch, and they hold every event once.
    # (A slow machine may cut a batch early at the flush interval, so the file count can vary.)
    spooled = [f.read_text().splitlines() for f in sink.spool_dir.glob("*.jsonl")]
    assert spooled
    assert all(1 <= len(lines) <= 200 for lines in spooled)
    assert sum(len(lines) for lines in spooled) == 1_000
    flaky.down = False
    assert sink.flush(timeout=30)
    assert _stored(transport) == list(range(1_000))
    stats = sink.stats()
    assert (stats.replayed, stats.dropped, stats.waiting) == (1_000, 0, 0)
    assert stats.retried >= 1
    assert list(sink.spool_dir.glob("*.jsonl")) == []


def test_a_batch_committed_before_a_timeout_is_stored_once(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    flaky.commit_then_fail = 3  # the server stored it, the client saw a timeout: the sink retries
    sink = make_sink(flaky, batch_size=100, flush_interval=0.05)
    for i in range(500):
        sink.write(_event(i))
    assert sink.flush(timeout=30)
    assert sum(flaky.inserted_batches) > 500  # the same rows did reach ClickHouse twice…
    assert _stored(transport) == list(range(500))  # …and the deduplication token kept one copy


def test_a_full_buffer_spills_to_disk_and_everything_is_stored(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=100, max_buffer=300, flush_interval=0.05)
    flaky.fail_inserts = 5  # ClickHouse unavailable for a while: the memory bound must hold
    for i in range(5_000):
        sink.write(_event(i))
    assert sink.flush(timeout=60)
    assert sink.stats().spilled > 0
    assert _stored(transport) == list(range(5_000))


def test_unwritable_spool_drops_are_counted_and_logged(
    flaky: FlakyTransport,
    make_sink: Callable[..., ClickHouseSink],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spool directory should be")
    flaky.down = True
    sink = make_sink(flaky, batch_size=50, flush_interval=0.05, spool_dir=blocker / "spool")
    for i in range(100):
        sink.write(_event(i))
    assert _wait_for(lambda: sink.stats().dropped == 100)
    assert any(
        "dropped 100" in r.getMessage() or "dropped 50" in r.getMessage() for r in caplog.records
    )
    assert all(
        r.name == "moose_trace.clickhouse" for r in caplog.records if "dropped" in r.getMessage()
    )


def test_rows_the_server_refuses_are_set_aside_alone_and_the_rest_is_stored(
    flaky: FlakyTransport,
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky.refuse_marker = b'"poison"'  # the server refuses any block holding such a row
    sink = make_sink(flaky, batch_size=10, flush_interval=0.05)
    for i in range(30):
        sink.write({**_event(i), "kind": "poison"} if i in {3, 17} else _event(i))
    assert not sink.flush(timeout=30)  # not everything written was stored: flush says so
    assert sink.stats().rejected == 2
    kept = b"".join(path.read_bytes() for path in (sink.spool_dir / "rejected").glob("*.jsonl"))
    assert sorted(orjson.loads(line)["i"] for line in kept.splitlines()) == [3, 17]
    assert _stored(transport) == [i for i in range(30) if i not in {3, 17}]
    assert any("set aside 1 bad lines" in r.getMessage() for r in caplog.records)
    sink.write(_event(30))
    assert sink.flush(timeout=30)  # nothing new was lost since the last answer


def test_closing_while_down_spools_and_the_next_sink_replays_it(
    flaky: FlakyTransport,
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    tmp_path: Path,
) -> None:
    flaky.down = True
    first = make_sink(flaky, batch_size=1_000, flush_interval=60)
    for i in range(2_500):
        first.write(_event(i))
    first.close(timeout=5)
    assert first.stats().waiting == 2_500
    first.write(_event(2_500))  # after close: spooled, not lost
    flaky.down = False
    second = make_sink(flaky, batch_size=1_000, flush_interval=60)
    assert second.flush(timeout=30)
    assert second.stats().replayed == 2_501
    assert _stored(transport) == list(range(2_501))


def test_write_never_raises_on_values_json_cannot_hold(
    transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(transport, flush_interval=0.05)
    sink.write(
        {"level": ["odd"], "i": 0, "obj": object(), "huge": 2**80, 3: "int key", "path": Path("/x")}
    )
    assert sink.flush(timeout=30)
    (row,) = transport.query("SELECT raw FROM moose_logs")
    stored = orjson.loads(row["raw"])
    assert (stored["i"], stored["huge"], stored["3"], stored["path"]) == (
        0,
        str(2**80),
        "int key",
        "/x",
    )


def test_rendered_json_lines_are_stored_as_written(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=10_000, flush_interval=300)
    sink.write_json(orjson.dumps(_event(0)))
    sink.write_json(orjson.dumps(_event(1)).decode())  # a str renderer's output works too
    sink.write_json(b'{"level": "error", "event": "boom", "i": 2}')
    # The error line alone triggers an early send, with no flush() and a 300 s interval.
    assert _wait_for(lambda: flaky.inserted_batches == [3])
    assert _stored(transport) == [0, 1, 2]


def test_the_sinks_own_warnings_do_not_feed_back_into_it(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(flaky, batch_size=10, flush_interval=0.05)

    class IntoSink(logging.Handler):  # what a stdlib → structlog bridge does
        def emit(self, record: logging.LogRecord) -> None:
            sink.write({"level": "warning", "event": record.getMessage(), "i": -1})

    bridge = IntoSink()
    logging.getLogger().addHandler(bridge)
    try:
        flaky.fail_inserts = 2
        for i in range(20):
            sink.write(_event(i))
        assert sink.flush(timeout=30)
    finally:
        logging.getLogger().removeHandler(bridge)
    assert sink.stats().retried >= 1
    assert _stored(transport) == list(range(20))


def _run_child(chdb_url: str, spool: Path, count: int, mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.getcwd()]))
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "sink_child.py"),
            chdb_url,
            str(spool),
            str(count),
            mode,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("mode", ["exit", "sigterm", "down"])
def test_a_process_stopped_mid_batch_loses_nothing(
    mode: str, chdb_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    child = _run_child(chdb_url, spool, 2_500, mode)
    if mode == "sigterm":
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
    child.wait(timeout=180)  # generous: a loaded CI machine, the child's own wait is 60 s
    assert child.returncode == (-signal.SIGTERM if mode == "sigterm" else 0)
    transport = ChdbTransport(chdb_url)  # opened only now: the child held the directory
    try:
        if mode == "down":
            assert len(list(spool.glob("*.jsonl"))) == 3
        if spool.exists() and any(spool.iterdir()):
            # What the stopped process could not insert in its close timeout (ClickHouse down,
            # or a machine too loaded to finish within it) waits in the spool for the next sink.
            recovery = ClickHouseSink(transport, spool_dir=spool)
            assert recovery.flush(timeout=30)
            recovery.close()
        assert _stored(transport) == list(range(2_500))
    finally:
        transport.close()


def test_the_logging_setup_delivers_redacted_events_to_clickhouse(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    sink = ClickHouseSink(transport, spool_dir=tmp_path / "spool", flush_interval=0.05)
    configure_logging("checkout", stdout=False, log_dir=tmp_path / "logs", sinks=[sink])
    try:
        log = structlog.get_logger("test")
        log.info("order placed", order_id=7, password="hunter2")
        log.error("payment failed", error_category="timeout_error")
        logging.getLogger("third.party").warning("via the stdlib bridge")
    finally:
        shutdown_logging()  # flushes and closes the sink
    rows = transport.query("SELECT level, event, service, raw FROM moose_logs ORDER BY timestamp")
    assert [(row["level"], row["event"], row["service"]) for row in rows] == [
        ("info", "order placed", "checkout"),
        ("error", "payment failed", "checkout"),
        ("warning", "via the stdlib bridge", "checkout"),
    ]
    assert "hunter2" not in rows[0]["raw"]  # redacted before any sink sees it
    assert orjson.loads(rows[0]["raw"])["order_id"] == 7
