"""Error categories: the built-in taxonomy, user registrations, and the fields of an error event."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from collections.abc import Iterator

import chdb
import clickhouse_connect.driver.exceptions as clickhouse_errors
import confluent_kafka
import httpx
import pytest
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st

from moose_trace.errors import (
    ERROR_CATEGORIES,
    categorize_error,
    error_fields,
    register_error_category,
    unregister_error_category,
)
from moose_trace.errors.signature import error_signature

_REQUEST = httpx.Request("GET", "http://example.com/data")


def _status_error(status: int) -> httpx.HTTPStatusError:
    response = httpx.Response(status, request=_REQUEST)
    return httpx.HTTPStatusError(f"status {status}", request=_REQUEST, response=response)


def _kafka(code: int) -> confluent_kafka.KafkaException:
    return confluent_kafka.KafkaException(confluent_kafka.KafkaError(code))


def _chdb_error(sql: str) -> BaseException:
    try:
        chdb.query(sql)  # type: ignore[no-untyped-call]
    except Exception as error:
        return error
    raise AssertionError("the query was supposed to fail")


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (TimeoutError("read timed out"), "timeout_error"),
        (asyncio.TimeoutError(), "timeout_error"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_error"),
        (ConnectionResetError(), "connection_error"),
        (socket.gaierror(-2, "Name or service not known"), "connection_error"),
        (PermissionError(errno.EACCES, "denied"), "authorization_error"),
        (FileNotFoundError(errno.ENOENT, "missing"), "not_found_error"),
        (OSError(errno.ENOSPC, "No space left on device"), "resource_error"),
        (MemoryError(), "resource_error"),
        (ValueError("invalid literal for int() with base 10: 'abc'"), "type_conversion_error"),
        (ValueError("amount must be positive"), "validation_error"),
        (json.JSONDecodeError("Expecting value", "{", 1), "type_conversion_error"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "type_conversion_error"),
        (TypeError("'NoneType' object is not subscriptable"), "code_error"),
        (KeyError("user_id"), "code_error"),
        (AttributeError("x"), "code_error"),
        (ZeroDivisionError(), "code_error"),
        (asyncio.CancelledError(), "cancelled_error"),
        (KeyboardInterrupt(), "cancelled_error"),
        (RuntimeError("Connection refused by peer"), "connection_error"),
        (RuntimeError("rate limit exceeded, retry later"), "rate_limit_error"),
        (RuntimeError("token has expired"), "authentication_error"),
        (Exception("something odd"), "unknown_error"),
    ],
)
def test_standard_library_errors(exc: BaseException, category: str) -> None:
    assert categorize_error(exc) == category


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (httpx.ReadTimeout("timed out", request=_REQUEST), "timeout_error"),
        (httpx.ConnectTimeout("timed out", request=_REQUEST), "timeout_error"),
        (httpx.ConnectError("refused", request=_REQUEST), "connection_error"),
        (_status_error(401), "authentication_error"),
        (_status_error(403), "authorization_error"),
        (_status_error(404), "not_found_error"),
        (_status_error(422), "validation_error"),
        (_status_error(429), "rate_limit_error"),
        (_status_error(504), "timeout_error"),
        (_kafka(confluent_kafka.KafkaError._MSG_TIMED_OUT), "timeout_error"),
        (_kafka(confluent_kafka.KafkaError._ALL_BROKERS_DOWN), "connection_error"),
        (_kafka(confluent_kafka.KafkaError._TRANSPORT), "connection_error"),
        (_kafka(confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED), "authorization_error"),
        (_kafka(confluent_kafka.KafkaError.SASL_AUTHENTICATION_FAILED), "authentication_error"),
        (_kafka(confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART), "not_found_error"),
        (clickhouse_errors.DataError("Cannot parse input"), "type_conversion_error"),
        (clickhouse_errors.OperationalError("HTTPDriver: server unreachable"), "connection_error"),
        (
            clickhouse_errors.DatabaseError("Code: 159. DB::Exception: Timeout exceeded"),
            "timeout_error",
        ),
        (
            clickhouse_errors.ProgrammingError("Code: 60. DB::Exception: Table x does not exist"),
            "not_found_error",
        ),
        (
            urllib3.exceptions.NewConnectionError(None, "Failed to establish"),  # type: ignore[arg-type]
            "connection_error",
        ),
    ],
)
def test_library_errors_are_recognized(exc: BaseException, category: str) -> None:
    assert categorize_error(exc) == category


def test_clickhouse_errors_from_a_real_engine() -> None:
    assert categorize_error(_chdb_error("SELECT * FROM no_such_table")) == "not_found_error"
    assert categorize_error(_chdb_error("SELECT toDateTime('abc')")) == "type_conversion_error"
    assert categorize_error(_chdb_error("SELEC 1")) == "code_error"


def test_a_wrapped_error_takes_the_category_of_its_cause() -> None:
    class PipelineError(Exception):
        pass

    def insert() -> None:
        try:
            raise TimeoutError("ClickHouse query timeout after 5000ms")
        except TimeoutError as cause:
            raise PipelineError("insert failed") from cause

    with pytest.raises(PipelineError) as caught:
        insert()
    assert categorize_error(caught.value) == "timeout_error"
    retry = urllib3.exceptions.MaxRetryError(None, "/", reason=ConnectionRefusedError())  # type: ignore[arg-type]
    assert categorize_error(retry) == "connection_error"


def test_class_names_of_unknown_libraries_are_read() -> None:
    class QueryTimedOut(Exception):
        pass

    class NoBrokersAvailable(Exception):
        pass

    class TypeConversionError(Exception):
        pass

    assert categorize_error(QueryTimedOut()) == "timeout_error"
    assert categorize_error(NoBrokersAvailable()) == "connection_error"
    assert categorize_error(TypeConversionError()) == "type_conversion_error"


class PaymentDeclined(Exception):
    pass


class SoftDeclined(PaymentDeclined):
    pass


@pytest.fixture
def registrations() -> Iterator[list[object]]:
    made: list[object] = []
    yield made
    for matcher in made:
        unregister_error_category(matcher)  # type: ignore[arg-type]


def test_users_register_their_own_types_names_and_predicates(registrations: list[object]) -> None:
    assert categorize_error(SoftDeclined()) == "unknown_error"
    register_error_category(PaymentDeclined, "payment_error")
    registrations.append(PaymentDeclined)
    assert categorize_error(SoftDeclined()) == "payment_error"

    stripe_like = type("RateLimitError", (Exception,), {"__module__": "stripe.error"})
    register_error_category("stripe.error.RateLimitError", "rate_limit_error")
    registrations.append("stripe.RateLimitError")
    assert categorize_error(stripe_like()) == "rate_limit_error"

    def is_quota(exc: BaseException) -> bool:
        return "quota" in str(exc)

    register_error_category(is_quota, "quota_error")
    registrations.append(is_quota)
    assert categorize_error(TimeoutError("quota reached")) == "quota_error"


def test_registrations_can_be_removed(registrations: list[object]) -> None:
    register_error_category(TimeoutError, "validation_error")
    assert categorize_error(TimeoutError()) == "validation_error"
    unregister_error_category(TimeoutError)
    assert categorize_error(TimeoutError()) == "timeout_error"


def test_a_failing_predicate_is_skipped(registrations: list[object]) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("bug in the predicate")

    register_error_category(broken, "never_error")
    registrations.append(broken)
    assert categorize_error(TimeoutError()) == "timeout_error"


def test_bad_registrations_fail_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="lower-case word"):
        register_error_category(TimeoutError, "Timeout Error")
    with pytest.raises(TypeError, match="exception class"):
        register_error_category(42, "timeout_error")  # type: ignore[arg-type]


def test_error_fields_of_a_raised_exception() -> None:
    try:
        int("abc")
    except ValueError as error:
        fields = error_fields(error)
    assert fields["error_category"] == "type_conversion_error"
    assert fields["error_type"] == "ValueError"
    assert fields["error_message"] == "invalid literal for int() with base 10: 'abc'"
    assert fields["error_signature"] == error_signature("ValueError", fields["error_message"])
    assert fields["stack"].startswith("Traceback (most recent call last):")
    assert 'int("abc")' in fields["stack"]


def test_error_fields_of_an_exception_never_raised_have_no_stack() -> None:
    fields = error_fields(ConnectionResetError("peer went away"))
    assert "stack" not in fields
    assert fields["error_category"] == "connection_error"


def test_unprintable_exceptions_still_give_fields() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    fields = error_fields(Unprintable())
    assert fields["error_message"] == "<unprintable Unprintable>"
    assert fields["error_category"] == "unknown_error"


def test_anything_that_is_not_an_exception_is_unknown() -> None:
    assert categorize_error("timeout") == "unknown_error"  # type: ignore[arg-type]


@given(st.text(), st.sampled_from([Exception, RuntimeError, ValueError, OSError, TypeError]))
def test_any_message_gives_a_known_category(message: str, kind: type[Exception]) -> None:
    assert categorize_error(kind(message)) in ERROR_CATEGORIES
    assert set(error_fields(kind(message))) == {
        "error_category",
        "error_type",
        "error_message",
        "error_signature",
    }
