"""A traced call sends on what its input record carries beyond the ids (issue 14).

A record that came with ``tracestate``, baggage or trace flags other than "sampled" (a Kafka
message's headers, or a dict record's keys) is handled by a decorated function whose own
outgoing records and calls carry the same ``tracestate``, baggage and flags, in the record's
trace; the allow-listed baggage members are on the call's log lines.
"""

from __future__ import annotations

from typing import Any

from decorator_helpers import Logs

from moose_trace.decorators import traced, traced_transform
from moose_trace.kafka import inject_headers, traced_headers
from moose_trace.tracing.context import current_trace_id, trace_context
from moose_trace.tracing.propagation import bind_incoming, extract_incoming

PEER_HEX = "4bf92f3577b34da6a3ce929d0e0e4736"
PEER_ID = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
BAGGAGE = "tenant_id=acme,cart=3"


class KafkaMessage:
    """Shaped like a confluent-kafka Message (accessors are methods)."""

    def __init__(self, headers: list[tuple[str, bytes]]) -> None:
        self._headers = headers

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def topic(self) -> str:
        return "UserEvent"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def value(self) -> bytes:
        return b"{}"


def carrier(flags: str) -> dict[str, str]:
    return {
        "trace_id": PEER_ID,
        "traceparent": f"00-{PEER_HEX}-00f067aa0ba902b7-{flags}",
        "tracestate": TRACESTATE,
        "baggage": BAGGAGE,
    }


def as_headers(values: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in values.items()]


def sent(headers: list[tuple[str, Any]]) -> dict[str, str]:
    return {name: value.decode() for name, value in headers}


def check_onward(headers: dict[str, str], flags: str) -> None:
    assert headers["trace_id"] == PEER_ID
    assert headers["traceparent"].startswith(f"00-{PEER_HEX}-")
    assert headers["traceparent"].endswith(f"-{flags}")
    assert headers["tracestate"] == TRACESTATE
    assert headers["baggage"] == BAGGAGE


def test_a_kafka_record_s_tracestate_and_baggage_go_out_with_the_call_s_records(
    logs: Logs,
) -> None:
    outgoing: list[dict[str, str]] = []

    @traced_transform(source="UserEvent", target="Enriched")
    def enrich(message: KafkaMessage) -> None:
        assert current_trace_id() == PEER_ID
        outgoing.append(sent(inject_headers()))
        outgoing.append(sent(traced_headers()[0]))  # what TracedProducer sends

    enrich(KafkaMessage(as_headers(carrier("03"))))
    assert len(outgoing) == 2
    for headers in outgoing:
        check_onward(headers, "03")
    # The allow-listed baggage member is on the call's line; outside it nothing is left behind.
    line = logs.one(event="record transformed")
    assert (line["trace_id"], line["tenant_id"]) == (PEER_ID, "acme")
    assert "cart" not in line
    assert inject_headers() == []


def test_a_dict_record_s_w3c_keys_are_sent_on_too(logs: Logs) -> None:
    outgoing: list[dict[str, str]] = []

    @traced("ingest", layer="webserver")
    def handle(record: dict[str, Any]) -> None:
        outgoing.append(sent(inject_headers()))

    handle({**carrier("00"), "id": 1})
    (headers,) = outgoing
    check_onward(headers, "00")


def test_an_enclosing_consumer_context_is_not_overruled(logs: Logs) -> None:
    # Inside the record's own trace already (a consume loop bound it): the call keeps it.
    outgoing: list[dict[str, str]] = []

    @traced_transform(source="UserEvent", target="Enriched")
    def enrich(message: KafkaMessage) -> None:
        outgoing.append(sent(inject_headers()))

    message = KafkaMessage(as_headers(carrier("01")))
    with trace_context(PEER_ID):
        bind_incoming(extract_incoming(carrier("01")))
        enrich(message)
    (headers,) = outgoing
    check_onward(headers, "01")


def test_a_record_with_ids_only_sends_ids_only(logs: Logs) -> None:
    outgoing: list[dict[str, str]] = []

    @traced_transform(source="UserEvent", target="Enriched")
    def enrich(message: KafkaMessage) -> None:
        outgoing.append(sent(inject_headers()))

    plain = {key: carrier("01")[key] for key in ("trace_id", "traceparent")}
    enrich(KafkaMessage(as_headers(plain)))
    (headers,) = outgoing
    assert set(headers) == {"trace_id", "traceparent"}
    assert headers["trace_id"] == PEER_ID
