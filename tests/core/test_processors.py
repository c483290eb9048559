"""The public processors, one by one and in a user's own structlog chain."""

from __future__ import annotations

import datetime
import io
import logging
import re
import sys
from collections.abc import Iterator

import orjson
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from structlog.contextvars import merge_contextvars

from moose_trace.logging import processors
from moose_trace.logging.processors import (
    TraceFields,
    add_error_fields,
    add_log_level,
    add_timestamp,
    add_trace_fields,
    drop_payload,
    iso_timestamp,
    level_name,
    merge_context,
    redact,
)
from moose_trace.tracing.context import bind_fields, trace_context
from moose_trace.tracing.ids import new_trace_id, trace_id_from_int
from moose_trace.tracing.otel import otel_context_for

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@pytest.fixture(autouse=True)
def _clean_context() -> None:
    structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("debug", "debug"),
        ("info", "info"),
        ("msg", "info"),
        ("warn", "warning"),
        ("WARNING", "warning"),
        ("exception", "error"),
        ("fatal", "critical"),
        ("CRITICAL", "critical"),
        ("trace", "debug"),
        ("whatever", "info"),
    ],
)
def test_add_log_level_normalizes_every_spelling(method: str, level: str) -> None:
    assert add_log_level(None, method, {})["level"] == level


def test_level_name_of_stdlib_numbers() -> None:
    assert [level_name(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [
        "debug",
        "debug",
        "info",
        "info",
        "warning",
        "error",
        "critical",
        "critical",
    ]


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    stamp = add_timestamp(None, "info", {})["timestamp"]
    after = datetime.datetime.now(datetime.timezone.utc)
    assert TIMESTAMP.fullmatch(stamp)
    parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before - datetime.timedelta(milliseconds=1) <= parsed <= after
    assert iso_timestamp(1_767_954_600_123_456_789) == "2026-01-09T10:30:00.123456Z"
    assert iso_timestamp(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_timestamp(1_767_954_600_000_000_000).endswith(".000000Z")


def test_trace_fields_come_from_the_trace_context() -> None:
    tid = new_trace_id()
    with trace_context(tid, type="transform") as outer, trace_context(name="inner") as inner:
        event = TraceFields("ingest")(None, "info", merge_contextvars(None, "info", {}))
    assert event == {
        "trace_id": tid,
        "type": "transform",
        "name": "inner",
        "service": "ingest",
        "span_id": inner.span_id,
        "parent_span_id": outer.span_id,
    }


def test_outside_any_context_only_the_service_is_added() -> None:
    assert TraceFields("ingest")(None, "info", {"event": "x"}) == {
        "event": "x",
        "service": "ingest",
    }
    assert add_trace_fields(None, "info", {"event": "x"}) == {"event": "x"}


def test_fields_already_in_the_event_win() -> None:
    with trace_context():
        event = TraceFields("ingest")(None, "info", {"service": "other", "span_id": "abc"})
    assert event["service"] == "other"
    assert event["span_id"] == "abc"


def test_a_trace_id_not_from_the_context_gets_no_foreign_span_id() -> None:
    other = new_trace_id()
    with trace_context():
        event = add_trace_fields(None, "info", {"trace_id": other})
    assert event == {"trace_id": other}


@pytest.fixture
def tracer() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    provider.shutdown()


def test_inside_an_opentelemetry_span_its_ids_are_used(tracer: TracerProvider) -> None:
    with tracer.get_tracer("t").start_as_current_span("outer") as outer:  # noqa: SIM117
        with tracer.get_tracer("t").start_as_current_span("inner") as inner:
            event = add_trace_fields(None, "info", {})
    assert event == {
        "trace_id": trace_id_from_int(inner.get_span_context().trace_id),
        "span_id": f"{inner.get_span_context().span_id:016x}",
        "parent_span_id": f"{outer.get_span_context().span_id:016x}",
    }


def test_a_span_of_another_trace_does_not_override_the_context(tracer: TracerProvider) -> None:
    with (
        tracer.get_tracer("t").start_as_current_span("unrelated"),
        trace_context(new_trace_id()) as ctx,
    ):
        event = add_trace_fields(None, "info", merge_contextvars(None, "info", {}))
    assert event["trace_id"] == ctx.trace_id
    assert event["span_id"] == ctx.span_id


def test_a_trace_context_opened_inside_a_span_joins_the_spans_trace(
    tracer: TracerProvider,
) -> None:
    with tracer.get_tracer("t").start_as_current_span("root") as span, trace_context() as ctx:
        event = add_trace_fields(None, "info", merge_contextvars(None, "info", {}))
    assert ctx.trace_id == trace_id_from_int(span.get_span_context().trace_id)
    assert event["trace_id"] == ctx.trace_id


def test_a_remote_parent_is_not_this_process_span() -> None:
    tid = new_trace_id()
    remote = otel_context_for(tid, "00f067aa0ba902b7")
    token = otel_context.attach(remote)
    try:
        with trace_context(tid) as ctx:
            event = add_trace_fields(None, "info", merge_contextvars(None, "info", {}))
    finally:
        otel_context.detach(token)
    assert event["span_id"] == ctx.span_id


def test_exc_info_becomes_error_fields() -> None:
    try:
        raise TimeoutError("query timed out after 5000 ms")
    except TimeoutError:
        event = add_error_fields(None, "error", {"event": "insert failed", "exc_info": True})
        from_tuple = add_error_fields(None, "error", {"exc_info": sys.exc_info()})
    assert "exc_info" not in event
    assert event["error_category"] == "timeout_error"
    assert event["error_type"] == "TimeoutError"
    assert event["error_message"] == "query timed out after 5000 ms"
    assert event["error_signature"].startswith("v1_")
    assert "raise TimeoutError" in event["stack"]
    assert from_tuple["error_signature"] == event["error_signature"]


@pytest.mark.parametrize("key", ["error", "exception", "exc", "err", "exc_info"])
def test_an_exception_logged_as_a_field_becomes_error_fields(key: str) -> None:
    event = add_error_fields(None, "error", {key: ConnectionRefusedError("refused")})
    assert key not in event
    assert event["error_category"] == "connection_error"
    assert "stack" not in event  # never raised: no traceback


def test_fields_set_by_the_caller_win_and_plain_error_text_stays() -> None:
    event = add_error_fields(
        None, "error", {"error": ValueError("bad"), "error_category": "validation_error"}
    )
    assert event["error_category"] == "validation_error"
    assert add_error_fields(None, "warning", {"error": "just text"}) == {"error": "just text"}
    assert add_error_fields(None, "info", {"exc_info": True}) == {}  # no exception being handled


def test_an_error_described_by_hand_gets_a_signature() -> None:
    event = add_error_fields(
        None, "error", {"error_type": "TypeConversionError", "error_message": "field 'ts' 12"}
    )
    assert event["error_signature"].startswith("v1_")


def test_payload_is_dropped_unless_opted_in() -> None:
    assert drop_payload(None, "info", {"event": "x", "payload": 1, "input": 2, "output": 3}) == {
        "event": "x"
    }


def test_the_processors_work_in_a_users_own_chain() -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[
            merge_contextvars,
            add_log_level,
            add_error_fields,
            redact,
            add_trace_fields,
            add_timestamp,
            structlog.processors.JSONRenderer(serializer=lambda e, **_: orjson.dumps(e).decode()),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    try:
        with trace_context(type="api", name="leaderboard") as ctx:
            structlog.get_logger().warning("slow", api_key="k", latency_ms=5023)
    finally:
        structlog.reset_defaults()
    event = orjson.loads(out.getvalue())
    assert event["trace_id"] == ctx.trace_id
    assert event["span_id"] == ctx.span_id
    assert event["api_key"] == "[REDACTED]"
    assert event["level"] == "warning"
    assert TIMESTAMP.fullmatch(event["timestamp"])


_KEYS = st.sampled_from(["trace_id", "type", "name", "principal", "records", "kafka_topic", "x"])
_VALUES = st.one_of(st.integers(), st.text(max_size=5), st.none())


@given(
    bound=st.dictionaries(_KEYS.filter(lambda key: key != "trace_id"), _VALUES, max_size=4),
    fields=st.dictionaries(_KEYS.filter(lambda key: key != "trace_id"), _VALUES, max_size=4),
    added=st.dictionaries(_KEYS, _VALUES, max_size=3),
    unbound=st.lists(_KEYS, max_size=2),
    event=st.dictionaries(_KEYS, _VALUES, max_size=3),
)
def test_merge_context_adds_exactly_what_structlogs_merge_adds(
    bound: dict[str, object],
    fields: dict[str, object],
    added: dict[str, object],
    unbound: list[str],
    event: dict[str, object],
) -> None:
    structlog.contextvars.clear_contextvars()
    outside = (
        merge_context(None, "info", dict(event)),
        merge_contextvars(None, "info", dict(event)),
    )
    assert outside[0] == outside[1]
    structlog.contextvars.bind_contextvars(**bound)
    with trace_context(new_trace_id(), **fields):
        bind_fields(**added)
        structlog.contextvars.unbind_contextvars(*unbound)
        ours = merge_context(None, "info", dict(event))
        theirs = merge_contextvars(None, "info", dict(event))
    assert ours == theirs
    assert merge_context(None, "info", {}) == merge_contextvars(None, "info", {})
    structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize("tracked", [64, 2])  # 2: more keys than it reads one by one
def test_merge_context_sees_keys_bound_later_and_any_number_of_them(
    tracked: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processors, "_MAX_KNOWN", tracked)
    monkeypatch.setattr(processors, "_known_size", -1)  # take the limit into account now
    assert merge_context(None, "info", {}) == {}
    many = {f"merge_test_key_{n}": n for n in range(5)}
    with trace_context(type="ingest", **many) as ctx:
        late = f"merge_test_late_{tracked}"  # a key new to structlog: its ContextVar made now
        structlog.contextvars.bind_contextvars(**{late: "alice"})
        event = merge_context(None, "info", {"event": "x", "type": "mine"})
        assert event == merge_contextvars(None, "info", {"event": "x", "type": "mine"})
    assert event == {
        "event": "x",
        "type": "mine",
        "trace_id": ctx.trace_id,
        late: "alice",
        **many,
    }
    structlog.contextvars.unbind_contextvars(late)  # bound past the context: not undone by it
    monkeypatch.undo()
    processors._known_size = -1
