"""ClickHouseSink under faults, on real chDB: it never stalls on bad data, never lies about what
it stored, restarts a failed worker, and in durable mode loses nothing to ``kill -9``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from faults import FlakyTransport
from http_server import ClickHouseHttpServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moose_trace.store.clickhouse.sink import ClickHouseSink
from moose_trace.store.clickhouse.transport import ChdbTransport, ClickHouseError
from moose_trace.tracing.ids import new_trace_id

NOW = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "")
CHILD = Path(__file__).parent / "durable_child.py"


def _event(i: int) -> dict[str, object]:
    return {"timestamp": f"{NOW}.{i % 1_000_000:06d}Z", "level": "info", "event": "e", "i": i}


def _line(i: int) -> bytes:
    return orjson.dumps(_event(i))


def _stored(transport: ChdbTransport) -> list[int]:
    rows = transport.query("SELECT raw FROM moose_logs")
    return sorted(orjson.loads(row["raw"])["i"] for row in rows)


def _rejected(sink: ClickHouseSink) -> list[bytes]:
    files = sorted((sink.spool_dir / "rejected").glob("*.jsonl"))
    return [line for path in files for line in path.read_bytes().split(b"\n") if line]


# -- the error code decides -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "permanent", "transient"),
    [
        (62, True, False),  # SYNTAX_ERROR
        (108, True, False),  # NO_DATA_TO_INSERT
        (53, True, False),  # TYPE_MISMATCH
        (117, True, False),  # INCORRECT_DATA
        (None, False, True),  # no answer: the network
        (252, False, True),  # TOO_MANY_PARTS
        (241, False, True),  # MEMORY_LIMIT_EXCEEDED
        (516, False, True),  # AUTHENTICATION_FAILED: an operator fixes it, the data is fine
        (48, False, False),  # NOT_IMPLEMENTED: in neither list
    ],
)
def test_permanent_and_transient_are_told_apart_by_the_error_code(
    code: int | None, permanent: bool, transient: bool
) -> None:
    error = ClickHouseError(f"Code: {code}. x" if code else "connection refused", code=code)
    assert (error.permanent, error.transient) == (permanent, transient)


def test_real_chdb_errors_carry_their_code(transport: ChdbTransport) -> None:
    transport.execute("CREATE TABLE t (raw String) ENGINE = Memory")
    with pytest.raises(ClickHouseError) as empty:
        transport.insert("t", b"", fmt="JSONAsString", columns=("raw",))
    assert (empty.value.code, empty.value.permanent) == (108, True)
    with pytest.raises(ClickHouseError) as syntax:
        transport.insert("t", b'{"a":1}\n\n{"b":2}', fmt="JSONAsString", columns=("raw",))
    assert (syntax.value.code, syntax.value.permanent) == (62, True)


# -- bad data never blocks the queue ---------------------------------------------------------------


def test_an_empty_spool_file_is_removed_and_everything_behind_it_is_stored(
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{new_trace_id()}.jsonl").write_bytes(b"")  # older than anything written next
    (spool / f"{new_trace_id()}.jsonl").write_bytes(b"\n\n")
    sink = make_sink(transport, batch_size=500)
    for i in range(3_000):
        sink.write(_event(i))
    assert sink.flush(timeout=60)
    assert _stored(transport) == list(range(3_000))
    assert list(spool.glob("*.jsonl")) == []
    assert any("empty batch" in r.getMessage() for r in caplog.records)


BAD_LINES = [
    b"",  # empty: ClickHouse says NO_DATA_TO_INSERT / SYNTAX_ERROR
    b"   ",
    b"not json",
    b'{"event": "cut short',
    b'{"event": "raw NUL \x00 inside"}',  # stored damaged if it got through
    b'{"event": "s\xed\xb3\xbf"}',  # a lone surrogate: not UTF-8
    b"[1, 2, 3]",
]


def test_bad_json_lines_are_set_aside_alone_with_a_count_and_a_warning(
    flaky: FlakyTransport,
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = make_sink(flaky, batch_size=1_000)
    for i in range(999):
        sink.write_json(_line(i))
        if i % 150 == 0:
            sink.write_json(BAD_LINES[(i // 150) % len(BAD_LINES)])
    assert not sink.flush(timeout=60)
    assert _stored(transport) == list(range(999))
    stats = sink.stats()
    assert (stats.rejected, stats.dropped, stats.waiting) == (7, 0, 0)
    assert sorted(_rejected(sink)) == sorted(line.strip() for line in BAD_LINES if line.strip())
    warned = [re.search(r"set aside (\d+) bad lines", r.getMessage()) for r in caplog.records]
    assert sum(int(found.group(1)) for found in warned if found) == 7
    assert not any(
        b"\x00" in row["raw"].encode() for row in transport.query("SELECT raw FROM moose_logs")
    )


def test_a_corrupt_spool_file_loses_only_its_bad_lines(
    transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = [_line(i) for i in range(500)]
    lines[100] = b'{"i": 100, "event": "cut'  # a crash in the middle of a write
    lines[300] = b"\xff\xfe garbage"
    (spool / f"{new_trace_id()}.jsonl").write_bytes(b"\n".join(lines))
    sink = make_sink(transport)
    assert not sink.flush(timeout=60)
    assert _stored(transport) == [i for i in range(500) if i not in {100, 300}]
    assert sink.stats().rejected == 2
    assert list(spool.glob("*.jsonl")) == []


def test_an_unknown_error_code_is_retried_then_only_the_refused_rows_set_aside(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    flaky.refuse_marker, flaky.refuse_code = b'"odd"', 9_999
    sink = make_sink(flaky, batch_size=100)
    for i in range(300):
        sink.write({**_event(i), "kind": "odd"} if i == 150 else _event(i))
    assert not sink.flush(timeout=60)
    assert _stored(transport) == [i for i in range(300) if i != 150]
    assert [orjson.loads(line)["i"] for line in _rejected(sink)] == [150]
    assert sink.stats().retried >= 4  # retried as possibly transient before giving up on it


# -- workers never die silently ---------------------------------------------------------------


def test_an_event_with_a_lone_surrogate_is_stored_and_the_worker_lives(
    transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(transport, batch_size=1_000)
    sink.write(
        {**_event(0), "event": "s\udcff", "path": b"\xff".decode("utf-8", "surrogateescape")}
    )
    for i in range(1, 999):
        sink.write(_event(i))
    assert sink.flush(timeout=60)
    assert _stored(transport) == list(range(999))
    [row] = transport.query("SELECT raw FROM moose_logs WHERE event != 'e'")
    assert orjson.loads(row["raw"])["event"] == "s\\udcff"  # visible, not lost
    assert sink.stats().restarted == 0


def test_a_worker_that_fails_is_restarted_and_reported(
    flaky: FlakyTransport,
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky.execute_fails_with = RuntimeError("bug in a driver")  # not a ClickHouseError
    sink = make_sink(flaky, batch_size=100)
    for i in range(999):
        sink.write(_event(i))
    assert sink.flush(timeout=60)
    assert _stored(transport) == list(range(999))
    assert sink.stats().restarted == 1
    assert any(
        "inserter failed (RuntimeError: bug in a driver); restarted" in r.getMessage()
        for r in caplog.records
    )


def test_an_unexpected_transport_exception_is_retried_not_fatal(
    flaky: FlakyTransport, transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    original = flaky.insert
    calls = {"n": 0}

    def insert_failing_once(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("connection reset by peer")
        original(*args, **kwargs)  # type: ignore[arg-type]

    flaky.insert = insert_failing_once  # type: ignore[method-assign]
    sink = make_sink(flaky, batch_size=100)
    for i in range(500):
        sink.write(_event(i))
    assert sink.flush(timeout=60)
    assert _stored(transport) == list(range(500))
    assert sink.stats().retried == 1


# -- durable mode -------------------------------------------------------------------------------


def test_durable_mode_stores_everything_and_leaves_no_segment(
    transport: ChdbTransport, make_sink: Callable[..., ClickHouseSink]
) -> None:
    sink = make_sink(transport, durable=True, batch_size=400)
    for i in range(1_000):
        sink.write(_event(i)) if i % 2 else sink.write_json(_line(i))
    assert list(sink.spool_dir.glob("*.wal"))  # on disk before write returned
    assert sink.flush(timeout=60)
    assert _stored(transport) == list(range(1_000))
    assert list(sink.spool_dir.glob("*.wal")) == list(sink.spool_dir.glob("*.jsonl")) == []


def test_durable_mode_refuses_an_unknown_fsync_policy(transport: ChdbTransport) -> None:
    with pytest.raises(ValueError, match="fsync must be one of always, batch, never"):
        ClickHouseSink(transport, durable=True, fsync="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("fsync", ["batch", "always"])
def test_kill_9_in_durable_mode_loses_nothing_and_doubles_nothing(
    fsync: str, transport: ChdbTransport, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    with ClickHouseHttpServer(transport._session, "bob", "pw") as server:
        url = f"clickhouse://bob:pw@127.0.0.1:{server.port}/default"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(CHILD.parent), os.getcwd()]))
        child = subprocess.Popen(
            [sys.executable, str(CHILD), url, str(spool), fsync],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        acknowledged = -1
        try:
            # Kill it while it writes and while its batches are being inserted.
            for line in child.stdout:
                acknowledged = int(line)
                if acknowledged >= 3_000 and server.requests:
                    break
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert acknowledged >= 3_000
    recovery = ClickHouseSink(transport, spool_dir=spool, retry_initial=0.02)
    try:
        assert recovery.flush(timeout=60)
    finally:
        recovery.close()
    stored = _stored(transport)
    assert len(stored) == len(set(stored))  # 0 duplicated
    assert stored == list(range(len(stored)))  # no hole: every accepted event, in order
    assert len(stored) > acknowledged  # 0 lost: everything write() accepted is there
    assert list(spool.glob("*.wal")) == list(spool.glob("*.jsonl")) == []


# -- the sink API, property-tested ----------------------------------------------------------------


def _events_with(numbers: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {"event": st.text(max_size=30) | st.just("s\udcff"), "level": st.sampled_from(LEVELS)},
        optional={"n": numbers, "x": st.floats(allow_nan=False) | st.none() | st.booleans()},
    )


LEVELS = ["info", "error", "WARN"]
_valid_lines = _events_with(st.integers(-(2**63), 2**63 - 1)).map(
    lambda event: orjson.dumps({**event, "event": event["event"].replace("\udcff", "?")})  # type: ignore[union-attr]
)
_any_line = st.one_of(_valid_lines, st.binary(max_size=40), st.sampled_from(BAD_LINES))
_any_event = _events_with(st.integers())  # ints beyond 64 bits, lone surrogates: stored as text


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(written=st.lists(_any_line | _any_event, min_size=1, max_size=40))
def test_every_write_is_stored_or_set_aside_and_counted(
    written: list[bytes | dict[str, object]],
    transport: ChdbTransport,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    sink = _one_sink(make_sink, transport)
    before = sink.stats()
    rows_before = transport.query("SELECT count() AS n FROM moose_logs")[0]["n"]
    marker = new_trace_id()
    for item in written:
        if isinstance(item, dict):
            sink.write({**item, "marker": marker})
        else:
            sink.write_json(item)
    clean = sink.flush(timeout=60)
    after = sink.stats()
    stored = after.inserted - before.inserted
    set_aside = after.rejected - before.rejected
    assert stored + set_aside == len(written)  # nothing vanished, nothing counted twice
    assert after.waiting == after.dropped == after.restarted == 0
    assert clean == (set_aside == 0)
    assert transport.query("SELECT count() AS n FROM moose_logs")[0]["n"] == rows_before + stored
    dicts = sum(isinstance(item, dict) for item in written)
    mine = transport.query(f"SELECT count() AS n FROM moose_logs WHERE raw LIKE '%{marker}%'")
    assert mine[0]["n"] == dicts  # every dict event is stored


_sinks: dict[int, ClickHouseSink] = {}


def _one_sink(make: Callable[..., ClickHouseSink], transport: ChdbTransport) -> ClickHouseSink:
    """One sink for all the examples of a test run (a sink per example would take minutes)."""
    key = id(transport)
    if key not in _sinks:
        _sinks.clear()
        _sinks[key] = make(transport, batch_size=16)
        _sinks[key].write(_event(-1))
        assert _sinks[key].flush(timeout=60)  # the table exists from here on
    return _sinks[key]
