"""Which key names hold secrets: the default word rules of ``Redactor``.

A key name is split into lower-case words (``dbPassword`` → ``db``, ``password``; ``X-Api-Key`` →
``x``, ``api``, ``key``), and a word decides:

- *password*: any word containing ``passw`` or ``passphrase``, ``pass``, ``pwd``, ``pw``, and
  compounds ending in ``pass`` (``dbpass``, ``rootpass``) but not English words that do
  (``bypass``, ``compass``); ``passenger`` and ``passed`` are not passwords.
- *secret*: any word containing ``secret`` (``client_secret``, ``secretkey``), not
  ``secretary``.
- *token*: ``token`` and compounds ending in it (``accessToken``, ``csrftoken``). The plural
  ``tokens`` is left visible: ``max_tokens``, ``prompt_tokens`` count tokens, they do not hold
  them.
- *session*: ``session``, ``sessionid``, ``sessid`` and ``session_id`` / ``session_key`` /
  ``session_token`` …, but not ``session_duration_ms`` or ``session_count``.
- *key*: ``key`` only after a word that makes it a credential (``api_key``, ``x-api-key``,
  ``private_key``, ``secret_access_key``, ``AccountKey``, ``apikey``, ``sshKey``); a key that
  names data is not one: ``key``, ``key_id``, ``keyspace``, ``kafka_key``, ``partition_key``,
  ``primary_key``, ``cache_key``, ``idempotency_key``.
- always: ``authorization``, ``cookie``, ``set_cookie``, ``credential(s)``, ``creds``, ``jwt``,
  ``dsn``, ``otp``, ``cvv``, ``cvc``, ``sig`` (a shared-access signature), ``connection_string``.

A name whose last word *describes* the secret rather than holding it is left visible:
``token_type``, ``password_length``, ``secret_name``, ``api_key_id``, ``token_expires``; so is
one with a counting word anywhere (``max_token``, ``token_count``). ``session_id`` stays
sensitive: a session id is the session.
"""

from __future__ import annotations

import re

__all__ = ["key_words", "normalize_key", "secret_key_by_words"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")

_ALWAYS = frozenset(
    {
        "authorization",
        "cookie",
        "cookies",
        "setcookie",
        "credential",
        "credentials",
        "creds",
        "jwt",
        "dsn",
        "otp",
        "cvv",
        "cvc",
        "sig",
        "connstr",
        "passphrase",
    }
)
_ALWAYS_PAIRS = frozenset({("set", "cookie"), ("connection", "string"), ("conn", "str")})
_PASSWORD_WORDS = frozenset({"pass", "pwd", "pw", "passwd", "passcode"})
_NOT_PASSWORDS = frozenset(
    {"bypass", "compass", "surpass", "overpass", "underpass", "trespass", "encompass", "impass"}
)
_SESSION_WORDS = frozenset({"session", "sessionid", "sessid", "sessionkey", "sessiontoken"})
# Words that make a following ``key`` a credential (and compounds such as ``apikey``).
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "signing",
        "sign",
        "ssh",
        "encryption",
        "encrypt",
        "decryption",
        "master",
        "client",
        "license",
        "licence",
        "auth",
        "hmac",
        "crypto",
        "gpg",
        "pgp",
        "account",
        "storage",
        "subscription",
        "shared",
        "webhook",
        "app",
        "service",
        "session",
        "consumer",
        "admin",
        "root",
        "server",
        "ingest",
        "write",
        "deploy",
        "psk",
    }
)
_COUNTING = frozenset(
    {"count", "counts", "num", "max", "min", "limit", "len", "length", "size", "total", "used"}
)
_DESCRIBING = frozenset(
    {
        "type",
        "kind",
        "name",
        "names",
        "id",
        "ids",
        "expiry",
        "expires",
        "expiration",
        "expired",
        "ttl",
        "age",
        "file",
        "path",
        "dir",
        "field",
        "format",
        "algorithm",
        "alg",
        "version",
        "rotation",
        "policy",
        "hint",
        "prefix",
        "location",
        "arn",
        "enabled",
        "required",
        "present",
        "provided",
        "valid",
        "set",
        "changed",
        "reset",
        "strength",
        "fingerprint",
        "usage",
        "scope",
        "scopes",
        "issuer",
        "label",
    }
)
# What may follow a session word and still be the session itself.
_SESSION_PARTS = frozenset({"id", "key", "token", "cookie", "secret", "data", "value"})


def normalize_key(key: str) -> str:
    """Return ``key`` as ``_word_word_`` (lower case, camelCase and any separator split)."""
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_") + "_"


def key_words(key: str) -> tuple[str, ...]:
    """Return the lower-case words of a key name (``"X-Api-Key"`` → ``("x", "api", "key")``)."""
    return tuple(word for word in normalize_key(key).split("_") if word)


def secret_key_by_words(words: tuple[str, ...]) -> bool:
    """Return whether a key made of ``words`` holds a secret under the default word rules."""
    if not words or _COUNTING.intersection(words):
        return False
    for index, word in enumerate(words):
        kind = _secret_kind(words, index, word)
        if kind is None:
            continue
        last = words[-1]
        if kind == "session":
            # ``session_id`` is the session; ``session_duration_ms`` only describes one.
            if index == len(words) - 1 or last in _SESSION_PARTS:
                return True
        elif index == len(words) - 1 or last not in _DESCRIBING:
            return True
    return False


def _secret_kind(words: tuple[str, ...], index: int, word: str) -> str | None:
    if word in _ALWAYS:
        return "always"
    if index and (words[index - 1], word) in _ALWAYS_PAIRS:
        return "always"
    if (
        word in _PASSWORD_WORDS
        or "passw" in word
        or (word.endswith("pass") and word not in _NOT_PASSWORDS)
    ):
        return "password"
    if "secret" in word and not word.startswith("secretar"):
        return "secret"
    if word == "token" or (word.endswith("token") and len(word) > 5):
        return "token"
    if word in _SESSION_WORDS:
        return "session"
    if word == "key":
        return "key" if index and words[index - 1] in _KEY_QUALIFIERS else None
    if word.endswith("key") and word[:-3] in _KEY_QUALIFIERS:
        return "key"
    return None
