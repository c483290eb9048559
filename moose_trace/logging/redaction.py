"""Redaction: secrets never reach a log sink.

Two kinds of rule, both on by default:

- **Keys.** A value stored under a sensitive key is replaced by ``[REDACTED]``, at any depth of
  dicts and lists, and in ``(name, value)`` pairs such as ASGI or Kafka header lists. Keys are
  split into words (any case, any separator, camelCase) and judged by word rules: ``password``,
  ``db_pass``, ``client_secret``, ``accessToken``, ``session_id``, ``X-Api-Key``,
  ``Authorization``, ``set-cookie`` are sensitive; ``max_tokens``, ``token_type``, ``key_id``,
  ``kafka_key``, ``keyspace``, ``author`` are not
  (``moose_trace.logging._secret_keys`` has the rules).
- **Values.** Inside any text: tokens of known shape (AWS, GitHub, GitLab, Slack, Stripe,
  Google, OpenAI, … and JWTs), ``Bearer``/``Basic`` credentials, PEM private keys, card numbers
  (Luhn-checked), the password in ``scheme://user:password@host`` (also one holding ``/`` or
  ``@``), and ``key=value`` / ``key: value`` pairs with a sensitive key — the whole value, up to
  the next ``key=`` or separator (``password=correct horse battery staple``).

Objects that are not plain data (a dataclass, a settings object) are turned into redacted dicts
or text here, so no renderer or sink ever prints them unredacted. The check is nearly free on
events without secrets: verdicts on keys and short strings are remembered, and text is scanned
only when a cheap screen (``Redactor.may_hold_secret``) finds something a secret could be.

For a fast path of its own (one that does not call the processor), the pieces are public:
``is_sensitive_key(key)`` (remembered per key) and ``redact_text(text)`` (screened first).
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
from moose_trace.logging._secret_keys import key_words, normalize_key, secret_key_by_words
from moose_trace.logging._secret_values import is_card_number, may_hold_secret, redact_secret_values
from moose_trace.tracing.ids import TraceIdList

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
"""Examples of the key names the default word rules find sensitive (and, passed as ``keys``, the
names matched as whole words when you replace the rules by your own list)."""

# TraceIdList: canonical trace ids by construction (a batch line's ``trace_ids``).
_PLAIN_TYPES = frozenset(
    {
        int,
        float,
        bool,
        type(None),
        datetime.datetime,
        datetime.date,
        datetime.time,
        uuid.UUID,
        TraceIdList,
    }
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

# Substrings one of which is in every key the default word rules find sensitive: a text without
# any (and without ``=`` or ``:``) holds no ``key=value`` secret.
_DEFAULT_KEY_STEMS = (
    "pass",
    "pw",
    "secret",
    "token",
    "key",
    "session",
    "sessid",
    "auth",
    "cookie",
    "cred",
    "jwt",
    "dsn",
    "otp",
    "cvv",
    "cvc",
    "sig",
    "conn",
)
# ``key=value`` / ``key: value`` (not ``https://``): the key and separator are found first, and
# the value is consumed only for a sensitive key, so "Error: password: x" still finds "password".
# A URL's user (``postgres://secret:…@``) is not a key: the URL rule has its password.
_PAIR_KEY = re.compile(
    r"(?<![\w.-])(?<!//)(?P<key>[A-Za-z_][\w.-]{0,63})[\"']?[ \t]*(?:=|:(?!//))[ \t]*"
)
# An unquoted value runs over spaces until the next ``key=`` / ``key:`` or separator: the whole
# of ``password=correct horse battery staple`` is the password.
_PAIR_VALUE = re.compile(
    r"\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?"
    r"|(?i:bearer|basic|digest|token)[ \t]+[^\s,;&]+"
    r"|[^\s,;&\"']+(?:[ \t]+(?![A-Za-z_][\w.-]{0,63}[ \t]*(?:=|:(?!//)))[^\s,;&\"']+)*"
)


class Redactor:
    """Replace secrets in log events: a structlog processor, also usable on any value.

    ``Redactor()`` has the default rules. ``keys`` replaces the default word rules by a list of
    names (each matched as whole words: ``"pin"`` finds ``user_pin``), ``extra_keys`` adds names
    to whichever rules apply, ``allowed_keys`` exempts keys that look sensitive but are not in
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
        self._word_rules = keys is DEFAULT_SENSITIVE_KEYS
        listed = (*extra_keys,) if self._word_rules else (*keys, *extra_keys)
        names = {normalize_key(str(name)) for name in listed}
        names.discard("__")
        self._names = tuple(sorted(names))
        # One of these must be in a text for a ``key=value`` pair in it to be sensitive: a cheap
        # test before the regular expression.
        stems = {max(n.strip("_").split("_"), key=len) for n in names}
        if self._word_rules:
            stems.update(_DEFAULT_KEY_STEMS)
        self._stems = tuple(sorted(stems))
        self._allowed = frozenset(normalize_key(str(name)) for name in allowed_keys)
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
        return self.redact_event(event_dict, None)

    def redact_event(
        self, event_dict: MutableMapping[str, Any], trusted: object
    ) -> MutableMapping[str, Any]:
        """Redact ``event_dict`` in place, passing the one object ``trusted`` through unread.

        ``trusted``: a trace id known canonical by construction (the current ``trace_context``'s
        own, made or validated when it was entered: lower-case hex and hyphens, which no rule
        can match), found by identity, so a new trace's first line does not pay for checking
        and remembering a text it will never see again. ``None`` trusts nothing.
        """
        if not self._safe_keys.issuperset(event_dict):
            for key, value in event_dict.items():
                if not _is_empty(value) and self.is_sensitive_key(key):
                    event_dict[key] = self.replacement
        texts = self._texts
        plain = _PLAIN_TYPES
        for key, value in event_dict.items():
            kind = type(value)
            if kind is str:
                if value is trusted:
                    continue
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
        normalized = normalize_key(text)
        verdict = normalized not in self._allowed and (
            any(n in normalized for n in self._names)
            or (self._word_rules and secret_key_by_words(key_words(text)))
        )
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
        """Return ``text`` with secret-shaped values and ``key=value`` secrets replaced."""
        redacted = text
        if self._value_patterns:
            if may_hold_secret(text):
                redacted = redact_secret_values(text, self.replacement)
            if self._may_hold_pair(redacted):
                redacted = self._redact_pairs(redacted)
        for pattern in self._extra:
            redacted = pattern.sub(self.replacement, redacted)
        # Same text, same object: callers test ``is`` to know whether anything changed.
        return text if redacted == text else redacted

    # -- machinery -----------------------------------------------------------------------------

    def may_hold_secret(self, text: str) -> bool:
        """Return whether ``redact_text`` could change ``text`` (a cheap screen, no regex).

        False is certain: nothing in ``text`` looks like a secret. A fast path may skip
        ``redact_text`` on false (and should remember verdicts on texts it sees often).
        """
        if self._extra:
            return True
        return self._value_patterns and (may_hold_secret(text) or self._may_hold_pair(text))

    def _may_hold_pair(self, text: str) -> bool:
        if "=" not in text and ":" not in text:
            return False
        lower = text.lower()
        return any(stem in lower for stem in self._stems)

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
        # Sixteen decimal digits may be a card number rather than a span id.
        if (
            not self._extra
            and _ID_SHAPED(text) is not None
            and not (text.isdigit() and is_card_number(text))
        ):
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
