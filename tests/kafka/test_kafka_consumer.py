"""Consuming inside each message's trace: traced_messages and message_context."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import pytest
import structlog
from confluent_kafka import Consumer, Producer
from kafka_helpers import JsonLogs, make_consumer

from moose_trace.kafka import TracedProducer, extract_trace_id, message_context, traced_messages
from moose_trace.kafka.consumer import CONSUME_ERROR_EVENT, REJECTED_EVENT
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import (
    bind_fields,
    current_fields,
    current_parent_span_id,
    current_span_id,
    current_trace_id,
    trace_context,
)
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.threads import ContextThreadPoolExecutor, carry_context

log = structlog.get_logger("tests.kafka")
KAFKA_KEYS = {"kafka_topic", "kafka_partition", "kafka_offset", "consumer_group"}


def fail_on_first(consumer: Consumer, error: BaseException) -> None:
    for _ in traced_messages(consumer, consumer_group="g"):
        raise error


def produce_traced(producer: Producer, topic: str, count: int) -> list[str]:
    """Produce ``count`` records, each in its own trace; return their trace ids."""
    traced = TracedProducer(producer, log_deliveries=False)
    ids = [new_trace_id() for _ in range(count)]
    for number, tid in enumerate(ids):
        with trace_context(tid):
            traced.produce(topic, value=str(number).encode())
    assert traced.flush(10) == 0
    return ids


def produce_raw(producer: Producer, topic: str, headers_list: list[Any]) -> None:
    for number, headers in enumerate(headers_list):
        producer.produce(topic, value=str(number).encode(), headers=headers)
    assert producer.flush(10) == 0


@pytest.fixture
def consumer_of(kafka_broker: EmbeddedBroker) -> Any:
    made: list[Consumer] = []

    def make(topic: str, **conf: Any) -> Consumer:
        made.append(make_consumer(kafka_broker, topic, **conf))
        return made[-1]

    yield make
    for consumer in made:
        consumer.close()


@pytest.mark.parametrize("batch_size", [1, 100])
def test_each_message_is_handled_in_its_own_trace(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs, batch_size: int
) -> None:
    ids = produce_traced(producer, kafka_topic, 5)
    consumer = consumer_of(kafka_topic)
    seen = []
    for message in traced_messages(
        consumer, consumer_group="sync", max_messages=5, batch_size=batch_size
    ):
        assert current_trace_id() == extract_trace_id(message)
        log.info("handled", value=message.value().decode())
        seen.append(message.offset())
    assert seen == [0, 1, 2, 3, 4]
    lines = json_logs.lines("handled")
    assert [line["trace_id"] for line in lines] == ids
    assert [line["kafka_offset"] for line in lines] == seen
    assert {line["kafka_topic"] for line in lines} == {kafka_topic}
    assert {line["kafka_partition"] for line in lines} == {0}
    assert {line["consumer_group"] for line in lines} == {"sync"}
    assert current_fields() == {}


def test_the_context_is_restored_when_the_body_raises(
    kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    produce_traced(producer, kafka_topic, 2)
    with pytest.raises(ValueError, match="bad record"):
        fail_on_first(consumer_of(kafka_topic), ValueError("bad record"))
    assert current_fields() == {}
    outer = new_trace_id()
    with trace_context(outer, type="job"):
        try:
            for _ in traced_messages(consumer_of(kafka_topic)):
                raise KeyError("x")
        except KeyError:
            assert current_trace_id() == outer
            assert KAFKA_KEYS.isdisjoint(current_fields())
        assert current_fields() == {"trace_id": outer, "type": "job"}


def test_between_messages_nothing_of_the_previous_one_is_bound(
    kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    produce_traced(producer, kafka_topic, 3)
    messages = traced_messages(consumer_of(kafka_topic), max_messages=3, batch_size=1)
    for message in messages:
        assert current_fields()["kafka_offset"] == message.offset()
    assert KAFKA_KEYS.isdisjoint(current_fields())


def test_breaking_early_gives_prefetched_messages_back(
    kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    produce_traced(producer, kafka_topic, 10)
    consumer = consumer_of(kafka_topic)
    first = []
    for message in traced_messages(consumer, batch_size=100):
        first.append(message.offset())
        if len(first) == 3:
            break
    rest = [message.offset() for message in traced_messages(consumer, max_messages=7)]
    assert first + rest == list(range(10))


def test_stop_ends_the_loop_and_keeps_the_rest(
    kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    produce_traced(producer, kafka_topic, 6)
    consumer = consumer_of(kafka_topic)
    stop = threading.Event()
    handled = []
    for message in traced_messages(consumer, stop=stop):
        handled.append(message.offset())
        if len(handled) == 2:
            stop.set()
    assert handled == [0, 1]
    calls = iter([False, False, True])
    later = [m.offset() for m in traced_messages(consumer, stop=lambda: next(calls, True))]
    assert later == [2]


def test_messages_without_a_valid_id_get_a_new_one_and_a_warning(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs
) -> None:
    valid = new_trace_id()
    produce_raw(
        producer,
        kafka_topic,
        [
            None,
            [("trace_id", b"evil\r\nX-Injected: 1" + b"x" * 200)],
            [("trace_id", b"\xff\xfe"), ("trace_id", None), ("trace_id", valid.encode())],
            [("TRACE_ID", valid.upper().encode()), ("user", b"\x00\xff")],
        ],
    )
    got = []
    for _ in traced_messages(consumer_of(kafka_topic), max_messages=4):
        got.append(current_trace_id())
        log.info("handled")
    assert all(parse_trace_id(tid) == tid for tid in got)
    assert got[2] == got[3] == valid
    assert len({got[0], got[1], valid}) == 3
    [warning] = json_logs.lines(REJECTED_EVENT)
    assert warning["level"] == "warning"
    assert warning["rejected_trace_id"].startswith("evil\\r\\nX-Injected: 1xxx")
    assert len(warning["rejected_trace_id"]) == 64
    assert warning["trace_id"] == got[1]  # logged inside the message's own context
    assert warning["kafka_offset"] == 1


def test_a_batch_mixing_valid_and_doubtful_ids_gives_each_record_its_own(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs
) -> None:
    # traced_messages checks a fetched batch's ids together: one doubtful value must not
    # shift or spoil the others' ids, and each doubtful one is judged on its own.
    first, second, upper = new_trace_id(), new_trace_id(), new_trace_id()
    zero = b"00000000-0000-0000-0000-000000000000"
    shifted = first[:7] + "-" + first[8:12] + first[13:]  # 36 bytes, hyphens moved
    broken_line = second[:20] + "\n" + second[21:]  # 36 bytes, a line break inside
    headers = [
        [("trace_id", first.encode())],
        [("trace_id", zero)],
        [("trace_id", upper.upper().encode())],
        [("trace_id", shifted.encode())],
        None,
        [("trace_id", broken_line.encode())],
        [("trace_id", second.encode()), ("traceparent", b"junk")],
        [("traceparent", f"00-{upper.replace('-', '')}-00f067aa0ba902b7-01".encode())],
    ]
    produce_raw(producer, kafka_topic, headers)
    got = [current_trace_id() for _ in traced_messages(consumer_of(kafka_topic), max_messages=8)]
    assert got[0] == first
    assert got[2] == upper  # another spelling of a valid id: normalized, kept
    assert got[6] == second
    assert got[7] == upper  # from traceparent
    made = [got[1], got[3], got[4], got[5]]  # invalid or missing: a new id each
    assert all(parse_trace_id(tid) == tid for tid in made)
    assert len(set(made) | {first, second, upper}) == 7
    rejected = json_logs.lines(REJECTED_EVENT)
    assert [line["kafka_offset"] for line in rejected] == [1, 3, 5]


def test_partition_eof_is_silent(kafka_topic: str, consumer_of: Any, json_logs: JsonLogs) -> None:
    consumer = consumer_of(kafka_topic, **{"enable.partition.eof": True})
    polls = iter(range(3))
    stop = lambda: next(polls, None) is None  # noqa: E731 - true after three polls
    assert list(traced_messages(consumer, timeout=0.2, stop=stop)) == []
    assert json_logs.lines(CONSUME_ERROR_EVENT) == []


def test_consumer_errors_are_logged_with_their_category_and_not_yielded(
    kafka_broker: EmbeddedBroker, json_logs: JsonLogs
) -> None:
    # A subscription to a topic that does not exist: the client reports it as an error event.
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": "g",
            "allow.auto.create.topics": False,
        }
    )
    consumer.subscribe([f"missing-{new_trace_id()}"])
    deadline = time.monotonic() + 60  # a deadline, not a poll count a loaded machine outruns
    try:
        for _ in traced_messages(
            consumer,
            timeout=0.1,
            consumer_group="g",
            stop=lambda: bool(json_logs.lines(CONSUME_ERROR_EVENT)) or time.monotonic() > deadline,
        ):
            pytest.fail("an error event must not be yielded")
    finally:
        consumer.close()
    line = json_logs.lines(CONSUME_ERROR_EVENT)[0]
    assert line["level"] == "error"
    assert line["error_category"] == "not_found_error"
    assert line["error_type"] == "UNKNOWN_TOPIC_OR_PART"
    assert line["kafka_topic"].startswith("missing-")
    assert line["consumer_group"] == "g"
    assert "trace_id" not in line  # errors belong to no message


def test_message_context_binds_one_message_and_restores_on_error(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    (tid,) = produce_traced(producer, kafka_topic, 1)
    consumer = consumer_of(kafka_topic)
    message = None
    while message is None or message.error() is not None:
        message = consumer.poll(1.0)
    inside: dict[str, Any] = {}

    def handle() -> None:
        with message_context(message, consumer_group="etl") as context:
            assert context.trace_id == tid
            bind_fields(records=1)
            inside.update(current_fields())
            raise RuntimeError("transform failed")

    with pytest.raises(RuntimeError):
        handle()
    assert inside == {
        "trace_id": tid,
        "kafka_topic": kafka_topic,
        "kafka_partition": 0,
        "kafka_offset": 0,
        "consumer_group": "etl",
        "records": 1,
    }
    assert current_fields() == {}


async def test_message_context_works_with_async_with() -> None:
    tid = new_trace_id()
    headers = [("trace_id", tid.encode())]
    async with message_context(headers) as context:
        assert current_trace_id() == context.trace_id == tid
    assert current_trace_id() is None
    async with message_context([("trace_id", b"nope")]) as context:
        assert context.trace_id != tid
        assert parse_trace_id(context.trace_id) == context.trace_id


@pytest.mark.parametrize("batch_size", [1, 100])
def test_inside_the_loop_the_current_span_is_the_message_s_own(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs, batch_size: int
) -> None:
    traced = TracedProducer(producer, log_deliveries=False)
    senders = []
    for number in range(3):
        with trace_context(new_trace_id()) as sender:
            senders.append(sender.span_id)  # the producer's span: the message's traceparent
            traced.produce(kafka_topic, value=str(number).encode())
    assert traced.flush(10) == 0
    spans, parents, children = [], [], []
    with trace_context(new_trace_id()) as loop:
        for _ in traced_messages(consumer_of(kafka_topic), max_messages=3, batch_size=batch_size):
            spans.append(current_span_id())
            parents.append(current_parent_span_id())
            with trace_context() as handling:  # work inside the message is its child
                children.append(handling.parent_span_id)
            bind_fields(step="handled")
            log.info("handled")
        assert current_span_id() == loop.span_id  # the loop's own frame, back after it
        assert "step" not in current_fields()
    assert parents == senders
    assert len(set(spans)) == 3
    assert loop.span_id not in spans
    assert children == spans
    lines = json_logs.lines("handled")
    assert [line["span_id"] for line in lines] == spans
    assert [line["parent_span_id"] for line in lines] == senders
    assert [line["step"] for line in lines] == ["handled"] * 3


def test_a_record_whose_body_reads_nothing_leaves_nothing_to_the_next(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs
) -> None:
    # The loop reads a record's trace only when the body needs it: a record that binds a field
    # without logging, or asks only its span, must not lend anything to the records after it.
    ids = produce_traced(producer, kafka_topic, 6)
    spans: dict[int, str | None] = {}
    for message in traced_messages(consumer_of(kafka_topic), max_messages=6):
        offset = message.offset()
        if offset % 3 == 0:
            bind_fields(step="bound, never logged")
        elif offset % 3 == 1:
            spans[offset] = current_span_id()
        else:
            log.info("handled")
    lines = json_logs.lines("handled")
    assert [line["trace_id"] for line in lines] == [ids[2], ids[5]]
    assert [line["kafka_offset"] for line in lines] == [2, 5]
    assert all("step" not in line for line in lines)
    assert {line["span_id"] for line in lines}.isdisjoint(spans.values())
    assert len(set(spans.values())) == 2
    assert current_fields() == {}


def test_work_carried_to_a_thread_keeps_its_record_s_trace(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs
) -> None:
    # A snapshot of a record's context taken in the body (before anything read its trace) is
    # used after the loop has moved on: it must still be that record's.
    ids = produce_traced(producer, kafka_topic, 4)
    later = []
    for message in traced_messages(consumer_of(kafka_topic), max_messages=4):
        later.append(carry_context(functools.partial(log.info, "later", value=message.offset())))
    with ContextThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(work) for work in later]:
            future.result()
    lines = sorted(json_logs.lines("later"), key=lambda line: line["value"])
    assert [line["trace_id"] for line in lines] == ids
    assert [line["kafka_offset"] for line in lines] == [0, 1, 2, 3]


def test_a_record_produced_from_the_body_carries_the_record_s_trace(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, consumer_of: Any
) -> None:
    ids = produce_traced(producer, kafka_topic, 3)
    onward = f"{kafka_topic}-onward"
    kafka_broker.create_topics([onward], partitions=1)
    traced = TracedProducer(producer, log_deliveries=False)
    for message in traced_messages(consumer_of(kafka_topic), max_messages=3):
        traced.produce(onward, value=message.value())
    assert traced.flush(10) == 0
    sent = [
        extract_trace_id(message)
        for message in traced_messages(consumer_of(onward), max_messages=3)
    ]
    assert sent == ids


def test_an_invalid_id_is_warned_about_when_the_first_line_of_its_record_is_written(
    kafka_topic: str, producer: Producer, consumer_of: Any, json_logs: JsonLogs
) -> None:
    # The record's trace is read by the line's own processors: the warning is written from
    # inside that line's chain, and both lines come out whole, in the record's trace.
    produce_raw(producer, kafka_topic, [[("trace_id", b"not-an-id")]])
    for _ in traced_messages(consumer_of(kafka_topic), max_messages=1):
        log.info("handled", step=1)
    [warning] = json_logs.lines(REJECTED_EVENT)
    [handled] = json_logs.lines("handled")
    assert warning["rejected_trace_id"] == "not-an-id"
    assert handled["step"] == 1
    assert warning["trace_id"] == handled["trace_id"] == parse_trace_id(handled["trace_id"])
    assert warning["kafka_offset"] == handled["kafka_offset"] == 0


@pytest.mark.parametrize("chain", ["structlog_default", "own_chain"])
def test_a_chain_with_structlog_s_own_merge_contextvars_still_sees_each_record_s_trace(
    kafka_topic: str, producer: Producer, consumer_of: Any, chain: str
) -> None:
    # A user who never called configure_logging (structlog's default chain) or who built a chain
    # with structlog's stock merge_contextvars: that processor only copies what is bound, so the
    # loop must bind each record itself, and every line keeps its record's trace and offset.
    ids = produce_traced(producer, kafka_topic, 3)
    seen: list[dict[str, Any]] = []

    def keep(_logger: Any, _method: str, event: dict[str, Any]) -> str:
        seen.append(dict(event))
        return ""

    structlog.reset_defaults()
    if chain == "own_chain":
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, keep],
            logger_factory=structlog.ReturnLoggerFactory(),
        )
    else:
        defaults = structlog.get_config()["processors"]
        structlog.configure(
            processors=[*defaults[:-1], keep], logger_factory=structlog.ReturnLoggerFactory()
        )
    try:
        for _ in traced_messages(consumer_of(kafka_topic), consumer_group="own", max_messages=3):
            structlog.get_logger("user").info("handled")
    finally:
        structlog.reset_defaults()
    assert [line["trace_id"] for line in seen] == ids
    assert [line["kafka_offset"] for line in seen] == [0, 1, 2]
    assert {line["consumer_group"] for line in seen} == {"own"}
    assert current_fields() == {}
