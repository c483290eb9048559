"""Error signatures: one short, stable id per kind of error, so similar errors group together.

``error_signature("TimeoutError", "query 42 timed out after 5000 ms")`` and the same error with
other numbers give one signature: the variable parts of the message (URLs, emails, UUIDs,
timestamps, IP addresses, hex strings, quoted values, numbers) are replaced by typed placeholders
before hashing. The signature starts with the version of these rules (``v1_``), so if they ever
change, old and new signatures are told apart instead of silently mixing.
"""

from __future__ import annotations

import hashlib
import re

from moose_trace._text import safe_str

__all__ = ["SIGNATURE_VERSION", "error_signature", "normalize_message"]

SIGNATURE_VERSION = "v1"
"""The version of the normalization rules; the prefix of every signature."""

_MAX_MESSAGE = 1000
# Checked in this order at each position: the first that matches wins, so a URL is one <url>
# (not an IP and numbers), and a timestamp is one <timestamp> (not numbers).
_PLACEHOLDERS = (
    ("url", r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>]+"),
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    (
        "timestamp",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
        r"(?:Z|[+-]\d{2}:?\d{2})?)?\b",
    ),
    ("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"),
    (
        "ip",
        r"(?<![\w:])(?=[0-9a-fA-F:]*(?:::|[a-fA-F]))(?:[0-9a-fA-F]{0,4}:){2,7}"
        r"[0-9a-fA-F]{1,4}(?![\w:])",
    ),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b"),
    ("hex", r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    ("str", r"(?<!\w)'[^'\n]{0,200}'(?!\w)"),
    ("str", r'"[^"\n]{0,200}"'),
    ("str", r"`[^`\n]{0,200}`"),
    ("num", r"(?<!\w)\d+(?:\.\d+)?"),
)
_PATTERN = re.compile(
    "|".join(f"(?P<{name}{i}>{regex})" for i, (name, regex) in enumerate(_PLACEHOLDERS))
)
_TOKENS = {f"{name}{i}": f"<{name}>" for i, (name, _) in enumerate(_PLACEHOLDERS)}
_SPACES = re.compile(r"\s+")


def _placeholder(match: re.Match[str]) -> str:
    return _TOKENS[match.lastgroup or ""]


def normalize_message(message: str) -> str:
    """Return ``message`` with its variable parts replaced by typed placeholders.

    ``"user 'bob' not found at 10.0.0.7"`` becomes ``"user <str> not found at <ip>"``.
    Whitespace is collapsed and only the first 1,000 characters count, so huge messages (a whole
    SQL statement) cost little and still group by their start.
    """
    text = _SPACES.sub(" ", message[:_MAX_MESSAGE]).strip()
    return _PATTERN.sub(_placeholder, text)


def error_signature(error_type: object, message: object) -> str:
    """Return the signature of an error: ``v1_`` and 16 hex digits, stable across processes.

    Two errors share a signature when they have the same type and the same message once its
    variable parts are replaced (see ``normalize_message``). Use it to group and count errors
    (``--group-by error_signature``). Never raises: other types than ``str`` are turned into text.
    """
    type_text = error_type if isinstance(error_type, str) else _text(error_type)
    message_text = message if isinstance(message, str) else _text(message)
    normalized = normalize_message(message_text)
    material = f"{type_text[:_MAX_MESSAGE]}\x00{normalized}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(material, digest_size=8).hexdigest()
    return f"{SIGNATURE_VERSION}_{digest}"


def _text(value: object) -> str:
    return "" if value is None else safe_str(value)
