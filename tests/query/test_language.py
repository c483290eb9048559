"""The filter language parses into the AST, and bad input names the bad token."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from moose_trace.query.ast import AllOf, AnyOf, Match, Not, NumberCompare, TimeRange, Value
from moose_trace.query.durations import parse_duration, parse_instant, parse_range
from moose_trace.query.exceptions import QueryError
from moose_trace.query.language import (
    KafkaRecord,
    parse_compare,
    parse_fields,
    parse_filter,
    parse_levels,
    parse_time_range,
    parse_trace,
    parse_trace_kafka,
)

NOW = datetime(2026, 1, 9, 12, 0, tzinfo=timezone.utc)


def test_items_values_and_lists() -> None:
    assert parse_filter("type=transform,name=user_event_to_session") == AllOf(
        (
            Match("type", (Value("transform"),)),
            AnyOf(
                (
                    Match("name", (Value("user_event_to_session"),)),
                    Match("pipeline", (Value("user_event_to_session"),)),
                )
            ),
        )
    )
    assert parse_filter("phase=planning,execution") == Match(
        "phase", (Value("planning"), Value("execution"))
    )
    assert parse_filter("operation=ddl_*") == Match("operation", (Value("ddl_*", "glob"),))
    assert parse_filter("security=TRUE") == Match("security", (Value("true", "bool"),))
    assert parse_filter("http_status=500") == Match("http_status", (Value("500", "number"),))
    assert parse_filter("latency_ms:>1000") == NumberCompare("latency_ms", ">", 1000.0)
    assert parse_filter(" latency_ms :<= 2.5 ") == NumberCompare("latency_ms", "<=", 2.5)
    assert parse_filter("layer!=sync") == Match("layer", (Value("sync"),), negate=True)
    assert parse_filter("name!=x") == Not(
        AnyOf((Match("name", (Value("x"),)), Match("pipeline", (Value("x"),))))
    )
    assert parse_filter('event="a, b*",level=WARN') == AllOf(
        (Match("event", (Value("a, b*"),)), Match("level", (Value("warning"),)))
    )
    assert parse_filter("message=hi") == Match("event", (Value("hi"),))
    assert parse_filter("resource_type=api") == Match("type", (Value("api"),))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("latency_ms:>abc", ["'abc'", "expected a number"]),
        ("=x", ["'=x'", "expected key=value"]),
        ("type=", ["missing value", "'type='"]),
        ("a=1,,b=2", ["empty item"]),
        ('event="open', ["unclosed", "close the quoted value"]),
        ("ty pe=x", ["'ty pe=x'", "expected key=value"]),
        ("latency_ms:>1,extra", ["'extra'", "expected key=value"]),
        ("bad$!key=1", ["expected key=value"]),
    ],
)
def test_bad_filters_name_the_token(text: str, names: list[str]) -> None:
    with pytest.raises(QueryError) as caught:
        parse_filter(text)
    for name in names:
        assert name in str(caught.value)


def test_levels() -> None:
    assert parse_levels("warn,error") == Match("level", (Value("warning"), Value("error")))
    assert parse_levels("warning+") == Match(
        "level", (Value("warning"), Value("error"), Value("critical"))
    )
    with pytest.raises(QueryError, match="bad level 'loud'"):
        parse_levels("info,loud")


def test_durations_instants_and_windows() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(days=14)
    assert parse_instant("10m", NOW) == NOW - timedelta(minutes=10)
    assert parse_instant("now", NOW) == NOW
    assert parse_instant("2026-01-08", NOW) == datetime(2026, 1, 8, tzinfo=timezone.utc)
    assert parse_instant("2026-01-08T10:00:00+02:00", NOW) == datetime(
        2026, 1, 8, 8, tzinfo=timezone.utc
    )
    assert parse_range("2d-1d", NOW) == (NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert parse_range("1d-now", NOW) == (NOW - timedelta(days=1), NOW)
    assert parse_range("2026-01-08..2026-01-09", NOW)[1] == datetime(
        2026, 1, 9, tzinfo=timezone.utc
    )
    for bad, words in (
        ("3x", "bad duration '3x'"),
        ("0s", "longer than zero"),
        ("", "bad duration"),
    ):
        with pytest.raises(QueryError, match=words):
            parse_duration(bad)
    with pytest.raises(QueryError, match="bad time 'yesterday'"):
        parse_instant("yesterday", NOW)
    with pytest.raises(QueryError, match="end must come after its start"):
        parse_range("1d-2d", NOW)
    with pytest.raises(QueryError, match="bad time window '2026-01-08-2026-01-09'"):
        parse_range("2026-01-08-2026-01-09", NOW)


def test_time_range_trace_kafka_fields_and_compare() -> None:
    assert parse_time_range("1h", None, NOW) == TimeRange(NOW - timedelta(hours=1), None)
    assert parse_time_range(None, None, NOW) is None
    with pytest.raises(QueryError, match="not after --since"):
        parse_time_range("1h", "2h", NOW)
    assert parse_trace("0193F0C27B1E7C3A9D2F0123456789AB").trace_ids == (
        "0193f0c27b1e7c3a9d2f0123456789ab",
    )
    with pytest.raises(QueryError, match="bad trace id 'abc123'"):
        parse_trace("abc123")
    assert parse_trace_kafka("topic=Foo,partition=2,offset=12345") == KafkaRecord("Foo", 2, 12345)
    with pytest.raises(QueryError, match="lacks offset"):
        parse_trace_kafka("topic=Foo,partition=2")
    with pytest.raises(QueryError, match="bad partition 'two'"):
        parse_trace_kafka("topic=Foo,partition=two,offset=1")
    assert parse_fields("error_category,layer") == ("error_category", "layer")
    with pytest.raises(QueryError, match="field named twice"):
        parse_fields("layer,layer")
    windows = parse_compare(["before=2d-1d after=1d-now"], NOW).windows
    assert [(w.label, w.end - w.start) for w in windows] == [
        ("before", timedelta(days=1)),
        ("after", timedelta(days=1)),
    ]
    with pytest.raises(QueryError, match="bad window 'before'"):
        parse_compare(["before"], NOW)
    with pytest.raises(QueryError, match="names a window twice"):
        parse_compare(["a=2d-1d", "a=1d-now"], NOW)
