"""Moose's own streaming runner, unmodified, with ``moose_trace.moose.instrument()``.

The test writes a small Moose project (dmv2 ``Stream``s with a transform, a consumer and a
dead-letter queue), starts ``python -m moose_lib.streaming.streaming_function_runner`` as the
Moose CLI does — once for the transform, once for the consumer — against the embedded broker,
and follows each input's trace id through outputs, dead letters and log lines.
Harness adaptations (conftest.py, harness/sitecustomize.py): kafka-python cannot join a
consumer group on this broker, so the runner's ``subscribe`` becomes ``assign``; the metrics
the runner posts each second go to a small local listener.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from runner_harness import start_runner, stop_runner

from moose_trace.commands.main import main as moose_trace_cli
from moose_trace.errors import categorize_error
from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.moose import MISSING_TRACE_EVENT, OUTPUTS_SENT_EVENT
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.propagation import traceparent_for

pytestmark = pytest.mark.timeout(900)  # a first run creates the Python 3.12 environment

APP = textwrap.dedent(
    '''
    """A Moose project's app/main.py, as a user writes it."""
    import structlog
    from pydantic import BaseModel

    import moose_trace
    import moose_trace.moose
    from moose_lib.dmv2 import DeadLetterQueue, Stream, TransformConfig

    moose_trace.configure(service="moose-e2e", stdout=False)
    assert moose_trace.moose.instrument()
    log = structlog.get_logger("app")


    class Raw(BaseModel):
        id: int
        kind: str


    class Cooked(BaseModel):
        id: int
        part: int


    raw = Stream[Raw]("Raw")
    cooked = Stream[Cooked]("Cooked")


    class Seen(BaseModel):
        id: int


    seen = Stream[Seen]("Seen")  # the consumer sends here itself, with Stream.send
    dead = DeadLetterQueue[Raw]("RawDead")


    @moose_trace.traced_transform(source="Raw", target="Cooked")
    def cook(record: Raw):
        log.info("cooking", record_id=record.id)
        if record.kind == "fail":
            raise ValueError(f"record {record.id} cannot be cooked")
        if record.kind == "three":
            return [Cooked(id=record.id, part=part) for part in range(3)]
        if record.kind == "none":
            return None
        return Cooked(id=record.id, part=0)


    def watch(record: Raw) -> None:
        log.info("watched", record_id=record.id)
        seen.send(Seen(id=record.id))


    raw.add_transform(cooked, cook, TransformConfig(dead_letter_queue=dead))
    raw.add_consumer(watch)
    '''
)

MOOSE_CONFIG = """language = "Python"

[clickhouse_config]
host = "localhost"
host_port = 18123
user = "panda"
password = "pandapass"
db_name = "local"
"""

GOOD = new_trace_id()
FROM_TRACEPARENT = new_trace_id()
FAILING = new_trace_id()
FILTERED = new_trace_id()
W3C = new_trace_id()
CHAINED = new_trace_id()  # an output of an upstream traced function, read in the usual shape
SENDER_SPAN = "00f067aa0ba902b7"  # the span of whoever produced the W3C inputs
TRACESTATE = b"acme=t61rcWkgMzE,rojo=00f067aa0ba902b7"
BAGGAGE = b"tenant_id=acme,user_id=42"
# id -> (kind, headers); ids 1..4, 9, 10 carry a trace, 5..8 do not (or carry a bad one).
INPUTS: dict[int, tuple[str, Any]] = {
    1: ("one", [("trace_id", GOOD.encode())]),
    2: ("three", [("traceparent", traceparent_for(FROM_TRACEPARENT, SENDER_SPAN).encode())]),
    3: (
        "fail",
        [
            ("trace_id", FAILING.encode()),
            ("traceparent", traceparent_for(FAILING, SENDER_SPAN).encode()),
            ("tracestate", TRACESTATE),
            ("baggage", BAGGAGE),
        ],
    ),
    4: ("none", [("trace_id", FILTERED.encode())]),
    5: ("one", None),
    6: ("one", [("trace_id", b"not-a-trace-id")]),
    7: ("one", [("trace_id", None), ("trace_id", b"\xff\xfe\xfd")]),  # None-valued, not UTF-8
    8: ("one", [("trace_id", b"7" * 10_000)]),  # oversized
    # A W3C peer's record: sampled + random flags, tracestate and baggage to send on.
    9: (
        "three",
        [
            ("traceparent", traceparent_for(W3C, SENDER_SPAN, flags=0x03).encode()),
            ("tracestate", TRACESTATE),
            ("baggage", BAGGAGE),
        ],
    ),
    # What an upstream TracedProducer or instrumented runner writes: the id, then traceparent.
    10: (
        "one",
        [
            ("trace_id", CHAINED.encode()),
            ("traceparent", traceparent_for(CHAINED, SENDER_SPAN).encode()),
        ],
    ),
}
TRACED = {1: GOOD, 2: FROM_TRACEPARENT, 3: FAILING, 4: FILTERED, 9: W3C, 10: CHAINED}
OUTPUT_COUNT = {1: 1, 2: 3, 3: 0, 4: 0, 5: 1, 6: 1, 7: 1, 8: 1, 9: 3, 10: 1}


def read_all(broker: EmbeddedBroker, topic: str, count: int, deadline: float) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "check"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    found: list[Any] = []
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


def headers_of(message: Any) -> dict[str, list[bytes | None]]:
    found: dict[str, list[bytes | None]] = {}
    for name, value in message.headers() or []:
        found.setdefault(name, []).append(value)
    return found


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        if text.startswith("{"):
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue
    return lines


def wait_for(condition: Callable[[], bool], deadline: float, what: str) -> None:
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def moose_run(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_broker: EmbeddedBroker,
    moose_python: Path,
    management_port: int,
) -> dict[str, Any]:
    """Both runners over one batch of inputs (once for the module); where outputs and logs went."""
    tmp_path = tmp_path_factory.mktemp("moose-run")
    suffix = new_trace_id()[-12:]
    topics = {name: f"{name}-{suffix}" for name in ("Raw", "Cooked", "RawDead", "Seen")}
    kafka_broker.create_topics(list(topics.values()), partitions=1)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    # The project names its streams as the runner looks them up: the topic name.
    source = APP.replace('"Raw"', repr(topics["Raw"])).replace('"Cooked"', repr(topics["Cooked"]))
    source = source.replace('"Seen"', repr(topics["Seen"]))
    (app_dir / "main.py").write_text(source.replace('"RawDead"', repr(topics["RawDead"])))
    # Stream.send reads the project's moose.config.toml (the broker comes from the environment).
    (app_dir / "moose.config.toml").write_text(MOOSE_CONFIG)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    log_dir = tmp_path / "logs"
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 50})
    for record_id, (kind, headers) in INPUTS.items():
        value = json.dumps({"id": record_id, "kind": kind}).encode()
        producer.produce(topics["Raw"], value=value, headers=headers)
    assert producer.flush(10) == 0  # all inputs wait in the topic: the runner takes one batch
    env = {
        "MOOSE_TRACE_LOG_DIR": str(log_dir),
        "LOG_LEVEL": "info",
        "MOOSE_KAFKA_CONFIG__BROKER": kafka_broker.bootstrap_servers,
    }
    common = {"management_port": management_port, "out_dir": out_dir, "env": env}
    broker = kafka_broker.bootstrap_servers
    runners = [
        start_runner(
            moose_python,
            app_dir,
            broker,
            topics["Raw"],
            target=topics["Cooked"],
            dlq=topics["RawDead"],
            **common,
        ),
        start_runner(moose_python, app_dir, broker, topics["Raw"], **common),
    ]
    try:
        deadline = time.monotonic() + 240
        outputs = read_all(kafka_broker, topics["Cooked"], sum(OUTPUT_COUNT.values()), deadline)
        dead = read_all(kafka_broker, topics["RawDead"], 1, deadline)
        seen = read_all(kafka_broker, topics["Seen"], len(INPUTS), deadline)
        consumer_log = log_dir
        wait_for(
            lambda: (
                sum(
                    line.get("event") == "watched"
                    for path in consumer_log.glob("*.jsonl")
                    for line in json_lines(path)
                )
                >= len(INPUTS)
            ),
            deadline,
            "the consumer to see every input",
        )
    finally:
        codes = [stop_runner(runner) for runner in runners]
    return {
        "outputs": outputs,
        "dead": dead,
        "seen": seen,
        "codes": codes,
        "out_dir": out_dir,
        "log_dir": log_dir,
        "topics": topics,
    }


def moose_lines(run: dict[str, Any], which: str) -> list[dict[str, Any]]:
    path = run["out_dir"] / f"{run['topics']['Raw']}-{which}.stderr"
    return [line for line in json_lines(path) if line.get("__moose_structured_log__")]


def sdk_lines(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for path in sorted(run["log_dir"].glob("*.jsonl")) for line in json_lines(path)]


def input_trace_ids(run: dict[str, Any], which: str | None = None) -> dict[int, str]:
    """Each input's trace id in one runner (the transform's by default), as Moose's own line
    for the input (``Message … offset=N``) says."""
    found = {}
    for line in moose_lines(run, which or run["topics"]["Cooked"]):
        message = line["message"]
        if ": Message partition=0 offset=" in message:
            offset = int(message.rsplit("offset=", 1)[1])
            found[offset + 1] = line["trace_id"]  # ids were produced in order from offset 0
    return found


def test_every_output_and_dead_letter_names_its_input(moose_run: dict[str, Any]) -> None:
    ids = input_trace_ids(moose_run)
    assert sorted(ids) == sorted(INPUTS)
    for record_id, trace_id in TRACED.items():
        assert ids[record_id] == trace_id  # handled inside the incoming trace
    fresh = [ids[record_id] for record_id in INPUTS if record_id not in TRACED]
    assert all(parse_trace_id(tid) == tid and tid[14] == "7" for tid in fresh)  # new UUIDv7s
    assert len(set(fresh)) == len(fresh)

    per_input: dict[int, list[Any]] = {}
    for output in moose_run["outputs"]:
        per_input.setdefault(json.loads(output.value())["id"], []).append(output)
    assert {key: len(value) for key, value in per_input.items()} == {
        key: count for key, count in OUTPUT_COUNT.items() if count
    }
    for record_id, outputs in per_input.items():
        for output in outputs:
            headers = headers_of(output)
            assert headers["trace_id"] == [ids[record_id].encode()], record_id
            (traceparent,) = headers["traceparent"]
            assert traceparent is not None
            assert traceparent.decode().split("-")[1] == ids[record_id].replace("-", "")

    (letter,) = moose_run["dead"]
    body = json.loads(letter.value())
    assert body["originalRecord"] == {"id": 3, "kind": "fail"}
    assert body["errorType"] == "ValueError"
    assert headers_of(letter)["trace_id"] == [FAILING.encode()]
    assert moose_run["codes"] == [0, 0]  # both runners shut down cleanly on SIGTERM


def test_moose_lines_user_lines_and_consumer_carry_the_input_trace(
    moose_run: dict[str, Any],
) -> None:
    ids = input_trace_ids(moose_run)
    sdk = sdk_lines(moose_run)
    cooking = {line["record_id"]: line for line in sdk if line.get("event") == "cooking"}
    watched = {line["record_id"]: line for line in sdk if line.get("event") == "watched"}
    consumer_ids = input_trace_ids(moose_run, "consumer")
    for record_id, trace_id in ids.items():
        assert cooking[record_id]["trace_id"] == trace_id
        assert watched[record_id]["trace_id"] == consumer_ids[record_id]  # the consumer, too
    for record_id, trace_id in TRACED.items():
        assert consumer_ids[record_id] == trace_id
    # Without a trace header each consuming process starts its own trace for the record.
    assert all(consumer_ids[key] != ids[key] for key in INPUTS if key not in TRACED)
    # Moose's own lines for one record: its input line and "Received" line carry its id.
    received = [
        line
        for line in moose_lines(moose_run, moose_run["topics"]["Cooked"])
        if line.get("cli_action") == "Received"
    ]
    assert {line["trace_id"] for line in received} == {
        ids[record_id] for record_id, count in OUTPUT_COUNT.items() if count
    }
    [dead_letter] = [
        line
        for line in moose_lines(moose_run, moose_run["topics"]["Cooked"])
        if line.get("cli_action") == "DeadLetter"
    ]
    assert dead_letter["trace_id"] == FAILING
    assert dead_letter["error_type"] == "ValueError"
    assert dead_letter["error_category"] == categorize_error(ValueError("x"))
    # Bad headers: one warning each for the invalid ones, one in all for the missing ones.
    rejected = [line for line in sdk if line.get("event") == REJECTED_EVENT]
    assert sorted(line["trace_id"] for line in rejected) == sorted(
        [ids[6], ids[7], ids[8], consumer_ids[6], consumer_ids[7], consumer_ids[8]]
    )
    assert sum(line.get("event") == MISSING_TRACE_EVENT for line in sdk) == 2  # one per process


def trace_events(path: Path) -> list[dict[str, Any]]:
    """The events of ``moose-trace logs --trace … --format json``: each span's, tree or not."""
    found: list[dict[str, Any]] = []

    def walk(spans: list[dict[str, Any]]) -> None:
        for span in spans:
            found.extend(span.get("events", []))
            walk(span.get("children", []))

    for line in path.read_text().splitlines():
        if line.strip():
            document = json.loads(line)
            if "spans" in document:
                walk(document["spans"])
            else:
                found.append(document)
    return found


def test_moose_trace_logs_finds_the_whole_trace(moose_run: dict[str, Any], tmp_path: Path) -> None:
    out_dir, log_dir = moose_run["out_dir"], moose_run["log_dir"]
    sources = [str(path) for path in sorted(out_dir.glob("*.stderr"))] + [str(log_dir)]
    result = tmp_path / "trace.json"
    code = moose_trace_cli(
        ["logs", "--trace", GOOD, "--format", "json", "--output", str(result), *sources]
    )
    assert code == 0
    events = trace_events(result)
    messages = [event.get("event") or event.get("message") for event in events]
    assert any(str(text).endswith(": Message partition=0 offset=0") for text in messages)
    assert any(event.get("cli_action") == "Received" for event in events)  # Moose's own line
    assert "cooking" in messages  # the transform's own line
    assert "record transformed" in messages  # @traced_transform's line
    assert "watched" in messages  # the consumer's line
    [sent] = [event for event in events if event.get("event") == OUTPUTS_SENT_EVENT]
    assert sent["kafka_topic"] == moose_run["topics"]["Cooked"]
    assert GOOD in sent["trace_ids"]
    assert {event.get("trace_id") for event in events} <= {GOOD, None}


def input_span_ids(run: dict[str, Any]) -> dict[int, str]:
    """Each input's span in the transform's runner: the ``span_id`` of Moose's own line for it."""
    found = {}
    for line in moose_lines(run, run["topics"]["Cooked"]):
        message = line["message"]
        if ": Message partition=0 offset=" in message:
            found[int(message.rsplit("offset=", 1)[1]) + 1] = line["span_id"]
    return found


def traceparent_parts(value: bytes | None) -> list[str]:
    assert value is not None
    return value.decode().split("-")


def test_tracestate_baggage_and_flags_go_on_with_outputs_and_dead_letters(
    moose_run: dict[str, Any],
) -> None:
    spans = input_span_ids(moose_run)
    w3c_outputs = [
        output for output in moose_run["outputs"] if json.loads(output.value())["id"] == 9
    ]
    assert len(w3c_outputs) == 3
    for output in w3c_outputs:
        headers = headers_of(output)
        assert headers["trace_id"] == [W3C.encode()]
        assert headers["tracestate"] == [TRACESTATE]
        assert headers["baggage"] == [BAGGAGE]
        version, trace, parent, flags = traceparent_parts(headers["traceparent"][0])
        assert (version, trace, flags) == ("00", W3C.replace("-", ""), "03")  # flags as received
        assert parent == spans[9] != SENDER_SPAN  # the transform's span is the outputs' parent
    (letter,) = moose_run["dead"]
    headers = headers_of(letter)
    assert headers["tracestate"] == [TRACESTATE]
    assert headers["baggage"] == [BAGGAGE]
    assert traceparent_parts(headers["traceparent"][0])[2] == spans[3]
    # Records that came with ids only send ids only.
    for output in moose_run["outputs"]:
        if json.loads(output.value())["id"] in (1, 2, 5, 10):
            assert set(headers_of(output)) == {"trace_id", "traceparent"}


def test_the_record_span_names_the_sender_as_its_parent(moose_run: dict[str, Any]) -> None:
    spans = input_span_ids(moose_run)
    sdk = sdk_lines(moose_run)
    [transformed] = [
        line
        for line in sdk
        if line.get("event") == "record transformed" and line.get("kafka_offset") == 8
    ]
    [watched] = [line for line in sdk if line.get("event") == "watched" and line["record_id"] == 9]
    # The record's span in each runner is a child of the sender's span from ``traceparent``;
    # @traced_transform's span is a child of the record's.
    assert watched["trace_id"] == transformed["trace_id"] == W3C
    assert watched["parent_span_id"] == SENDER_SPAN
    assert transformed["parent_span_id"] == spans[9]
    # The same for a record in the producers' own shape (trace_id, then traceparent): its
    # output names the record's span, whose parent is the sender's.
    [chained] = [
        line
        for line in sdk
        if line.get("event") == "record transformed" and line["trace_id"] == CHAINED
    ]
    assert chained["parent_span_id"] == spans[10] != SENDER_SPAN
    [watched_chained] = [
        line for line in sdk if line.get("event") == "watched" and line["record_id"] == 10
    ]
    assert watched_chained["parent_span_id"] == SENDER_SPAN
    [output] = [out for out in moose_run["outputs"] if json.loads(out.value())["id"] == 10]
    assert traceparent_parts(headers_of(output)["traceparent"][0]) == [
        "00",
        CHAINED.replace("-", ""),
        spans[10],
        "01",
    ]
    # Allow-listed baggage members label the lines of that record.
    assert (watched["tenant_id"], watched["user_id"]) == ("acme", "42")
    assert (transformed["tenant_id"], transformed["user_id"]) == ("acme", "42")


def test_stream_send_from_a_consumer_carries_the_record_trace(moose_run: dict[str, Any]) -> None:
    """``Stream.send`` inside a function sends with the record's trace headers (kafka-python's
    ``KafkaProducer.send`` underneath, hooked like the runner's own sends)."""
    consumer_ids = input_trace_ids(moose_run, "consumer")
    sent = {json.loads(record.value())["id"]: headers_of(record) for record in moose_run["seen"]}
    assert sorted(sent) == sorted(INPUTS)
    for record_id, headers in sent.items():
        assert headers["trace_id"] == [consumer_ids[record_id].encode()], record_id
        trace = traceparent_parts(headers["traceparent"][0])[1]
        assert trace == consumer_ids[record_id].replace("-", "")
    assert sent[9]["tracestate"] == [TRACESTATE]
    assert sent[9]["baggage"] == [BAGGAGE]
    assert "tracestate" not in sent[1]
