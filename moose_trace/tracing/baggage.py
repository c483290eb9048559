"""W3C Baggage: read the ``baggage`` header, send it onward, and log the members you allow.

Baggage is what a caller says about the request (``tenant_id=acme,user_id=42``). It is untrusted:
moose-trace only carries it on (HTTP calls, Kafka records) and copies an allow-list of members into
log lines as labels; nothing decides anything on it. Members named in the allow-list
(``DEFAULT_LOG_MEMBERS``, or ``configure_baggage``/``MOOSE_TRACE_BAGGAGE_FIELDS``) become log
fields of the request or record; their values are cut to ``max_value_length`` characters.

Parsing follows the W3C Baggage grammar: ``key=value`` list members separated by ``,``, optional
whitespace around each, ``;``-separated properties kept as they are, values percent-decoded as
UTF-8 (invalid sequences become U+FFFD). A malformed member is skipped, the rest are kept (as
OpenTelemetry's propagator does). Limits: 64 members and 8192 bytes; members past either limit are
dropped whole, never cut. Parsing runs only when the header is present.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = [
    "BAGGAGE_FIELDS_ENV",
    "BAGGAGE_HEADER",
    "DEFAULT_LOG_MEMBERS",
    "MAX_BYTES",
    "MAX_MEMBERS",
    "BaggageMember",
    "baggage_fields",
    "configure_baggage",
    "format_baggage",
    "logged_members",
    "parse_baggage",
]

BAGGAGE_HEADER = "baggage"
"""The W3C header name (any case on the wire)."""
MAX_MEMBERS = 64
"""The most members kept and sent (the spec's propagation minimum)."""
MAX_BYTES = 8192
"""The longest ``baggage`` value kept and sent, in bytes (the spec's propagation minimum)."""
DEFAULT_LOG_MEMBERS = ("tenant_id", "tenant_slug", "user_id", "session_id")
"""The members copied into log lines unless configured otherwise."""
BAGGAGE_FIELDS_ENV = "MOOSE_TRACE_BAGGAGE_FIELDS"
"""Comma-separated members to log (``member`` or ``member:field``); empty: none."""

# Log fields that a caller's baggage may never set: they belong to the SDK or to the request.
_RESERVED_FIELDS = frozenset(
    {
        "timestamp", "level", "event", "message", "service", "logger", "trace_id", "span_id",
        "parent_span_id", "trace_ids", "linked_trace_id", "type", "name", "layer", "principal",
        "auth", "security", "client_ip", "http_method", "http_path", "http_status", "request_id",
        "error_category", "error_type", "error_message", "stack", "payload",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_OWS = " \t"
# Baggage-octets sent as they are. "+" is one, but OpenTelemetry Python decodes it as a space
# (form encoding): sent as %2B, it means "+" to every decoder.
_SAFE = "!#$&'()*-./:<=>?@[]^_`{|}~"


@dataclass(frozen=True, slots=True)
class BaggageMember:
    """One baggage list member: key, decoded value, and its properties as received."""

    key: str
    value: str
    properties: str = ""
    """``;``-separated properties (``prop1;k=v``), normalized, without the leading ``;``."""

    def encoded(self) -> str:
        """The member as it goes on the wire: value percent-encoded, properties appended."""
        text = f"{self.key}={quote(self.value, safe=_SAFE)}"
        return f"{text};{self.properties}" if self.properties else text


Baggage = tuple[BaggageMember, ...]
"""Parsed baggage: members in the order received, each key once (the last value wins)."""


def _member(text: str) -> BaggageMember | None:
    head, _, rest = text.partition(";")
    key, equals, value = head.partition("=")
    key, value = key.strip(_OWS), value.strip(_OWS)
    if not equals or _TOKEN.fullmatch(key) is None or _VALUE.fullmatch(value) is None:
        return None
    properties = []
    for raw in rest.split(";") if rest else ():
        name, has_value, prop_value = raw.partition("=")
        name, prop_value = name.strip(_OWS), prop_value.strip(_OWS)
        if _TOKEN.fullmatch(name) is None or _VALUE.fullmatch(prop_value) is None:
            return None
        properties.append(f"{name}={prop_value}" if has_value else name)
    return BaggageMember(key, unquote(value, errors="replace"), ";".join(properties))


def parse_baggage(values: str | Iterable[str] | None) -> Baggage:
    """Parse one ``baggage`` header value, or several (combined in order). Never raises.

    Malformed members are skipped; a later member with the same key replaces an earlier one;
    members past 64, or past 8192 bytes of header, are dropped whole.
    """
    if values is None:
        return ()
    texts = [values] if isinstance(values, str) else list(values)
    found: dict[str, BaggageMember] = {}
    size = 0
    for text in texts:
        for raw in text.split(","):
            stripped = raw.strip(_OWS)
            if not stripped:
                continue
            size += len(stripped.encode("utf-8", "replace")) + (1 if size else 0)
            if size > MAX_BYTES:
                return tuple(found.values())
            member = _member(stripped)
            if member is None:
                continue
            found.pop(member.key, None)
            if len(found) >= MAX_MEMBERS:
                return tuple(found.values())
            found[member.key] = member
    return tuple(found.values())


def format_baggage(members: Iterable[BaggageMember]) -> str:
    """Return the header value for ``members``: at most 64 members and 8192 bytes, none cut."""
    parts: list[str] = []
    size = 0
    for member in members:
        encoded = member.encoded()
        grown = size + len(encoded) + (1 if parts else 0)
        if grown > MAX_BYTES or len(parts) >= MAX_MEMBERS:
            break
        parts.append(encoded)
        size = grown
    return ",".join(parts)


@dataclass(frozen=True)
class _LogSettings:
    fields: Mapping[str, str]  # baggage key -> log field
    max_value_length: int


def _settings_from(
    members: Iterable[str] | Mapping[str, str], max_value_length: int
) -> _LogSettings:
    if max_value_length < 1:
        raise ValueError(f"max_value_length must be at least 1, not {max_value_length}")
    if isinstance(members, Mapping):
        pairs = [(str(key), str(field)) for key, field in members.items()]
    else:
        pairs = []
        for entry in members:
            key, _, field = str(entry).partition(":")
            pairs.append((key.strip(), field.strip() or key.strip()))
    fields: dict[str, str] = {}
    for key, field in pairs:
        if not key:
            continue
        if field in _RESERVED_FIELDS:
            raise ValueError(
                f"baggage member {key!r} cannot be logged as {field!r}: that field is the SDK's "
                "own (baggage is caller input, it must not overwrite trace or request fields)"
            )
        fields[key] = field
    return _LogSettings(fields, max_value_length)


def _settings_from_env() -> _LogSettings:
    configured = os.environ.get(BAGGAGE_FIELDS_ENV)
    if configured is None:
        return _settings_from(DEFAULT_LOG_MEMBERS, 128)
    try:
        return _settings_from(configured.split(","), 128)
    except ValueError:
        return _settings_from(DEFAULT_LOG_MEMBERS, 128)


_lock = threading.Lock()
_settings = _settings_from_env()


def configure_baggage(
    log_members: Iterable[str] | Mapping[str, str] = DEFAULT_LOG_MEMBERS,
    *,
    max_value_length: int = 128,
) -> None:
    """Choose which baggage members become log fields, and how long a logged value may be.

    ``log_members``: member names (``"tenant_id"``), ``"member:field"`` to log under another
    name (``"tenantId:tenant_id"``), or a mapping member → field; ``()`` logs none. A field
    that is the SDK's own (``trace_id``, ``service``, ``principal``…) raises ``ValueError``.
    Propagation is not affected: every member is carried on.
    """
    global _settings  # noqa: PLW0603 - process-wide setting, replaced as a whole
    settings = _settings_from(log_members, max_value_length)
    with _lock:
        _settings = settings


def logged_members() -> dict[str, str]:
    """Return the allow-list in effect: baggage member → log field."""
    return dict(_settings.fields)


def baggage_fields(baggage: Iterable[BaggageMember]) -> dict[str, str]:
    """Return the allow-listed members of ``baggage`` as log fields, values cut to the limit."""
    settings = _settings
    fields = settings.fields
    if not fields:
        return {}
    limit = settings.max_value_length
    return {fields[member.key]: member.value[:limit] for member in baggage if member.key in fields}
