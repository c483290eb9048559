"""Error signatures: similar errors share one, different errors do not, bad input never raises."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moose_trace.errors.signature import error_signature, normalize_message

SIGNATURE = re.compile(r"v1_[0-9a-f]{16}")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("query 42 timed out after 5000 ms", "query 7 timed out after 120 ms"),
        (
            "record 0193f0c2-7b1e-7c3a-9d2f-0123456789ab rejected",
            "record 01a20c3c-ec68-709b-8bc0-933a29720051 rejected",
        ),
        ("cannot reach 10.0.0.7:9092", "cannot reach 192.168.1.20:19092"),
        ("GET https://api.example.com/v1/data?id=5 failed", "GET http://other/x failed"),
        ("no account for alice@example.com", "no account for bob.smith+x@corp.io"),
        ("late event at 2026-01-09T10:30:00.123Z", "late event at 2025-12-31 23:59:59"),
        ("Field 'timestamp' expects DateTime", 'Field "created_at" expects DateTime'),
        ("bad checksum a3f9c2d1e4b5", "bad checksum 0xDEADBEEF"),
        ("host fe80::1ff:fe23:4567:890a down", "host ::1 down"),
    ],
)
def test_variable_parts_do_not_change_the_signature(first: str, second: str) -> None:
    assert error_signature("SomeError", first) == error_signature("SomeError", second)


def test_the_stable_words_and_the_type_do_change_it() -> None:
    base = error_signature("TimeoutError", "query 42 timed out")
    assert error_signature("TimeoutError", "insert 42 timed out") != base
    assert error_signature("ConnectionError", "query 42 timed out") != base


def test_signature_is_short_versioned_and_stable_across_processes() -> None:
    signature = error_signature("TimeoutError", "query 42 timed out after 5000 ms")
    assert SIGNATURE.fullmatch(signature)
    # A fixed value: the hash must not depend on the process (no ``hash()``, no salt). If the
    # rules change on purpose, the version prefix changes with them.
    assert signature == "v1_717f6ee944c895a6"


def test_placeholders_are_typed() -> None:
    message = (
        "user 'bob' (bob@example.com) from 10.1.2.3 at 2026-01-09T10:30:00Z "
        "sent 0193f0c2-7b1e-7c3a-9d2f-0123456789ab to https://x.io/a 3 times, ptr 0x1f"
    )
    assert normalize_message(message) == (
        "user <str> (<email>) from <ip> at <timestamp> sent <uuid> to <url> <num> times, ptr <hex>"
    )


def test_identifiers_with_digits_are_kept() -> None:
    assert normalize_message("column Int64 on x86_64 via utf8") == (
        "column Int64 on x86_64 via utf8"
    )
    assert normalize_message("latency 12ms  over\n\tbudget") == "latency <num>ms over budget"


def test_huge_messages_group_by_their_start() -> None:
    head = "Code: 62. Syntax error near SELECT " + "col, " * 250  # past the 1,000 that count
    assert error_signature("E", head + "a" * 5000) == error_signature("E", head + "b" * 5000)


@given(st.text(), st.text())
def test_any_text_gives_a_signature(error_type: str, message: str) -> None:
    assert SIGNATURE.fullmatch(error_signature(error_type, message))
    normalize_message(message)


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@given(st.one_of(st.none(), st.integers(), st.binary(), st.just(_Unprintable())))
def test_non_text_input_never_raises(value: object) -> None:
    assert SIGNATURE.fullmatch(error_signature(value, value))
