"""W3C Baggage, written from the spec: parsing, limits, propagation, and the logged allow-list."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from moose_trace.tracing.baggage import (
    MAX_BYTES,
    MAX_MEMBERS,
    BaggageMember,
    baggage_fields,
    configure_baggage,
    format_baggage,
    logged_members,
    parse_baggage,
)
from moose_trace.tracing.context import current_fields, trace_context
from moose_trace.tracing.propagation import bind_incoming, extract_incoming, outgoing_headers

TID = "0af76519-16cd-43dd-8448-eb211c80319c"


@pytest.fixture(autouse=True)
def default_allow_list() -> Iterator[None]:
    yield
    configure_baggage()


def pairs(text: str) -> list[tuple[str, str]]:
    return [(member.key, member.value) for member in parse_baggage(text)]


def test_members_values_and_properties_are_read() -> None:
    members = parse_baggage("userId=alice,serverNode=DF%2028,isProduction=false;ttl=30;secret")
    assert [(m.key, m.value, m.properties) for m in members] == [
        ("userId", "alice", ""),
        ("serverNode", "DF 28", ""),
        ("isProduction", "false", "ttl=30;secret"),
    ]


def test_optional_whitespace_is_ignored_everywhere_the_grammar_allows_it() -> None:
    assert pairs(" \tkey1 = value1 ,\tkey2=value2 ; prop ") == [
        ("key1", "value1"),
        ("key2", "value2"),
    ]


def test_values_are_percent_decoded_as_utf8_and_bad_sequences_replaced() -> None:
    assert pairs("city=S%C3%A3o%20Paulo,bad=%FF") == [("city", "São Paulo"), ("bad", "\ufffd")]


def test_malformed_members_are_skipped_and_the_rest_kept() -> None:
    assert pairs('ok=1,no-equals,bad key=2,=empty,quote="x",also=2') == [("ok", "1"), ("also", "2")]


def test_a_later_duplicate_key_wins() -> None:
    assert pairs("a=1,b=2,a=3") == [("b", "2"), ("a", "3")]


def test_several_headers_are_one_list() -> None:
    assert [(m.key, m.value) for m in parse_baggage(["a=1", "b=2"])] == [("a", "1"), ("b", "2")]


def test_members_past_the_limits_are_dropped_whole_never_cut() -> None:
    many = ",".join(f"k{i}=v" for i in range(MAX_MEMBERS + 10))
    assert len(parse_baggage(many)) == MAX_MEMBERS
    big = ",".join(f"k{i}={'x' * 1000}" for i in range(20))
    kept = parse_baggage(big)
    assert all(member.value == "x" * 1000 for member in kept)
    assert len(format_baggage(kept)) <= MAX_BYTES
    assert len(kept) == 8  # 8 x 1004 bytes + separators fit in 8192, a ninth does not


def test_format_encodes_what_is_not_a_baggage_octet_and_round_trips() -> None:
    members = (BaggageMember("city", "São Paulo, BR;x"), BaggageMember("p", "1", "ttl=3"))
    text = format_baggage(members)
    assert text == "city=S%C3%A3o%20Paulo%2C%20BR%3Bx,p=1;ttl=3"
    assert parse_baggage(text) == members


def test_allow_listed_members_become_log_fields_cut_to_the_limit() -> None:
    configure_baggage(["tenant_id", "userId:user_id"], max_value_length=5)
    members = parse_baggage("tenant_id=acme-corp,userId=42,other=x")
    assert baggage_fields(members) == {"tenant_id": "acme-", "user_id": "42"}
    assert logged_members() == {"tenant_id": "tenant_id", "userId": "user_id"}


def test_baggage_may_never_set_the_sdks_own_fields() -> None:
    with pytest.raises(ValueError, match="trace_id"):
        configure_baggage(["trace_id"])
    with pytest.raises(ValueError, match="principal"):
        configure_baggage({"user": "principal"})
    with pytest.raises(ValueError, match="max_value_length"):
        configure_baggage(max_value_length=0)


def test_incoming_baggage_is_logged_and_sent_on_inside_its_context_only() -> None:
    incoming = extract_incoming({"x-trace-id": TID, "baggage": "tenant_id=acme,cart=3"})
    with trace_context(incoming.trace_id):
        bind_incoming(incoming)
        assert current_fields()["tenant_id"] == "acme"
        assert "cart" not in current_fields()  # not allow-listed: carried, not logged
        assert outgoing_headers()["baggage"] == "tenant_id=acme,cart=3"
    assert "tenant_id" not in current_fields()


def test_no_members_to_log_when_the_allow_list_is_empty() -> None:
    configure_baggage(())
    assert baggage_fields(parse_baggage("tenant_id=acme")) == {}


def test_the_allow_list_comes_from_the_environment() -> None:
    code = "import json, moose_trace.tracing.baggage as b; print(json.dumps(b.logged_members()))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={"MOOSE_TRACE_BAGGAGE_FIELDS": "org:tenant_id, region", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(run.stdout) == {"org": "tenant_id", "region": "region"}
