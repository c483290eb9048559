"""Event times are read and written the same on the usual shape's shortcut as in general.

Nearly every line carries ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: ``timestamp_us`` reads its day once
and the time of day by arithmetic, and ``format_time`` writes a day's text once. These tests
hold both to the general rules: the same instant spelled with ``+00:00`` (which the shortcut
never takes), and ``datetime``'s own formatting.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from moose_trace.query.event_text import format_time
from moose_trace.query.normalize import timestamp_us

_USUAL = "2026-12-05T00:02:24.895920Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_the_usual_shape_reads_as_the_same_instant_with_an_offset(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")
    expected = timestamp_us(text[:-1] + "+00:00")
    assert expected is not None
    assert timestamp_us(text) == expected


@given(
    st.lists(
        st.tuples(st.integers(0, 26), st.sampled_from("0123456789:-T .Z+x5\u0663")),
        min_size=1,
        max_size=3,
    )
)
def test_a_bent_usual_shape_reads_as_the_general_rules_read_it(
    changes: list[tuple[int, str]],
) -> None:
    chars = list(_USUAL)
    for position, char in changes:
        chars[position] = char
    text = "".join(chars)
    if text.endswith("Z"):  # the general rules read the same text with +00:00 for Z
        assert timestamp_us(text) == timestamp_us(text[:-1] + "+00:00")
    else:
        general = timestamp_us(text + " ")  # a trailing space: never the shortcut, never valid
        assert general is None


def test_impossible_times_of_the_usual_shape_are_no_timestamps() -> None:
    for text in (
        "2026-02-30T00:00:00.000000Z",
        "2026-12-05T24:00:00.000000Z",
        "2026-12-05T23:60:00.000000Z",
        "2026-12-05T23:59:60.000000Z",
        "2026-12-05T2\u0663:00:00.000000Z",
    ):
        assert timestamp_us(text) is None, text


@given(st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999))
def test_format_time_writes_what_datetime_writes(micros: int) -> None:
    moment = _EPOCH + timedelta(microseconds=micros)
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if moment.year < 1000:  # strftime's own (glibc: unpadded) spelling of such years
        date = moment.strftime("%Y-%m-%d")
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    assert format_time(micros) == f"{date} {clock}.{moment.microsecond // 1000:03d}"


@given(
    st.integers(min_value=0, max_value=9999),
    st.integers(min_value=0, max_value=13),
    st.integers(min_value=0, max_value=32),
    st.sampled_from(["", "T23:59:59.123456Z", " 00:00+05:30", "T12:30:15-08"]),
)
def test_timestamps_are_read_as_datetime_reads_them(
    year: int, month: int, day: int, time_of_day: str
) -> None:
    """Dates are worked out without ``datetime`` (it costs a lookup's start-up): the same
    microseconds for every real date, none for a date that does not exist."""
    text = f"{year:04d}-{month:02d}-{day:02d}{time_of_day}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        expected = None
    else:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        delta = moment - _EPOCH
        expected = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    assert timestamp_us(text) == expected
