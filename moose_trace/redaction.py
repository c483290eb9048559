"""Redaction: secrets never reach a log sink.

Two kinds of rule, both on by default:

- **Keys.** A value stored under a sensitive key (``password``, ``api_key``, ``Authorization``,
  ``set-cookie`` …) is replaced by ``[REDACTED]``, at any depth of dicts and lists, and in
  ``(name, value)`` pairs such as ASGI or Kafka header lists. Keys match case-insensitively and
  by words: ``db_password``, ``X-Api-Key`` and ``accessToken`` are sensitive; ``max_tokens`` and
  ``author`` are not.
- **Values.** Inside any text: JSON Web Tokens, ``Bearer …`` credentials, the password in
  ``scheme://user:password@host``, and ``key=value`` / ``key: value`` pairs with a sensitive key.

Objects that are not plain data (a dataclass, a settings object) are turned into redacted dicts
or text here, so no renderer or sink ever prints them unredacted. The check is nearly free on
events without secrets: verdicts on keys and short strings are remembered.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
import uuid
from collections import deque
from collections.abc import Iterable, MutableMapping
from typing import Any

from moose_trace._text import safe_str

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "REDACTED",
    "Redactor",
    "default_redactor",
    "redact_text",
    "redact_value",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

DEFAULT_SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "private_key",
        "privatekey",
        "signing_key",
        "ssh_key",
        "authorization",
        "cookie",
        "cookies",
        "set_cookie",
        "credential",
        "credentials",
        "jwt",
        "dsn",
    }
)
"""Key names (matched as whole words, any case, any separator) whose values are secrets."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_PLAIN_TYPES = frozenset(
    {int, float, bool, type(None), datetime.datetime, datetime.date, datetime.time, uuid.UUID}
)
# Trace ids (canonical or 32 hex digits) and span ids (16): what ``trace_context`` and the
# OpenTelemetry bridge write. They hide nothing (lower-case hex: no rule can match), and new ones
# keep coming, so only the most recent are remembered, apart from the other texts: otherwise
# they would fill the verdict cache and empty it every few thousand events.
_ID_SHAPED = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|[0-9a-f]{16}"
).fullmatch
_MAX_CACHED_IDS = 256
_MAX_DEPTH = 32
_MAX_CACHED = 4096
_MAX_CACHED_TEXT = 256

_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,15}://[^:/?#@\s]*):[^@/\s]+@")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b([Bb][Ee][Aa][Rr][Ee][Rr]\s+)[A-Za-z0-9._~+/=-]{6,}")
# ``key=value`` / ``key: value`` (not ``https://``): the key and separator are found first, and
# the value is consumed only for a sensitive key, so "Error: password: x" still finds "password".
_PAIR_KEY = re.compile(r"(?P<key>[A-Za-z_][\w.-]{0,63})[\"']?[ \t]*(?:=|:(?!//))[ \t]*")
_PAIR_VALUE = re.compile(
    r"\"[^\"]*\"|'[^']*'|(?i:bearer|basic|digest|token)[ \t]+[^\s,;&]+|[^\s,;&\"']+"
)


def _normalize_key(key: str) -> str:
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_") + "_"


class Redactor:
    """Replace secrets in log events: a structlog processor, also usable on any value.

    ``Redactor()`` has the default rules. ``keys`` replaces the sensitive key names,
    ``extra_keys`` adds to them, ``allowed_keys`` exempts keys that look sensitive but are not in
    your app (``"token_count"``), ``value_patterns=False`` turns off the scan of text, and
    ``extra_patterns`` are regular expressions whose matches are replaced too. Put it in a chain
    as a processor, or call ``redact`` / ``redact_text`` on anything you are about to log.
    """

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
        *,
        extra_keys: Iterable[str] = (),
        allowed_keys: Iterable[str] = (),
        value_patterns: bool = True,
        extra_patterns: Iterable[str | re.Pattern[str]] = (),
        replacement: str = REDACTED,
    ) -> None:
        names = {_normalize_key(str(name)) for name in (*keys, *extra_keys)}
        names.discard("__")
        self._names = tuple(sorted(names))
        # Any word of a name must be in the text for a ``key=value`` pair to be sensitive: a
        # cheap test before the regular expression.
        self._words = tuple(sorted({max(n.strip("_").split("_"), key=len) for n in names}))
        self._allowed = frozenset(_normalize_key(str(name)) for name in allowed_keys)
        self._value_patterns = value_patterns
        self._extra = tuple(re.compile(p) if isinstance(p, str) else p for p in extra_patterns)
        self.replacement = replacement
        self._safe_keys: set[Any] = set()
        self._sensitive_keys: dict[Any, bool] = {}
        self._texts: dict[str, str] = {}
        self._ids: deque[str] = deque()  # the ids among ``_texts``, oldest first

    def __repr__(self) -> str:
        return f"Redactor(keys={len(self._names)} names, value_patterns={self._value_patterns})"

    # -- the processor -------------------------------------------------------------------------

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact ``event_dict`` in place (nested containers are copied, never mutated)."""
        if not self._safe_keys.issuperset(event_dict):
            for key, value in event_dict.items():
                if not _is_empty(value) and self.is_sensitive_key(key):
                    event_dict[key] = self.replacement
        texts = self._texts
        plain = _PLAIN_TYPES
        for key, value in event_dict.items():
            kind = type(value)
            if kind is str:
                redacted = texts.get(value)
                if redacted is value:
                    continue
                if redacted is None:
                    redacted = self._remember(value)
                    if redacted is value:
                        continue
                event_dict[key] = redacted
            elif kind not in plain:
                redacted = self._redact(value, 0)
                if redacted is not value:
                    event_dict[key] = redacted
        return event_dict

    # -- public helpers ------------------------------------------------------------------------

    def is_sensitive_key(self, key: object) -> bool:
        """Return whether values stored under ``key`` are secrets (``"X-Api-Key"`` → true)."""
        if isinstance(key, bytearray):
            key = bytes(key)
        if key in self._safe_keys:
            return False
        verdict = self._sensitive_keys.get(key)
        if verdict is not None:
            return verdict
        if isinstance(key, str):
            text = key
        elif isinstance(key, bytes):
            text = key.decode("latin-1")
        else:
            text = str(key)
        normalized = _normalize_key(text)
        verdict = normalized not in self._allowed and any(n in normalized for n in self._names)
        if len(self._safe_keys) + len(self._sensitive_keys) >= _MAX_CACHED:
            self._safe_keys.clear()
            self._sensitive_keys.clear()
        if verdict:
            self._sensitive_keys[key] = True
        else:
            self._safe_keys.add(key)
        return verdict

    def redact(self, value: Any) -> Any:
        """Return ``value`` with its secrets replaced; a copy where something changed.

        Dicts, lists and tuples are walked (keys and ``(name, value)`` pairs checked); text is
        scanned; objects that are not plain data become redacted dicts (dataclasses) or text.
        """
        if type(value) is str:
            return self.redact_text(value)
        if type(value) in _PLAIN_TYPES:
            return value
        return self._redact(value, 0)

    def redact_text(self, text: str) -> str:
        """Return ``text`` with JWTs, ``Bearer`` credentials, URL passwords, secret pairs hidden."""
        if not self._value_patterns or not self._suspicious(text):
            redacted = text
        else:
            redacted = _URL_CREDENTIALS.sub(rf"\1:{self.replacement}@", text)
            redacted = _JWT.sub(self.replacement, redacted)
            redacted = _BEARER.sub(rf"\1{self.replacement}", redacted)
            redacted = self._redact_pairs(redacted)
        for pattern in self._extra:
            redacted = pattern.sub(self.replacement, redacted)
        # Same text, same object: callers test ``is`` to know whether anything changed.
        return text if redacted == text else redacted

    # -- machinery -----------------------------------------------------------------------------

    def _suspicious(self, text: str) -> bool:
        if "eyJ" in text or "://" in text:
            return True
        lower = text.lower()
        if "bearer" in lower:
            return True
        if "=" not in text and ":" not in text:
            return False
        return any(word in lower for word in self._words)

    def _redact_pairs(self, text: str) -> str:
        parts: list[str] = []
        done = 0
        for pair in _PAIR_KEY.finditer(text):
            if pair.start() < done or not self.is_sensitive_key(pair.group("key")):
                continue
            value = _PAIR_VALUE.match(text, pair.end())
            if value is not None:
                parts += (text[done : pair.end()], self.replacement)
                done = value.end()
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def _remember(self, text: str) -> str:
        texts = self._texts
        if not self._extra and _ID_SHAPED(text) is not None:
            ids = self._ids
            if len(ids) >= _MAX_CACHED_IDS:
                try:
                    oldest = ids.popleft()
                except IndexError:  # another thread emptied it meanwhile
                    oldest = ""
                texts.pop(oldest, None)
            ids.append(text)
            texts[text] = text
            return text
        redacted = self.redact_text(text)
        if len(text) <= _MAX_CACHED_TEXT:
            if len(texts) >= _MAX_CACHED:
                texts.clear()
                self._ids.clear()
            texts[text] = redacted
        return redacted

    def _redact(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            redacted = self._texts.get(value)
            return self._remember(value) if redacted is None else redacted
        if kind in _PLAIN_TYPES or isinstance(value, enum.Enum):
            return value
        if depth >= _MAX_DEPTH:
            return self.redact_text(safe_str(value))
        if isinstance(value, dict):
            return self._redact_dict(value, depth)
        if isinstance(value, (list, tuple)):
            return self._redact_sequence(value, depth)
        if isinstance(value, str):
            text = str.__str__(value)
            redacted = self.redact_text(text)
            return value if redacted is text else redacted
        if isinstance(value, (bytes, bytearray, memoryview)):
            text = bytes(value).decode("utf-8", "backslashreplace")
            redacted = self.redact_text(text)
            return value if redacted == text else redacted
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self._redact_dict(fields, depth)
        return self.redact_text(safe_str(value))

    def _redact_dict(self, value: dict[Any, Any], depth: int) -> dict[Any, Any]:
        copy: dict[Any, Any] | None = None
        for key, item in value.items():
            if not _is_empty(item) and self.is_sensitive_key(key):
                redacted: Any = self.replacement
            else:
                redacted = self._redact(item, depth + 1)
            if redacted is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = redacted
        return value if copy is None else copy

    def _redact_sequence(self, value: list[Any] | tuple[Any, ...], depth: int) -> Any:
        if (
            len(value) == 2
            and isinstance(value[0], (str, bytes, bytearray))
            and not _is_empty(value[1])
            and self.is_sensitive_key(value[0])
        ):
            pair = (value[0], self.replacement)
            return pair if isinstance(value, tuple) else list(pair)
        copy: list[Any] | None = None
        for index, item in enumerate(value):
            redacted = self._redact(item, depth + 1)
            if redacted is not item:
                if copy is None:
                    copy = list(value)
                copy[index] = redacted
        if copy is None:
            return value
        return tuple(copy) if isinstance(value, tuple) else copy


def _is_empty(value: object) -> bool:
    # None and "" hide nothing, and "password not set" is worth seeing.
    return value is None or (type(value) is str and not value)


default_redactor = Redactor()
"""The ``Redactor`` with the default rules (the one ``configure_logging`` uses unless told)."""


def redact_value(value: Any) -> Any:
    """Return ``value`` with secrets replaced by the default rules (see ``Redactor.redact``)."""
    return default_redactor.redact(value)


def redact_text(text: str) -> str:
    """Return ``text`` with secrets replaced by the default rules (see ``Redactor.redact_text``)."""
    return default_redactor.redact_text(text)
