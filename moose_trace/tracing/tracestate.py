"""W3C ``tracestate``: vendor entries travelling with ``traceparent``, kept and re-sent as received.

Parsing follows W3C Trace Context (Level 1 and 2): a comma-separated list of ``key=value``
members, optional whitespace (space, tab) around each, empty members allowed and dropped;
several ``tracestate`` headers are one list, in order. A key is a simple key (``[a-z]``, then up to
255 of ``[a-z0-9_\\-*/]``) or ``tenant@system`` (tenant up to 241 characters starting with a
letter or digit, system up to 14 starting with a letter); a value is 1-256 printable ASCII
characters without ``,`` or ``=`` and not ending in a space. A list with a malformed member, a key
seen twice, or more than 32 members is invalid as a whole and is dropped (the spec lets a vendor
discard what it cannot parse; keeping part of it could pass on a vendor's entry it never wrote).

Sending: the members in the order received, joined by ``,``. A list over 512 characters is cut as
the spec advises: entries longer than 128 characters go first, then entries from the end.
Parsing runs only when the header is present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "MAX_MEMBERS",
    "SEND_LIMIT",
    "TRACESTATE_HEADER",
    "format_tracestate",
    "parse_tracestate",
]

TRACESTATE_HEADER = "tracestate"
"""The W3C header name (any case on the wire)."""
MAX_MEMBERS = 32
"""The most list members a valid ``tracestate`` holds."""
SEND_LIMIT = 512
"""Longer lists are cut before they are sent (the spec's propagation minimum)."""

_LARGE_MEMBER = 128
_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(f"({_KEY})=({_VALUE})").fullmatch
_OWS = " \t"
# Refuse before splitting: 32 members of the longest legal key and value, with separators.
_MAX_INPUT = MAX_MEMBERS * (256 + 1 + 256) + 31 * 3 + 64

Members = tuple[tuple[str, str], ...]
"""A parsed ``tracestate``: ``(key, value)`` pairs in the order received."""


def parse_tracestate(values: str | Iterable[str] | None) -> Members | None:
    """Parse one ``tracestate`` header value, or several (combined in order).

    Returns the members (``()`` for an empty header), or ``None`` when the list is invalid:
    a malformed member, a duplicated key, more than 32 members. Never raises.
    """
    if values is None:
        return None
    texts = [values] if isinstance(values, str) else list(values)
    if sum(len(text) for text in texts) > _MAX_INPUT:
        return None
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    for text in texts:
        for raw in text.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            match = _MEMBER(member)
            if match is None:
                return None
            key, value = match.groups()
            if key in seen:
                return None
            seen.add(key)
            members.append((key, value))
            if len(members) > MAX_MEMBERS:
                return None
    return tuple(members)


def format_tracestate(members: Iterable[tuple[str, str]], limit: int = SEND_LIMIT) -> str:
    """Return the header value for ``members``, cut to ``limit`` characters as the spec advises.

    Entries longer than 128 characters are removed first (the last one first), then entries
    from the end, until the list fits; the first 32 members at most are sent.
    """
    entries = [f"{key}={value}" for key, value in members][:MAX_MEMBERS]
    size = sum(map(len, entries)) + len(entries) - 1
    for index in range(len(entries) - 1, -1, -1):  # large entries first, the last one first
        if size <= limit:
            break
        if len(entries[index]) > _LARGE_MEMBER:
            size -= len(entries.pop(index)) + 1
    while entries and size > limit:
        size -= len(entries.pop()) + 1
    return ",".join(entries)
