"""Carriers: reading trace headers out of any header collection this SDK meets.

A *carrier* is whatever holds the headers (a dict, starlette's ``Headers``, an ASGI raw header
list, a Kafka header list); a *getter* reads it (OpenTelemetry's ``Getter`` shape, so one
propagator serves HTTP and Kafka alike). The formats themselves (``id_header``, ``traceparent``,
``tracestate``, ``baggage``) never look at a carrier; ``incoming`` joins the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.propagators.textmap import Getter

__all__ = [
    "HeaderGetter",
    "escape_header_value",
    "header_getter",
    "header_name",
    "header_pairs",
    "header_text",
    "header_values",
]

_ESCAPED_MAX = 64


def header_text(value: Any) -> str | None:
    """A header value as text: ``str`` as is, bytes as UTF-8; ``None`` for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def header_name(key: Any) -> str | None:
    """A header name lowercased (bytes read as Latin-1, as HTTP does); ``None`` if not a name."""
    if isinstance(key, str):
        return key.lower()
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("latin-1").lower()
    return None


def header_pairs(carrier: Any) -> Iterable[tuple[Any, Any]]:
    """The ``(name, value)`` pairs of a carrier; none for a carrier of no known shape."""
    if carrier is None:
        return ()
    if isinstance(carrier, Mapping):
        return carrier.items()
    items = getattr(carrier, "items", None)
    if callable(items):  # dict-likes that are not Mappings (starlette Headers, email.Message)
        try:
            return list(items())
        except Exception:
            return ()
    if isinstance(carrier, (str, bytes, bytearray)):
        return ()
    try:
        return [pair for pair in carrier if isinstance(pair, tuple) and len(pair) == 2]
    except TypeError:
        return ()


def header_values(carrier: Any, key: str) -> list[Any]:
    """Every raw value stored under ``key`` (any case), lists flattened, in carrier order."""
    wanted = key.lower()
    found: list[Any] = []
    for name, value in header_pairs(carrier):
        if header_name(name) != wanted:
            continue
        if isinstance(value, (list, tuple)):
            found.extend(value)
        else:
            found.append(value)
    return found


class HeaderGetter(Getter[Any]):
    """An OpenTelemetry ``Getter`` for every header collection this SDK meets.

    Reads dicts and dict-likes, ASGI raw header lists (``[(b"name", b"value")]``), and Kafka
    header lists (``[("name", b"value")]``, kafka-python and confluent-kafka alike). Names match
    case-insensitively; duplicate names yield every value; ``None`` values and values that are not
    UTF-8 are left out. Never raises.
    """

    def get(self, carrier: Any, key: str) -> list[str] | None:
        """Return the text values stored under ``key``, or ``None`` when there are none."""
        values = [
            text for text in map(header_text, header_values(carrier, key)) if text is not None
        ]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        """Return every header name in the carrier, lowercased."""
        return [name for name in (header_name(key) for key, _ in header_pairs(carrier)) if name]


header_getter = HeaderGetter()
"""The shared ``HeaderGetter`` instance."""


def escape_header_value(value: Any) -> str:
    """Return ``value`` made safe to log: cut to 64 characters, control and non-ASCII escaped."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value[:_ESCAPED_MAX])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # shown byte by byte: \xff, once escaped
            text = raw.decode("latin-1")
    else:
        text = str(value)[:_ESCAPED_MAX]
    return text.encode("unicode_escape").decode("ascii")[:_ESCAPED_MAX]
