"""configure_logging end to end: real structlog, real stdlib logging, real files and processes."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.logging.config import (
    LoggingSetup,
    configure_logging,
    direct_logger,
    shutdown_logging,
)
from moose_trace.logging.paths import LOG_DIR_ENV
from moose_trace.tracing.context import bind_fields, trace_context
from moose_trace.tracing.ids import new_trace_id, trace_id_from_int
from moose_trace.tracing.otel import configure_tracing

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


class Output:
    """What one configured test run wrote: the stdout stream and the daily file."""

    def __init__(self, setup: LoggingSetup, stream: io.StringIO) -> None:
        self.setup = setup
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stream.getvalue().splitlines()]

    def file_lines(self, date: str | None = None) -> list[dict[str, Any]]:
        path = self.setup.log_file(date)
        assert path is not None
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Output]]:
    for name in [name for name in __import__("os").environ if name.startswith("LOG_LEVEL")]:
        monkeypatch.delenv(name)

    def run(**options: Any) -> Output:
        stream = io.StringIO()
        options.setdefault("log_dir", tmp_path / "logs")
        options.setdefault("json", True)
        setup = configure_logging(options.pop("service", "ingest"), stream=stream, **options)
        return Output(setup, stream)

    yield run
    shutdown_logging()
    structlog.contextvars.clear_contextvars()


def test_a_line_inside_a_trace_context_carries_the_trace(configure: Callable[..., Output]) -> None:
    out = configure()
    tid = new_trace_id()
    with trace_context(tid, type="transform", name="foo_to_bar") as ctx:
        structlog.get_logger().info("processing", records=5)
    [line] = out.lines()
    assert line["trace_id"] == tid
    assert line["span_id"] == ctx.span_id
    assert (line["type"], line["name"]) == ("transform", "foo_to_bar")
    assert (line["event"], line["level"], line["service"]) == ("processing", "info", "ingest")
    assert line["records"] == 5
    assert time.strptime(line["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")
    assert out.file_lines() == [line]


def test_inside_an_opentelemetry_span_the_span_id_is_the_spans(
    configure: Callable[..., Output],
) -> None:
    out = configure()
    exporter = InMemorySpanExporter()
    provider = configure_tracing("ingest", exporter=exporter, batch=False, set_global=False)
    assert provider is not None
    tid = new_trace_id()
    with (
        trace_context(tid, type="api", name="leaderboard"),
        provider.get_tracer("test").start_as_current_span("query") as span,
    ):
        structlog.get_logger().info("querying")
    [line] = out.lines()
    [finished] = exporter.get_finished_spans()
    assert trace_id_from_int(span.get_span_context().trace_id) == tid == line["trace_id"]
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert finished.context is not None
    assert finished.context.span_id == span.get_span_context().span_id
    provider.shutdown()


def test_stdlib_records_come_out_as_the_same_json(configure: Callable[..., Output]) -> None:
    out = configure()
    with trace_context(type="sync", name="UserEvent") as ctx:
        logging.getLogger("urllib3.connectionpool").warning(
            "retrying %s", "/insert", extra={"retry_count": 2}
        )
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError:
            logging.getLogger("clickhouse").exception("insert failed")
    retry, failure = out.lines()
    assert retry["event"] == "retrying /insert"
    assert retry["level"] == "warning"
    assert retry["logger"] == "urllib3.connectionpool"
    assert retry["trace_id"] == ctx.trace_id == failure["trace_id"]
    assert retry["span_id"] == ctx.span_id
    assert retry["retry_count"] == 2
    assert retry["service"] == "ingest"
    assert failure["level"] == "error"
    assert failure["error_category"] == "connection_error"
    assert failure["error_type"] == "ConnectionResetError"
    assert "peer reset" in failure["stack"]


def test_log_level_applies_to_structlog_and_stdlib(
    configure: Callable[..., Output], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    out = configure()
    structlog.get_logger("app").info("hidden")
    logging.getLogger("lib").info("hidden too")
    structlog.get_logger("app").warning("shown")
    logging.getLogger("lib").error("shown too")
    assert [line["event"] for line in out.lines()] == ["shown", "shown too"]
    assert out.setup.level == "warning"


def test_per_module_levels_from_the_environment_and_from_code(
    configure: Callable[..., Output], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "info")
    monkeypatch.setenv("LOG_LEVEL_MOOSE_TRACE_KAFKA", "debug")
    out = configure(levels={"noisy.lib": "error"})
    structlog.get_logger("moose_trace.kafka").debug("kafka debug")
    structlog.get_logger("moose_trace.kafka.consumer").debug("child debug")
    logging.getLogger("moose_trace.kafka").debug("stdlib kafka debug")
    structlog.get_logger("moose_trace.asgi").debug("other debug")
    logging.getLogger("other").debug("stdlib other debug")
    logging.getLogger("noisy.lib.pool").warning("noisy warning")
    logging.getLogger("noisy.lib").error("noisy error")
    lines = out.lines()
    assert [line["event"] for line in lines] == [
        "kafka debug",
        "child debug",
        "stdlib kafka debug",
        "noisy error",
    ]
    assert lines[0]["logger"] == "moose_trace.kafka"


def test_an_invalid_level_is_reported_and_info_is_used(
    configure: Callable[..., Output],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = f"loud-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("LOG_LEVEL", bad)
    out = configure()
    structlog.get_logger().info("still logged")
    assert [line["event"] for line in out.lines()] == ["still logged"]
    assert f"unknown log level '{bad}'" in capsys.readouterr().err


def test_configuring_twice_does_not_duplicate_anything(configure: Callable[..., Output]) -> None:
    log = structlog.get_logger("cached")
    configure(service="first")
    log.info("one")  # caches the logger on first use
    out = configure(service="ingest")
    log.info("two")
    logging.getLogger("lib").warning("three")
    bridges = [h for h in logging.getLogger().handlers if type(h).__name__ == "_StdlibBridge"]
    assert len(bridges) == 1
    assert [(line["event"], line["service"]) for line in out.lines()] == [
        ("two", "ingest"),
        ("three", "ingest"),
    ]
    assert [line["event"] for line in out.file_lines()] == ["two", "three"]


def test_the_daily_file_is_in_the_default_log_directory(
    configure: Callable[..., Output], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "env-dir"))
    out = configure(log_dir=None, service="ingest api")
    structlog.get_logger().info("hello")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    path = tmp_path / "env-dir" / f"ingest_api-{today}.jsonl"
    assert out.setup.log_file() == path
    assert [orjson.loads(line)["event"] for line in path.read_bytes().splitlines()] == ["hello"]


def test_events_go_to_the_file_of_their_own_date(configure: Callable[..., Output]) -> None:
    out = configure()
    for created, message in [(1_767_916_800.5, "jan 9"), (1_768_003_199.0, "jan 9 late")]:
        record = logging.LogRecord("lib", logging.WARNING, __file__, 1, message, (), None)
        record.created = created
        logging.getLogger("lib").handle(record)
    late = logging.LogRecord("lib", logging.WARNING, __file__, 1, "jan 10", (), None)
    late.created = 1_768_003_200.25
    logging.getLogger("lib").handle(late)
    assert [line["event"] for line in out.file_lines("2026-01-09")] == ["jan 9", "jan 9 late"]
    [jan10] = out.file_lines("2026-01-10")
    assert jan10["timestamp"] == "2026-01-10T00:00:00.250000Z"


class ListSink:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []
        self.flushed = 0
        self.closed = 0

    def write(self, event: Mapping[str, Any]) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed += 1


class JsonSink:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, event: Mapping[str, Any]) -> None:
        raise AssertionError("write_json is preferred when a sink has it")

    def write_json(self, line: bytes) -> None:
        self.lines.append(line)


def test_secrets_never_reach_stdout_the_file_or_a_sink(configure: Callable[..., Output]) -> None:
    sink, json_sink = ListSink(), JsonSink()
    out = configure(sinks=[sink, json_sink])
    with trace_context():
        bind_fields(auth_token="ctx-secret-1")
        structlog.get_logger().info(
            "calling with Bearer hdr-secret-2",
            password="kw-secret-3",
            request={"headers": {"Authorization": "Basic kw-secret-4"}, "jwt_in_text": JWT},
            dsn="postgres://app:url-secret-5@db/main",
        )
        logging.getLogger("lib").warning("connect postgres://u:std-secret-6@db/x")
    written = [
        out.stream.getvalue(),
        out.setup.log_file().read_text(),  # type: ignore[union-attr]
        repr(sink.events),
        repr(json_sink.lines),
    ]
    for text in written:
        for secret in ("secret-1", "secret-2", "secret-3", "secret-4", "secret-5", "secret-6", JWT):
            assert secret not in text
    assert len(sink.events) == len(json_sink.lines) == 2
    assert orjson.loads(json_sink.lines[0]) == out.lines()[0] == sink.events[0]


def test_a_failing_sink_is_reported_once_and_logging_goes_on(
    configure: Callable[..., Output], capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken:
        def write(self, event: Mapping[str, Any]) -> None:
            raise OSError("sink down")

    healthy = ListSink()
    out = configure(sinks=[Broken(), healthy])
    for n in range(3):
        structlog.get_logger().info("event", n=n)
    assert len(out.lines()) == len(healthy.events) == 3
    assert capsys.readouterr().err.count("sink down") == 1


def test_sinks_are_flushed_and_closed_on_shutdown(configure: Callable[..., Output]) -> None:
    sink = ListSink()
    configure(sinks=[sink])
    shutdown_logging()
    assert (sink.flushed, sink.closed) == (1, 1)
    assert not [h for h in logging.getLogger().handlers if type(h).__name__ == "_StdlibBridge"]


def test_console_text_for_humans_and_json_in_the_file(configure: Callable[..., Output]) -> None:
    out = configure(json=False)
    structlog.get_logger().info("processing", records=5)
    try:
        raise ValueError("bad record")
    except ValueError:
        structlog.get_logger().exception("failed")
    text = out.stream.getvalue()
    assert "processing" in text
    assert "records=5" in text
    assert "error_category=validation_error" in text
    assert "\nTraceback (most recent call last):\n" in text
    assert not text.startswith("{")
    assert out.file_lines()[0]["records"] == 5
    assert out.setup.json is False


def test_payloads_only_on_opt_in(configure: Callable[..., Output]) -> None:
    out = configure()
    structlog.get_logger().info("transformed", payload={"id": 1}, input=1, output=2)
    assert "payload" not in out.lines()[0]
    out = configure(include_payload=True)
    structlog.get_logger().info("transformed", payload={"id": 1, "password": "p"})
    assert out.lines()[0]["payload"] == {"id": 1, "password": "[REDACTED]"}


def test_extra_processors_run_before_redaction(configure: Callable[..., Output]) -> None:
    def add_build(logger: Any, method_name: str, event_dict: Any) -> Any:
        event_dict["build"] = "42"
        event_dict["api_key"] = "from-a-processor"
        return event_dict

    out = configure(extra_processors=[add_build])
    structlog.get_logger().info("hello")
    assert out.lines()[0]["build"] == "42"
    assert out.lines()[0]["api_key"] == "[REDACTED]"


def test_stdout_can_be_turned_off_and_the_file_too(configure: Callable[..., Output]) -> None:
    out = configure(stdout=False)
    structlog.get_logger().info("file only")
    assert out.stream.getvalue() == ""
    assert out.file_lines()[0]["event"] == "file only"
    out = configure(log_dir=False)
    structlog.get_logger().info("stdout only")
    assert out.setup.log_file() is None
    assert out.lines()[0]["event"] == "stdout only"


def test_an_unwritable_log_dir_is_reported_and_stdout_still_works(
    configure: Callable[..., Output], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    out = configure(log_dir=blocker / "logs")
    structlog.get_logger().info("still here")
    assert out.lines()[0]["event"] == "still here"
    assert "cannot open log file" in capsys.readouterr().err


def test_values_json_cannot_hold_are_written_as_text(configure: Callable[..., Output]) -> None:
    out = configure()
    structlog.get_logger().info(
        "odd", huge=2**70, raw=b"\xffbytes", tags={"a"}, obj=object(), lone="\udc80", keys={1: 2}
    )
    line = out.lines()[0]
    assert line["lone"] == "\\udc80"
    assert line["keys"] == {"1": 2}
    assert line["huge"] == str(2**70)
    assert line["raw"] == "\\xffbytes"
    assert line["tags"] in (["a"], "{'a'}")
    assert line["obj"].startswith("<object object")


def test_threads_never_mix_ids(configure: Callable[..., Output]) -> None:
    out = configure()
    log = structlog.get_logger("worker")
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        with trace_context(worker=worker):
            start.wait()
            for n in range(100):
                log.info("step", n=n)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _assert_one_trace_per_worker(out.lines(), workers=8, each=100)


def test_asyncio_tasks_never_mix_ids(configure: Callable[..., Output]) -> None:
    out = configure()
    log = structlog.get_logger("worker")

    async def work(worker: int) -> None:
        async with trace_context(worker=worker):
            for n in range(50):
                log.info("step", n=n)
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(work(i) for i in range(10)))

    asyncio.run(main())
    _assert_one_trace_per_worker(out.lines(), workers=10, each=50)


def _assert_one_trace_per_worker(lines: list[dict[str, Any]], workers: int, each: int) -> None:
    ids: dict[int, set[tuple[str, str]]] = {}
    for line in lines:
        ids.setdefault(line["worker"], set()).add((line["trace_id"], line["span_id"]))
    assert len(lines) == workers * each
    assert all(len(pairs) == 1 for pairs in ids.values())
    assert len({pair for pairs in ids.values() for pair in pairs}) == workers


_CHILD = """
import sys, structlog
from moose_trace.logging.config import configure_logging
configure_logging("shared", log_dir=sys.argv[1], stdout=False, bridge_stdlib=False)
log = structlog.get_logger()
for n in range(int(sys.argv[2])):
    log.info("line", writer=sys.argv[3], n=n, padding="x" * 5000)
"""


def test_processes_sharing_a_daily_file_never_interleave_lines(tmp_path: Path) -> None:
    count = 300
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), str(count), str(writer)])
        for writer in range(3)
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0]
    [path] = tmp_path.glob("shared-*.jsonl")
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(lines) == 3 * count
    for writer in ("0", "1", "2"):
        assert [line["n"] for line in lines if line["writer"] == writer] == list(range(count))


def test_a_stdlib_call_with_bad_format_arguments_is_still_logged(
    configure: Callable[..., Output],
) -> None:
    out = configure()
    record = logging.LogRecord(
        "lib", logging.WARNING, __file__, 1, "expected %d items", ("many",), None
    )
    # Handed to the bridge alone: pytest's own capturing handler would fail the test on it.
    [bridge] = [h for h in logging.getLogger().handlers if type(h).__name__ == "_StdlibBridge"]
    bridge.handle(record)
    [line] = out.lines()
    assert line["event"] == "expected %d items ('many',)"


def test_by_default_lines_go_to_whatever_stdout_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("ingest", json=True, log_dir=tmp_path)
    try:
        print("printed first", end="")
        structlog.get_logger().info("to stdout")
    finally:
        shutdown_logging()
    # Text printed before goes out first, then the whole line.
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith("printed first{")
    assert orjson.loads(first_line.removeprefix("printed first"))["event"] == "to stdout"


field_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10).filter(lambda key: key != "event"), field_values, max_size=5
    ),
    st.text(),
)
def test_any_fields_give_one_valid_json_line(fields: dict[str, Any], message: str) -> None:
    stream = io.StringIO()
    configure_logging("fuzz", stream=stream, json=True, log_dir=False)
    try:
        structlog.get_logger().warning(message, **fields)
    finally:
        shutdown_logging()
    # Split on "\n" only, as JSON Lines says: a message may hold U+2028 or U+0085, which
    # str.splitlines() would also split on.
    [line] = stream.getvalue().removesuffix("\n").split("\n")
    assert orjson.loads(line)["level"] == "warning"


def test_fields_named_like_the_methods_parameters_are_logged(
    configure: Callable[..., Output],
) -> None:
    """A field may be called ``self`` or ``level``: it is logged, never a TypeError."""
    out = configure()
    log = structlog.get_logger()
    log.info("one", self="me", level_hint=1)
    log.log(logging.WARNING, "two", self="you")
    log.exception("three", self="it")
    one, two, three = out.lines()
    assert (one["event"], one["self"]) == ("one", "me")
    assert (two["event"], two["self"], two["level"]) == ("two", "you", "warning")
    assert (three["event"], three["self"], three["level"]) == ("three", "it", "error")


def test_moose_traces_own_lines_are_exactly_what_structlog_writes(
    configure: Callable[..., Output],
) -> None:
    out = configure(levels={"moose_trace.quiet": "warning"})
    direct, plain = direct_logger("moose_trace.own"), structlog.get_logger("moose_trace.own")
    with trace_context(new_trace_id(), type="transform", name="foo_to_bar"):
        bind_fields(principal="alice")
        for log in (direct, plain):
            log.info("record transformed", status="success", latency_ms=1.5, password="hunter2")
            log.debug("below the level")
        direct_logger("moose_trace.quiet").info("below its module's level")
        direct_logger("moose_trace.quiet").warning("slow", latency_ms=2000.0)
    ours, structlogs, slow = out.lines()
    ours.pop("timestamp")
    structlogs.pop("timestamp")
    assert list(ours.items()) == list(structlogs.items())  # the same fields in the same order
    assert ours["password"] == "[REDACTED]"
    assert (ours["logger"], ours["principal"], ours["level"]) == (
        "moose_trace.own",
        "alice",
        "info",
    )
    assert (slow["event"], slow["level"]) == ("slow", "warning")


def test_moose_traces_own_lines_follow_every_later_setup(configure: Callable[..., Output]) -> None:
    direct = direct_logger("moose_trace.later")
    direct.info("before any setup")  # structlog's defaults: no error
    out = configure(level="warning")
    direct.info("dropped")
    direct.error("kept")
    again = configure(level="debug")  # reconfigured: the new level applies at once
    direct.info("kept too")
    assert [line["event"] for line in out.lines()] == ["kept"]
    assert [line["event"] for line in again.lines()] == ["kept too"]
    captured = structlog.testing.LogCapture()
    structlog.configure(processors=[captured])  # the app takes structlog over afterwards
    direct.warning("to the app's chain", latency_ms=3)
    assert again.lines()[-1]["event"] == "kept too"
    assert captured.entries == [
        {
            "logger": "moose_trace.later",
            "event": "to the app's chain",
            "latency_ms": 3,
            "log_level": "warning",
        }
    ]
