"""Trace ids: UUIDv7 (RFC 9562) in canonical text, and the conversions OpenTelemetry and W3C need.

A moose-trace ``trace_id`` is the same 128 bits as the OpenTelemetry trace id: canonical text is
36 lowercase characters with hyphens, the W3C ``traceparent`` form is the same 32 hex digits without
them. Ids made here sort by creation time and strictly increase within a process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uuid_utils

__all__ = [
    "INVALID_TRACE_ID_INT",
    "TraceIdList",
    "are_canonical_ids",
    "new_trace_id",
    "parse_trace_id",
    "trace_id_from_hex",
    "trace_id_from_int",
    "trace_id_to_hex",
    "trace_id_to_int",
]

INVALID_TRACE_ID_INT = 0
"""The all-zero id, which W3C Trace Context and OpenTelemetry reserve as "no trace"."""


class TraceIdList(list[str]):
    """A list of canonical trace ids, for a log field such as ``trace_ids`` (a batch's traces).

    Fill it only with ids from ``new_trace_id`` or ``parse_trace_id``: the redactor passes it
    through unread, as it does numbers — such ids are lower-case hex and hyphens, nothing a
    secret rule can match — instead of checking hundreds of new texts per batch line. It is
    written as a JSON list like any list.
    """

    __slots__ = ()


MAX_TRACE_ID_INPUT = 64
"""Longer input is refused before any parsing work: incoming headers are untrusted."""

_CANONICAL = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_CANONICAL_LOWER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_ZERO_CANONICAL = "00000000-0000-0000-0000-000000000000"


def _uuid7() -> uuid_utils.UUID:
    """Return a UUIDv7; on the first call, load ``uuid_utils`` and take its place.

    ``uuid_utils`` imports ``uuid`` and ``platform`` (~10 ms): a ``moose-trace logs`` lookup
    parses ids but never makes one, so it pays nothing; a service pays once.
    """
    global _uuid7  # noqa: PLW0603 (the loaded function replaces this stand-in)
    import uuid_utils  # noqa: PLC0415 (loaded on first use: see above)

    _uuid7 = uuid_utils.uuid7
    return _uuid7()


def new_trace_id() -> str:
    """Return a new UUIDv7 trace id in canonical lowercase text.

    Ids are time-ordered and strictly increasing within the process, also for many ids in one
    millisecond and across threads (uuid_utils keeps a process-wide monotonic counter, RFC 9562
    method 1), so sorting ids sorts requests by arrival.
    """
    return str(_uuid7())


def _hyphenate(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def parse_trace_id(value: str | bytes | None) -> str | None:
    """Return ``value`` as a canonical trace id, or ``None`` if it is not a valid one.

    Accepts a UUID in canonical hyphenated form (any case) or 32 hex digits (the W3C form).
    Refuses everything else: empty, surrounding spaces or junk, CR/LF, non-ASCII, anything over
    64 characters, and the all-zero id. Never raises, so it is safe on raw header values.
    """
    if type(value) is str and _CANONICAL_LOWER(value) is not None:
        # The common case (our own ids coming back): already canonical, nothing to build.
        return None if value == _ZERO_CANONICAL else value
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) > MAX_TRACE_ID_INPUT:
            return None
        try:
            text = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    elif isinstance(value, str):
        text = value
    else:
        return None
    length = len(text)
    if length == 36:
        if _CANONICAL.fullmatch(text) is None:
            return None
        canonical = text.lower()
    elif length == 32:
        if _HEX32.fullmatch(text) is None:
            return None
        canonical = _hyphenate(text.lower())
    else:
        return None
    if canonical == _ZERO_CANONICAL:
        return None
    return canonical


_ID_ALPHABET = b"0123456789abcdef-\n"
_ID_LINE = 37  # 36 characters and the line break that joins the next
_HYPHENS_AT = (8, 13, 18, 23)
_ZERO_ID = _ZERO_CANONICAL.encode()


def are_canonical_ids(values: list[bytes]) -> bool:
    """Return whether every value is a trace id already in canonical form (lowercase, non-zero).

    ``parse_trace_id`` for a batch of byte strings, for what is nearly always true (a Kafka batch
    from this library's producer): all are checked together with a few byte operations, a
    fraction of the per-value cost. ``False`` says only that some value is not canonical: parse
    each with ``parse_trace_id`` then.
    """
    count = len(values)
    if not count:
        return False
    joined = b"\n".join(values)
    hyphens = b"-" * count
    return (
        len(joined) == _ID_LINE * count - 1
        and joined.count(b"\n") == count - 1
        and joined[_ID_LINE - 1 :: _ID_LINE] == b"\n" * (count - 1)  # each value 36 bytes long
        and not joined.translate(None, _ID_ALPHABET)
        and joined.count(b"-") == 4 * count
        and all(joined[at::_ID_LINE] == hyphens for at in _HYPHENS_AT)
        and _ZERO_ID not in joined
    )


def trace_id_to_int(trace_id: str) -> int:
    """Return the 128-bit integer OpenTelemetry uses for a canonical (or 32-hex) trace id.

    Raises ``ValueError`` for text that is not a valid trace id.
    """
    canonical = parse_trace_id(trace_id)
    if canonical is None:
        raise ValueError(f"not a trace id: {str(trace_id)[:64]!r}")
    return int(canonical.replace("-", ""), 16)


def trace_id_from_int(value: int) -> str:
    """Return the canonical trace id for OpenTelemetry's 128-bit trace id integer.

    Raises ``ValueError`` for 0 (OpenTelemetry's invalid id) or a value outside 128 bits.
    """
    if not 0 < value < 1 << 128:
        raise ValueError(f"trace id integer out of range: {value}")
    return _hyphenate(f"{value:032x}")


def trace_id_to_hex(trace_id: str) -> str:
    """Return the 32 lowercase hex digits of a trace id, as ``traceparent`` carries it.

    Raises ``ValueError`` for text that is not a valid trace id.
    """
    canonical = parse_trace_id(trace_id)
    if canonical is None:
        raise ValueError(f"not a trace id: {str(trace_id)[:64]!r}")
    return canonical.replace("-", "")


def trace_id_from_hex(value: str | bytes) -> str | None:
    """Return the canonical trace id for 32 hex digits (a ``traceparent`` trace-id), or ``None``."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            return None
    elif len(value) != 32:
        return None
    return parse_trace_id(value)
