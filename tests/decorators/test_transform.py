"""@traced_transform with the real logging chain: the lines a transform leaves, call by call."""

from __future__ import annotations

import asyncio
import inspect
import random
import subprocess
import sys
from typing import Any

import pytest
import structlog
from confluent_kafka import Message
from decorator_helpers import Logs

from moose_trace import trace_context
from moose_trace.decorators import traced_transform
from moose_trace.tracing.context import current_fields, current_trace_id
from moose_trace.tracing.ids import new_trace_id, parse_trace_id

log = structlog.get_logger("app.transforms")


class ListSink:
    """A real dead-letter sink: keeps what it is sent, and the trace it was sent in."""

    topic = "FooDeadLetter"

    def __init__(self) -> None:
        self.sent: list[tuple[Any, BaseException, str | None]] = []

    def send(self, record: object, error: BaseException) -> None:
        self.sent.append((record, error, current_trace_id()))


class BrokenSink:
    """A dead-letter sink whose destination is down."""

    name = "BrokenDeadLetter"

    def send(self, record: object, error: BaseException) -> None:
        raise ConnectionError("dead-letter topic unreachable")


def foo_message(trace_id: str, offset: int = 12345, value: bytes = b'{"value": 42}') -> Message:
    return Message(
        topic="Foo",
        partition=2,
        offset=offset,
        value=value,
        headers=[("trace_id", trace_id.encode()), ("origin", b"ingest")],
    )


def test_a_dict_record_is_traced_by_its_own_trace_id(logs: Logs) -> None:
    @traced_transform(source="Foo", target="Bar")
    def foo_to_bar(record: dict[str, Any]) -> dict[str, Any]:
        log.info("computing")
        return {"id": record["id"], "computed": record["value"] * 2}

    trace_id = new_trace_id()
    assert foo_to_bar({"id": "abc123", "value": 42, "trace_id": trace_id}) == {
        "id": "abc123",
        "computed": 84,
    }
    line = logs.one(event="record transformed")
    assert line["level"] == "info"
    assert line["trace_id"] == trace_id
    assert line["status"] == "success"
    assert line["type"] == "transform"
    assert line["name"] == "foo_to_bar"
    assert line["layer"] == "streaming"
    assert (line["source"], line["target"]) == ("Foo", "Bar")
    assert isinstance(line["latency_ms"], float)
    assert line["latency_ms"] >= 0
    assert "payload" not in line
    inner = logs.lines(logger="app.transforms")
    assert [(e["event"], e["trace_id"], e["name"], e["source"]) for e in inner] == [
        ("computing", trace_id, "foo_to_bar", "Foo")
    ]


def test_a_kafka_message_gives_its_header_trace_id_and_position(logs: Logs) -> None:
    @traced_transform(source="Foo", target="Bar")
    def foo_to_bar(message: Message) -> bytes:
        return message.value() or b""

    trace_id = new_trace_id()
    foo_to_bar(foo_message(trace_id))
    line = logs.one(event="record transformed")
    assert line["trace_id"] == trace_id
    assert (line["kafka_topic"], line["kafka_partition"], line["kafka_offset"]) == ("Foo", 2, 12345)


def test_the_callers_trace_wins_over_the_records(logs: Logs) -> None:
    @traced_transform
    def enrich(record: dict[str, Any]) -> dict[str, Any]:
        return record

    with trace_context(kafka_topic="Foo") as outer:
        enrich({"trace_id": new_trace_id()})
        assert current_fields()["trace_id"] == outer.trace_id
        assert "type" not in current_fields()  # the call's fields are gone after it
    line = logs.one(event="record transformed")
    assert line["trace_id"] == outer.trace_id
    assert line["kafka_topic"] == "Foo"
    assert line["name"] == "enrich"


@pytest.mark.parametrize("record", [{"value": 1}, {"trace_id": "x\r\nSet-Cookie: a"}, 7, None])
def test_a_record_without_a_valid_trace_gets_a_fresh_one(logs: Logs, record: Any) -> None:
    @traced_transform()
    def passthrough(record: Any) -> Any:
        return record

    passthrough(record)
    passthrough(record)
    first, second = (line["trace_id"] for line in logs.lines())
    assert parse_trace_id(first) == first
    assert first != second
    assert "Set-Cookie" not in logs.raw()


async def test_async_transforms_stay_coroutines_and_are_traced(logs: Logs) -> None:
    @traced_transform(name="async_enrich", layer="enrichment")
    async def enrich(record: dict[str, Any]) -> int:
        await asyncio.sleep(0)
        return 1

    assert inspect.iscoroutinefunction(enrich)
    trace_id = new_trace_id()
    assert await enrich({"trace_id": trace_id}) == 1
    line = logs.one(event="record transformed")
    assert (line["trace_id"], line["name"], line["layer"]) == (
        trace_id,
        "async_enrich",
        "enrichment",
    )


def test_methods_take_the_record_after_self(logs: Logs) -> None:
    class Pipeline:
        factor = 3

        @traced_transform(source="Foo")
        def scale(self, record: dict[str, Any]) -> int:
            return int(record["value"]) * self.factor

        @traced_transform(source="Foo")
        @classmethod
        def double(cls, record: dict[str, Any]) -> int:
            return int(record["value"]) * 2

        @traced_transform(source="Foo")
        @staticmethod
        def negate(record: dict[str, Any]) -> int:
            return -int(record["value"])

    ids = [new_trace_id() for _ in range(3)]
    pipeline = Pipeline()
    assert pipeline.scale({"value": 2, "trace_id": ids[0]}) == 6
    assert Pipeline.double({"value": 2, "trace_id": ids[1]}) == 4
    assert pipeline.negate({"value": 2, "trace_id": ids[2]}) == -2
    assert [(line["name"], line["trace_id"]) for line in logs.lines()] == list(
        zip(["scale", "double", "negate"], ids, strict=True)
    )


def test_the_wrapper_looks_like_the_function() -> None:
    def foo_to_bar(record: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """Turn a Foo into a Bar."""
        return record

    traced = traced_transform(source="Foo")(foo_to_bar)
    assert traced.__name__ == "foo_to_bar"
    assert traced.__doc__ == "Turn a Foo into a Bar."
    assert inspect.signature(traced) == inspect.signature(foo_to_bar)
    assert traced.__wrapped__ is foo_to_bar  # type: ignore[attr-defined]
    assert not inspect.iscoroutinefunction(traced)


def test_a_failure_is_logged_with_its_category_and_reraised(logs: Logs) -> None:
    @traced_transform(source="Foo", target="Bar")
    def foo_to_bar(record: dict[str, Any]) -> int:
        return int(record["value"]) * 2

    trace_id = new_trace_id()
    with pytest.raises(TypeError) as raised:
        foo_to_bar({"value": None, "trace_id": trace_id})
    line = logs.one(event="transform failed")
    assert line["level"] == "error"
    assert line["status"] == "failed"
    assert line["trace_id"] == trace_id
    assert line["error_category"] == "code_error"
    assert line["error_type"] == "TypeError"
    assert line["error_message"] == str(raised.value)
    assert line["error_signature"].startswith("v1_")
    assert "foo_to_bar" in line["stack"]
    assert "int(record" in line["stack"]
    assert (line["source"], line["target"]) == ("Foo", "Bar")
    assert "dlq" not in line


def test_with_a_dlq_the_record_goes_there_in_its_trace_and_none_is_returned(logs: Logs) -> None:
    sink = ListSink()

    @traced_transform(source="Foo", target="Bar", dlq=sink)
    def foo_to_bar(message: Message) -> int:
        raise ValueError("value is null")

    trace_id = new_trace_id()
    message = foo_message(trace_id, offset=12346)
    assert foo_to_bar(message) is None
    [(record, error, sent_in)] = sink.sent
    assert record is message
    assert isinstance(error, ValueError)
    assert sent_in == trace_id
    line = logs.one(event="transform failed")
    assert line["level"] == "error"
    assert line["dlq"] == "FooDeadLetter"
    assert line["trace_id"] == trace_id
    assert line["kafka_offset"] == 12346
    assert line["error_type"] == "ValueError"


def test_a_dlq_that_fails_keeps_the_original_error_raised(logs: Logs) -> None:
    @traced_transform(dlq=BrokenSink())
    def foo_to_bar(record: dict[str, Any]) -> None:
        raise KeyError("value")

    with pytest.raises(KeyError):
        foo_to_bar({"value": 1})
    line = logs.one(event="transform failed")
    assert line["dlq"] == "BrokenDeadLetter"
    assert line["error_type"] == "KeyError"
    assert line["dlq_error_type"] == "ConnectionError"
    assert line["dlq_error_message"] == "dead-letter topic unreachable"


def test_cancellation_is_not_sent_to_the_dlq_and_propagates(logs: Logs) -> None:
    sink = ListSink()

    @traced_transform(dlq=sink)
    def interrupted(record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted({"value": 1})
    assert sink.sent == []
    line = logs.one(event="transform failed")
    assert (line["level"], line["status"]) == ("warning", "cancelled")


def test_a_slow_call_is_logged_at_warning(logs: Logs) -> None:
    @traced_transform(slow_ms=0)
    def slow(record: dict[str, Any]) -> None:
        return None

    @traced_transform(slow_ms=60_000)
    def quick(record: dict[str, Any]) -> None:
        return None

    slow({})
    quick({})
    slow_line = logs.one(name="slow")
    assert (slow_line["level"], slow_line["event"]) == ("warning", "record transformed")
    assert slow_line["slow_threshold_ms"] == 0
    quick_line = logs.one(name="quick")
    assert quick_line["level"] == "info"
    assert "slow_threshold_ms" not in quick_line


def test_payloads_are_logged_only_on_opt_in_and_always_redacted(configure: Any) -> None:
    logs = configure(include_payload=True)
    secret = "hunter2-very-secret"

    @traced_transform(include_payload=True, dlq=ListSink())
    def with_payload(record: dict[str, Any]) -> dict[str, Any]:
        if record.get("fail"):
            raise ValueError("bad record")
        return {"user": record["user"], "password": secret, "ok": True}

    @traced_transform()
    def without_payload(record: dict[str, Any]) -> dict[str, Any]:
        return record

    with_payload({"user": "ann", "password": secret, "note": f"password={secret}"})
    with_payload({"user": "bob", "api_key": secret, "fail": True})
    without_payload({"user": "cid", "password": secret})
    assert secret not in logs.raw()
    ok, failed = (line for line in logs.lines() if line["name"] == "with_payload")
    assert ok["payload"]["input"] == {
        "user": "ann",
        "password": "[REDACTED]",
        "note": "password=[REDACTED]",
    }
    assert ok["payload"]["output"] == {"user": "ann", "password": "[REDACTED]", "ok": True}
    assert failed["payload"] == {"input": {"user": "bob", "api_key": "[REDACTED]", "fail": True}}
    assert "payload" not in logs.one(name="without_payload")


def test_a_kafka_payload_is_shown_decoded_and_redacted(configure: Any) -> None:
    logs = configure(include_payload=True)

    @traced_transform(include_payload=True)
    def parse(message: Message) -> None:
        return None

    parse(foo_message(new_trace_id(), value=b'{"id": "abc123", "token": "s3cr3t-t0ken"}'))
    parse(foo_message(new_trace_id(), value=b"\xff not json"))
    payloads = [line["payload"]["input"] for line in logs.lines()]
    assert payloads == [{"id": "abc123", "token": "[REDACTED]"}, "\\xff not json"]


async def test_interleaved_async_transforms_never_mix_trace_ids(logs: Logs) -> None:
    @traced_transform(source="Foo", target="Bar")
    async def foo_to_bar(record: dict[str, Any]) -> str | None:
        for step in range(3):
            await asyncio.sleep(random.random() / 1000)
            log.info("step", step=step, record_id=record["id"])
        return current_trace_id()

    records = [{"id": i, "trace_id": new_trace_id()} for i in range(300)]
    results = await asyncio.gather(*(foo_to_bar(record) for record in records))
    assert results == [record["trace_id"] for record in records]
    expected = {record["id"]: record["trace_id"] for record in records}
    steps = logs.lines(logger="app.transforms")
    assert len(steps) == 900
    assert all(line["trace_id"] == expected[line["record_id"]] for line in steps)
    done = logs.lines()
    assert len(done) == 300
    assert {line["trace_id"] for line in done} == set(expected.values())


def test_bad_options_fail_at_decoration_time() -> None:
    with pytest.raises(TypeError, match="send"):
        traced_transform(dlq=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slow_ms"):
        traced_transform(slow_ms=-1)

    def numbers(record: object) -> Any:
        yield record

    with pytest.raises(TypeError, match="generator"):
        traced_transform()(numbers)


def test_the_logging_setup_can_still_refuse_payloads(logs: Logs) -> None:
    @traced_transform(include_payload=True)
    def with_payload(record: dict[str, Any]) -> dict[str, Any]:
        return record

    with_payload({"user": "ann"})
    assert "payload" not in logs.one(name="with_payload")
    assert "ann" not in logs.raw()


def test_importing_the_decorators_loads_no_kafka_client() -> None:
    code = (
        "import sys, moose_trace.decorators, moose_trace.decorators.dead_letters; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'confluent_kafka', 'duckdb', 'uvicorn', 'starlette', 'chdb'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
