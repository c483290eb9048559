"""The Moose project both Moose benchmarks run: its models, its function, its records.

``bench_moose.py`` writes it as a Moose project's ``app/main.py`` (one per variant) and runs
Moose's runner on it; ``moose_per_record.py`` loads the same models and function in process.
One definition, so the two measure the same work.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "FUNCTION",
    "MODELS",
    "VARIANTS",
    "app_source",
    "load_project",
    "record_value",
]

MODELS = """
from pydantic import BaseModel


class Raw(BaseModel):
    id: int
    user: str
    amount: float


class Out(BaseModel):
    id: int
    user: str
    cents: int
"""

FUNCTION = """
def convert(record: Raw) -> Out:
    return Out(id=record.id, user=record.user, cents=int(record.amount * 100))
"""

_STREAMS = """
from moose_lib.dmv2 import Stream

raw = Stream[Raw]("SOURCE")
out = Stream[Out]("TARGET")
raw.add_transform(out, convert)
"""

_INSTRUMENT = """
import moose_trace, moose_trace.moose
moose_trace.configure(service="bench-moose")
moose_trace.moose.instrument()
"""

_DECORATOR = '\n@moose_trace.traced_transform(source="Raw", target="Out")'

# The floor: the same two header values' sizes on every send, and nothing else (no tracing):
# what kafka-python itself spends on carrying a trace_id + traceparent with each output.
_FLOOR = """
import kafka

_send = kafka.KafkaProducer.send
_HEADERS = [("trace_id", b"0" * 36), ("traceparent", b"0" * 55)]


def _send_with_headers(self, topic, value=None, key=None, headers=None, *args, **kwargs):
    return _send(self, topic, value, key, list(_HEADERS), *args, **kwargs)


kafka.KafkaProducer.send = _send_with_headers
"""

VARIANTS: dict[str, str] = {
    "plain": MODELS + FUNCTION + _STREAMS,
    "plain + 2 headers (floor)": _FLOOR + MODELS + FUNCTION + _STREAMS,
    "instrument()": _INSTRUMENT + MODELS + FUNCTION + _STREAMS,
    "instrument() + @traced_transform": _INSTRUMENT + MODELS + _DECORATOR + FUNCTION + _STREAMS,
}
"""Each variant's ``app/main.py``, with ``SOURCE`` and ``TARGET`` for the topics."""


def app_source(variant: str, source: str, target: str) -> str:
    """``app/main.py`` of ``variant`` reading topic ``source`` and writing ``target``."""
    return VARIANTS[variant].replace("SOURCE", source).replace("TARGET", target)


def record_value(number: int) -> bytes:
    """The JSON value of source record ``number`` (what ``Raw`` parses)."""
    return json.dumps({"id": number, "user": f"u{number % 977}", "amount": number / 7}).encode()


def load_project(decorated: bool = False) -> dict[str, Any]:
    """The models and the function, defined in process (``Raw``, ``Out``, ``convert``);
    ``decorated``: ``convert`` under ``@moose_trace.traced_transform``, as in the project."""
    namespace: dict[str, Any] = {}
    code = MODELS + (("import moose_trace\n" + _DECORATOR) if decorated else "") + FUNCTION
    exec(compile(code, "moose_project", "exec"), namespace)  # our own source text, as written
    return namespace
