"""The fast log line writes exactly what structlog's general path through the same chain writes.

``configure_logging`` installs ``MooseBoundLogger``, which hands an event to the chain compiled
into one function. Here random events go through it and through structlog's own ``BoundLogger``
running the very processors list ``configure_logging`` gave structlog: the bytes must be equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moose_trace.logging import processors
from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.tracing.context import trace_context

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
FROZEN_NS = 1_767_916_800_123_456_000  # 2026-01-09T00:00:00.123456Z


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Both paths stamp the event: the same instant makes their bytes comparable.
    monkeypatch.setattr(processors, "_now_ns", lambda: FROZEN_NS)
    yield
    shutdown_logging()
    structlog.contextvars.clear_contextvars()


def _configure(stream: io.BytesIO, **options: Any) -> None:
    configure_logging("svc", stream=stream, json=True, log_dir=False, **options)


def _general(level: str, event: str, context: dict[str, Any], fields: dict[str, Any]) -> None:
    """structlog's stock ``BoundLogger`` over the processors ``configure_logging`` configured."""
    chain = structlog.get_config()["processors"]
    logger = structlog.BoundLogger(structlog.ReturnLogger(), processors=chain, context={})
    getattr(logger.bind(**context), level)(event, **fields)


def _fast(level: str, event: str, context: dict[str, Any], fields: dict[str, Any]) -> None:
    logger = structlog.get_logger()
    if context:
        logger = logger.bind(**context)
    getattr(logger, level)(event, **fields)


def _take(stream: io.BytesIO) -> bytes:
    written = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return written


KEYS = st.sampled_from(
    [
        "records",
        "kafka_topic",
        "user",
        "password",
        "api_key",
        "Authorization",
        "max_tokens",
        "payload",
        "input",
        "note",
        "url",
        "trace_id",
        "span_id",
        "service",
        "level",
        "error_type",
        "error_message",
        "type",
        "name",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            JWT,
            "Bearer abcdef123456",
            "postgres://app:hunter2@db:5432/x",
            "password=swordfish and more",
            "token: abc123def",
            "orders",
            "01a2511c-41bd-7573-ad73-4f174dafe23f",
        ]
    ),
)
SCALARS = st.one_of(
    TEXTS, st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.booleans(), st.none()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=3),
        st.tuples(st.sampled_from(["authorization", "x-id"]), inner),
    ),
    max_leaves=6,
)
EVENTS = st.fixed_dictionaries(
    {
        "level": st.sampled_from(["debug", "info", "warning", "error", "critical", "exception"]),
        "event": TEXTS,
        "fields": st.dictionaries(KEYS, VALUES, max_size=8),
        "context": st.dictionaries(KEYS, SCALARS, max_size=3),
        "contextvars": st.dictionaries(KEYS, SCALARS, max_size=3),
        "trace": st.sampled_from(["given", "new", None]),
        "error": st.booleans(),
    }
)


def _same_bytes_both_ways(stream: io.BytesIO, case: dict[str, Any]) -> None:
    fields = dict(case["fields"])
    if case["error"]:
        fields["error"] = ValueError("connection refused: password=swordfish")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**case["contextvars"])
    paths = {}
    with contextlib.ExitStack() as stack:
        if case["trace"] == "given":  # one context for both: the same span id
            stack.enter_context(trace_context("01a2511c-41bd-7573-ad73-4f174dafe23f", type="t"))
        elif case["trace"] == "new":  # a new trace's id: passed through redaction unread
            stack.enter_context(trace_context(type="t"))
        for name, write in (("fast", _fast), ("general", _general)):
            write(case["level"], case["event"], case["context"], dict(fields))
            paths[name] = _take(stream)
    assert paths["fast"] == paths["general"]
    assert paths["fast"].endswith(b"\n")
    orjson.loads(paths["fast"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=EVENTS)
def test_fast_line_writes_the_general_chains_bytes(case: dict[str, Any]) -> None:
    stream = io.BytesIO()
    _configure(stream, level="debug")
    _same_bytes_both_ways(stream, case)


def _add_region(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    event_dict["region"] = "eu-1"
    event_dict["db_password"] = "added by a processor"  # redacted: extras run before redaction
    return event_dict


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=EVENTS, include_payload=st.booleans(), redact=st.booleans())
def test_fast_line_with_extra_processors_and_options(
    case: dict[str, Any], include_payload: bool, redact: bool
) -> None:
    stream = io.BytesIO()
    _configure(
        stream,
        level="debug",
        extra_processors=[_add_region],
        include_payload=include_payload,
        redact=redact,
    )
    _same_bytes_both_ways(stream, case)


def test_an_extra_processor_may_drop_events() -> None:
    def drop_noise(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if event_dict.get("event") == "noise":
            raise structlog.DropEvent
        return event_dict

    stream = io.BytesIO()
    _configure(stream, extra_processors=[drop_noise])
    log = structlog.get_logger()
    log.info("noise")
    log.info("signal")
    assert [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["signal"]


def test_the_bound_logger_api_users_call() -> None:
    stream = io.BytesIO()
    _configure(stream, levels={"quiet": "warning"})
    log = structlog.get_logger("app")
    log.info("%s records from %s", 5, "orders")
    log.log(logging.WARNING, "custom level", code=7)
    log.log(25, "between info and warning")
    bound = log.bind(order=1).new(user="u1").bind(step="a").unbind("step")
    bound.warning("bound")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("failed")
    asyncio.run(log.ainfo("from a coroutine", records=1))
    quiet = structlog.get_logger("quiet")
    quiet.info("not written")
    quiet.error("written")
    assert quiet.bind().is_enabled_for(logging.WARNING)
    assert not quiet.bind().is_enabled_for(logging.INFO)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line["level"], line["logger"]) for line in lines] == [
        ("5 records from orders", "info", "app"),
        ("custom level", "warning", "app"),
        ("between info and warning", "info", "app"),
        ("bound", "warning", "app"),
        ("failed", "error", "app"),
        ("from a coroutine", "info", "app"),
        ("written", "error", "quiet"),
    ]
    assert lines[3]["user"] == "u1"
    assert "order" not in lines[3]
    assert "step" not in lines[3]
    assert lines[4]["error_type"] == "KeyError"


def test_a_logger_cached_on_first_use_follows_a_new_level_and_destination() -> None:
    first, second = io.BytesIO(), io.BytesIO()
    _configure(first)
    log = structlog.get_logger("svc.module")
    log.debug("hidden")
    log.info("one")
    _configure(second, level="debug")
    log.debug("two")
    assert [orjson.loads(line)["event"] for line in first.getvalue().splitlines()] == ["one"]
    assert [orjson.loads(line)["event"] for line in second.getvalue().splitlines()] == ["two"]


def test_processors_replaced_by_the_user_are_run_instead() -> None:
    stream = io.BytesIO()
    _configure(stream)
    seen: list[dict[str, Any]] = []

    def collect(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        seen.append(dict(event_dict))
        return ""

    structlog.configure(processors=[collect])
    structlog.get_logger().info("through the user's chain", records=2)
    assert seen == [{"records": 2, "event": "through the user's chain"}]
    assert stream.getvalue() == b""


def test_each_line_reaches_the_file_descriptor_before_the_call_returns(tmp_path: Any) -> None:
    path = tmp_path / "out.jsonl"
    with open(path, "wb") as target:
        target.write(b"before\n")  # buffered in the stream: must come out first
        configure_logging("svc", stream=target, json=True, log_dir=False)
        structlog.get_logger().info("line", records=1)
        written = os.read(os.open(path, os.O_RDONLY), 1000)
    assert written.splitlines()[0] == b"before"
    assert orjson.loads(written.splitlines()[1])["event"] == "line"


def test_the_caller_location_names_the_code_that_logged() -> None:
    stream = io.BytesIO()
    _configure(stream, caller=True)

    def handle_order() -> None:
        structlog.get_logger("orders").info("handled")

    handle_order()
    line = orjson.loads(stream.getvalue())
    assert line["function"].endswith("handle_order")
    assert line["file"] == __file__


def test_only_the_contexts_own_trace_id_passes_redaction_unread() -> None:
    # The context's id is canonical by construction; anything else under ``trace_id`` (a value
    # bound over it, the same text made by other means) is still screened.
    stream = io.BytesIO()
    _configure(stream)
    secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    log = structlog.get_logger()
    with trace_context(type="t") as context:
        log.info("own id")
        assert orjson.loads(_take(stream))["trace_id"] == context.trace_id
        structlog.contextvars.bind_contextvars(trace_id=secret)
        log.info("bound over it")
        assert secret not in _take(stream).decode()
        log.info("given as a field", trace_id=secret, note=secret)
        line = orjson.loads(_take(stream))
        assert line["note"] == "[REDACTED]"
        assert secret not in str(line)
