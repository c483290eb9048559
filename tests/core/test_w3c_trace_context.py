"""W3C Trace Context Level 1 and 2, written from the spec: traceparent, trace-flags, tracestate.

Each test names the rule it checks. The receiving side is ``extract_incoming`` (what the ASGI
middleware and the Kafka helpers use); the sending side is ``TraceIdPropagator.inject`` and
``outgoing_headers`` inside the trace the carrier started.
"""

from __future__ import annotations

from typing import Any

import pytest

from moose_trace.tracing.context import trace_context
from moose_trace.tracing.propagation import (
    TraceIdPropagator,
    bind_incoming,
    extract_incoming,
    outgoing_headers,
    parse_traceparent,
)
from moose_trace.tracing.tracestate import format_tracestate, parse_tracestate

TID = "0af76519-16cd-43dd-8448-eb211c80319c"
HEX = TID.replace("-", "")
SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{HEX}-{SPAN}-01"


def sent_onward(carrier: Any) -> dict[str, str]:
    """What a service sends on after receiving ``carrier`` (the test suite's echo)."""
    incoming = extract_incoming(carrier)
    with trace_context(incoming.trace_id):
        bind_incoming(incoming)
        headers: dict[str, str] = {}
        TraceIdPropagator().inject(headers)
    return headers


# --- traceparent -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"00-{HEX}-{SPAN}-01", "canonical"),
        (f" \t00-{HEX}-{SPAN}-01\t ", "optional whitespace around the value is ignored"),
        (f"01-{HEX}-{SPAN}-01", "a later version is read by its version-00 prefix"),
        (f"cc-{HEX}-{SPAN}-01-what-the-future-will-be-like", "later versions may add fields"),
    ],
)
def test_valid_traceparents_are_continued(value: str, why: str) -> None:
    parsed = parse_traceparent(value)
    assert parsed is not None, why
    assert (parsed.trace_id, parsed.span_id) == (TID, SPAN)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"ff-{HEX}-{SPAN}-01", "version ff is invalid"),
        (f"00-{HEX}-{SPAN}-01-extra", "version 00 has exactly four fields"),
        (f"cc-{HEX}-{SPAN}-01.what", "after the flags of a later version comes '-' or the end"),
        (f"00-{HEX.upper()}-{SPAN}-01", "hex is lower case"),
        (f"00-{'0' * 32}-{SPAN}-01", "all-zero trace id"),
        (f"00-{HEX}-{'0' * 16}-01", "all-zero parent id"),
        (f"00-{HEX[:-1]}-{SPAN}-01", "trace id too short"),
        (f"00-{HEX}0-{SPAN}-01", "trace id too long"),
        (f"00-{HEX}-{SPAN[:-1]}-01", "parent id too short"),
        (f"00-{HEX}-{SPAN}-1", "flags are two digits"),
        (f"00-{HEX}-{SPAN}-0g", "flags are hex"),
        (f"0-{HEX}-{SPAN}-01", "version is two digits"),
        (f"00_{HEX}_{SPAN}_01", "fields are separated by '-'"),
        (f"00-{HEX[:16]}.{HEX[17:]}-{SPAN}-01", "illegal character in the trace id"),
        ("", "empty"),
    ],
)
def test_invalid_traceparents_restart_the_trace(value: str, why: str) -> None:
    assert parse_traceparent(value) is None, why
    assert extract_incoming({"traceparent": value}).trace_id is None, why


def test_two_different_traceparent_headers_restart_the_trace() -> None:
    other = f"00-{'12' * 16}-{SPAN}-01"
    incoming = extract_incoming([("traceparent", TRACEPARENT), ("traceparent", other)])
    assert incoming.trace_id is None
    assert sent_onward([("traceparent", TRACEPARENT), ("traceparent", other)])["traceparent"].split(
        "-"
    )[1] not in {HEX, "12" * 16}


def test_two_traceparents_in_one_header_restart_the_trace() -> None:
    assert extract_incoming({"traceparent": f"{TRACEPARENT},{TRACEPARENT}"}).trace_id is None


def test_the_same_traceparent_sent_twice_is_one() -> None:
    incoming = extract_incoming([("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)])
    assert (incoming.trace_id, incoming.parent_span_id) == (TID, SPAN)


@pytest.mark.parametrize(
    ("flags", "sent"),
    [
        ("00", "00"),  # not sampled stays not sampled
        ("01", "01"),
        ("02", "02"),  # Level 2: the random flag is kept
        ("03", "03"),
        ("ff", "03"),  # unknown bits are not passed on
    ],
)
def test_trace_flags_are_propagated_as_received(flags: str, sent: str) -> None:
    headers = sent_onward({"traceparent": f"00-{HEX}-{SPAN}-{flags}"})
    version, trace, parent, out_flags = headers["traceparent"].split("-")
    assert (version, trace, out_flags) == ("00", HEX, sent)
    assert parent != SPAN  # our own span is the receiver's parent
    assert headers["x-trace-id"] == TID


def test_inject_writes_00_when_the_context_is_not_sampled() -> None:
    headers = sent_onward({"x-trace-id": TID, "traceparent": f"00-{HEX}-{SPAN}-00"})
    assert headers["traceparent"].endswith("-00")
    assert outgoing_headers() == {}  # outside the trace nothing is sent


# --- tracestate --------------------------------------------------------------------------


def test_tracestate_is_kept_and_resent_with_the_trace() -> None:
    headers = sent_onward({"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE,rojo=00f"})
    assert headers["tracestate"] == "congo=t61rcWkgMzE,rojo=00f"


def test_tracestate_without_a_valid_traceparent_is_dropped() -> None:
    headers = sent_onward({"traceparent": f"00-{HEX}-{'0' * 16}-01", "tracestate": "foo=1"})
    assert "tracestate" not in headers
    assert extract_incoming({"tracestate": "foo=1"}).tracestate is None


def test_multiple_tracestate_headers_are_one_list_in_order() -> None:
    carrier = [
        ("traceparent", TRACEPARENT),
        ("tracestate", "foo=1"),
        ("tracestate", "bar=2,baz=3"),
    ]
    assert extract_incoming(carrier).tracestate == "foo=1,bar=2,baz=3"


def test_optional_whitespace_and_empty_members_are_ignored() -> None:
    assert parse_tracestate(" \tfoo=1 ,\t, bar=2\t") == (("foo", "1"), ("bar", "2"))
    assert parse_tracestate("") == ()
    assert extract_incoming({"traceparent": TRACEPARENT, "tracestate": ""}).tracestate is None


def test_a_duplicated_key_invalidates_the_whole_tracestate() -> None:
    assert parse_tracestate("foo=1,bar=2,foo=3") is None
    assert parse_tracestate(["foo=1", "foo=1"]) is None
    headers = sent_onward({"traceparent": TRACEPARENT, "tracestate": "foo=1,foo=2"})
    assert "tracestate" not in headers
    assert headers["x-trace-id"] == TID  # the trace itself is still continued


def test_32_members_are_kept_33_invalidate_the_list() -> None:
    members = [f"k{i}=v{i}" for i in range(33)]
    assert parse_tracestate(",".join(members[:32])) is not None
    assert parse_tracestate(",".join(members)) is None
    assert parse_tracestate([",".join(members[:16]), ",".join(members[16:])]) is None


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a" * 256, True),
        ("a" * 257, False),
        ("foo_bar-baz*qux/1", True),
        ("1foo", False),  # a simple key starts with a letter
        ("Foo", False),  # lower case only
        ("foo.bar", False),
        ("foo@bar", True),
        (f"{'t' * 241}@{'s' * 14}", True),
        (f"{'t' * 242}@s", False),
        (f"t@{'s' * 15}", False),
        ("1tenant@sys", True),  # a tenant id may start with a digit
        ("tenant@1sys", False),  # a system id may not
        ("a@b@c", False),
        ("", False),
    ],
)
def test_key_format(key: str, valid: bool) -> None:
    assert (parse_tracestate(f"{key}=v") is not None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("v" * 256, True),
        ("v" * 257, False),
        ("with space", True),
        ("trailing ", True),  # the space is optional whitespace around the member, not value
        ("tab\tinside", False),
        ("a,b", False),
        ("a=b", False),
        ("\x7f", False),
        ("é", False),
        ("!~", True),
        ("", False),
    ],
)
def test_value_format(value: str, valid: bool) -> None:
    header = f"foo={value}"
    if value == "a,b":
        assert parse_tracestate(header) is None  # "b" alone is a malformed member
        return
    assert (parse_tracestate(header) is not None) is valid


def test_a_long_list_is_cut_large_entries_first_then_from_the_end() -> None:
    large = ("big", "x" * 200)
    small = [(f"k{i:02}", "v" * 20) for i in range(24)]  # 24 x 25 chars: over 512 with commas
    text = format_tracestate([small[0], large, *small[1:]])
    assert len(text) <= 512
    assert "big=" not in text
    assert text.startswith("k00=")
    kept = parse_tracestate(text)
    assert kept is not None
    assert [key for key, _ in kept] == [key for key, _ in small[: len(kept)]]


def test_only_as_many_large_entries_go_as_needed() -> None:
    large = [(f"big{i}", "x" * 200) for i in range(3)]
    text = format_tracestate([("a", "1"), *large])  # 3 x 205 + 3: one large must go
    assert text == f"a=1,big0={'x' * 200},big1={'x' * 200}"
    assert format_tracestate([]) == ""
