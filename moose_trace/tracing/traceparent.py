"""The W3C ``traceparent`` header: its parse, its serialization and its trace-flags.

``00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>``. The trace id is the moose-trace
id's 32 hex digits (``ids`` converts); the flags this SDK understands are sampled and random.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moose_trace.tracing.carriers import header_text
from moose_trace.tracing.ids import parse_trace_id

__all__ = [
    "KNOWN_FLAGS",
    "RANDOM_FLAG",
    "SAMPLED_FLAG",
    "TRACEPARENT_HEADER",
    "Traceparent",
    "parse_traceparent",
    "traceparent_for",
]

TRACEPARENT_HEADER = "traceparent"
"""The W3C Trace Context header; its trace-id is the trace id's 32 hex digits."""
SAMPLED_FLAG = 0x01
"""W3C trace-flags bit: the caller may have recorded its span."""
RANDOM_FLAG = 0x02
"""W3C Level 2 trace-flags bit: the trace id's right 7 bytes are random."""

KNOWN_FLAGS = SAMPLED_FLAG | RANDOM_FLAG
"""The trace-flags bits this SDK reads and sends on; others are cleared."""

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_MAX_TRACEPARENT = 512
_OWS = " \t"


@dataclass(frozen=True, slots=True)
class Traceparent:
    """A parsed W3C ``traceparent``."""

    trace_id: str
    span_id: str
    sampled: bool
    flags: int = SAMPLED_FLAG
    """The trace-flags this SDK understands (sampled, random); unknown bits are cleared."""


def parse_traceparent(value: str | bytes | None) -> Traceparent | None:
    """Parse a W3C ``traceparent`` value; ``None`` for anything malformed or reserved.

    Surrounding spaces and tabs are ignored. Version ``ff``, an all-zero trace id or span id, and
    upper-case hex are refused, as the W3C Trace Context spec requires; later versions are read by
    their version-00 prefix.
    """
    text = header_text(value)
    if text is None or len(text) > _MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(text.strip(_OWS))
    if match is None:
        return None
    version, hex_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id = parse_trace_id(hex_id)
    if trace_id is None or span_id == "0000000000000000":
        return None
    bits = int(flags, 16) & KNOWN_FLAGS
    return Traceparent(trace_id, span_id, bool(bits & SAMPLED_FLAG), bits)


def traceparent_for(
    trace_id: str, span_id: str, sampled: bool = True, *, flags: int | None = None
) -> str:
    """Return the W3C ``traceparent`` value for a trace id and span id.

    ``flags`` (the whole trace-flags byte, e.g. ``0x03``) wins over ``sampled`` when given.
    """
    bits = flags if flags is not None else (SAMPLED_FLAG if sampled else 0)
    return f"00-{trace_id.replace('-', '')}-{span_id}-{bits & 0xFF:02x}"
