"""Run in the moose-lib environment by test_instrument.py: instrument() on the real modules.

Prints one JSON object of findings; argv[1] is the broker's bootstrap servers.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import sys
import warnings

import kafka
import moose_lib.utilities.structured_logging as structured
from moose_lib import commons

import moose_trace.moose
import moose_trace.moose._record_traces as record_traces
from moose_trace.logging.config import configure_logging

broker = sys.argv[1]
topic = sys.argv[2]
found: dict[str, object] = {}
stream = io.StringIO()
configure_logging("hooks-check", level="info", stream=stream, json=True, log_dir=False)
originals = {
    "poll": kafka.KafkaConsumer.poll,
    "send": kafka.KafkaProducer.send,
    "flush": kafka.KafkaProducer.flush,
    "run": structured.StructuredLogContext.run,
}

# Idempotent and reversible.
found["first"] = moose_trace.moose.instrument()
patched_poll = kafka.KafkaConsumer.poll
found["second"] = moose_trace.moose.instrument()
found["patched"] = patched_poll is not originals["poll"]
found["patched_once"] = kafka.KafkaConsumer.poll is patched_poll
found["json_patched"] = structured.json is not json and commons.json is not json
moose_trace.moose.uninstrument()
moose_trace.moose.uninstrument()
found["restored"] = (
    kafka.KafkaConsumer.poll is originals["poll"]
    and kafka.KafkaProducer.send is originals["send"]
    and kafka.KafkaProducer.flush is originals["flush"]
    and structured.StructuredLogContext.run is originals["run"]
    and structured.json is json
    and commons.json is json
)
found["off"] = not moose_trace.moose.is_instrumented()

# An untested moose-lib version: a warning, and the hooks that still match.
real_version = importlib.metadata.version
importlib.metadata.version = lambda name: "0.7.1"  # type: ignore[assignment]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    found["untested_version_hooked"] = moose_trace.moose.instrument()
importlib.metadata.version = real_version
found["untested_version_warning"] = [str(w.message) for w in caught]
moose_trace.moose.uninstrument()

# Moose's error lines get a category even outside any record (Moose's own failures).
moose_trace.moose.instrument()
captured = io.StringIO()
real_stderr, sys.stderr = sys.stderr, captured
try:
    commons.cli_log(commons.CliLogData(action="Function Error", message="x", message_type="Error"))
    commons.cli_log(commons.CliLogData(action="Function", message="loaded"))
finally:
    sys.stderr = real_stderr
found["moose_lines"] = [json.loads(line) for line in captured.getvalue().splitlines()]
moose_trace.moose.uninstrument()

# A hook that raises: logged once, the records still flow, the runner goes on untraced.
producer = kafka.KafkaProducer(bootstrap_servers=broker)
for number in range(3):
    producer.send(topic, str(number).encode(), headers=[("trace_id", b"x")])
producer.flush()
moose_trace.moose.instrument()


def broken(record: object) -> object:
    raise RuntimeError("boom inside a hook")


record_traces.incoming_trace = broken  # type: ignore[assignment]
consumer = kafka.KafkaConsumer(bootstrap_servers=broker, auto_offset_reset="earliest")
consumer.assign([kafka.TopicPartition(topic, 0)])
seen = []
while len(seen) < 3:
    for records in consumer.poll(timeout_ms=1000).values():
        seen.extend(record.offset for record in records)
found["seen"] = seen
found["on_after_failure"] = moose_trace.moose.is_instrumented()
producer.send(topic + "-out", b"after").get(timeout=10)
out = kafka.KafkaConsumer(bootstrap_servers=broker, auto_offset_reset="earliest")
out.assign([kafka.TopicPartition(topic + "-out", 0)])
after = []
while not after:
    for records in out.poll(timeout_ms=1000).values():
        after.extend(records)
found["headers_after_failure"] = [name for name, _ in after[0].headers]
lines = [json.loads(line) for line in stream.getvalue().splitlines()]
found["failure_lines"] = [
    line for line in lines if line.get("event") == moose_trace.moose.HOOK_FAILED_EVENT
]
# instrument() ran four times above; kafka-python checksums in pure Python unless crc32c is on
# the path (the test runs this script both ways).
found["crc_warnings"] = [
    line for line in lines if line.get("event") == moose_trace.moose.PURE_PYTHON_CRC_EVENT
]
moose_trace.moose.uninstrument()
print(json.dumps(found))
