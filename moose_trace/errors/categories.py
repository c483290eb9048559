"""Error categories: one taxonomy for every error event, and the fields an error event carries.

``categorize_error(exc)`` answers "what kind of failure is this?" with one of a few words —
``timeout_error``, ``connection_error``, ``type_conversion_error`` … — so ``moose-trace logs
--group-by error_category`` shows that the night's 500s were ClickHouse timeouts, not a code bug.
It looks at, in order: the user's registrations, the exception's class and its bases (stdlib and
well-known libraries, recognized by name without importing them), words in class names, then the
instance (HTTP status, errno, Kafka error name, ClickHouse error code, message words) and the
exception it was raised from. ``error_fields(exc)`` gives everything an error event carries.
The logging processors call these, and so do the decorators and the ASGI middleware.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any, cast

from moose_trace._text import safe_str
from moose_trace.errors import _rules as rules
from moose_trace.errors.signature import error_signature

__all__ = [
    "AUTHENTICATION_ERROR",
    "AUTHORIZATION_ERROR",
    "CANCELLED_ERROR",
    "CODE_ERROR",
    "CONNECTION_ERROR",
    "ERROR_CATEGORIES",
    "NOT_FOUND_ERROR",
    "RATE_LIMIT_ERROR",
    "RESOURCE_ERROR",
    "TIMEOUT_ERROR",
    "TYPE_CONVERSION_ERROR",
    "UNKNOWN_ERROR",
    "VALIDATION_ERROR",
    "categorize_error",
    "error_fields",
    "error_message",
    "error_type_name",
    "register_error_category",
    "unregister_error_category",
]

TIMEOUT_ERROR = rules.TIMEOUT
"""An operation ran out of time: a query, a request, a Kafka produce."""
CONNECTION_ERROR = rules.CONNECTION
"""A peer could not be reached or dropped the connection (refused, reset, DNS, brokers down)."""
TYPE_CONVERSION_ERROR = rules.TYPE_CONVERSION
"""A value could not be parsed or converted to the expected type (String → DateTime, JSON)."""
VALIDATION_ERROR = rules.VALIDATION
"""Input was well-formed but not acceptable (a failed check, a bad argument, HTTP 400/422)."""
AUTHENTICATION_ERROR = rules.AUTHENTICATION
"""Who is calling could not be established: bad or expired credentials or token, HTTP 401."""
AUTHORIZATION_ERROR = rules.AUTHORIZATION
"""The caller is known but not allowed: permission denied, HTTP 403."""
RATE_LIMIT_ERROR = rules.RATE_LIMIT
"""Too many requests or over a quota: HTTP 429, throttling, ClickHouse "too many parts"."""
NOT_FOUND_ERROR = rules.NOT_FOUND
"""The thing asked for does not exist: a file, a table, a topic, HTTP 404."""
RESOURCE_ERROR = rules.RESOURCE
"""The machine ran out of something: memory, disk space, file descriptors."""
CANCELLED_ERROR = rules.CANCELLED
"""The work was cancelled or interrupted (``asyncio.CancelledError``, Ctrl-C)."""
CODE_ERROR = rules.CODE
"""A bug in the code: ``TypeError``, ``AttributeError``, ``KeyError``, a SQL syntax error."""
UNKNOWN_ERROR = rules.UNKNOWN
"""Nothing more specific is known."""

ERROR_CATEGORIES = (
    TIMEOUT_ERROR,
    CONNECTION_ERROR,
    TYPE_CONVERSION_ERROR,
    VALIDATION_ERROR,
    AUTHENTICATION_ERROR,
    AUTHORIZATION_ERROR,
    RATE_LIMIT_ERROR,
    NOT_FOUND_ERROR,
    RESOURCE_ERROR,
    CANCELLED_ERROR,
    CODE_ERROR,
    UNKNOWN_ERROR,
)
"""The built-in categories. Registrations may add others."""

ErrorMatcher = type[BaseException] | str | Callable[[BaseException], bool]
"""What ``register_error_category`` accepts: a class, a ``"module.ClassName"``, or a predicate."""

_MAX_CAUSE_DEPTH = 4
_MAX_CACHED_TYPES = 4096
_lock = threading.Lock()
# Copy-on-write: readers take a reference without locking; writers replace the whole object.
_user_types: dict[type[BaseException], str] = {}
_user_names: dict[str, str] = {}
_user_predicates: tuple[tuple[Callable[[BaseException], bool], str], ...] = ()
_verdicts: dict[type[BaseException], rules.Verdict] = {}


def register_error_category(matcher: ErrorMatcher, category: str) -> None:
    """Make exceptions matched by ``matcher`` count as ``category``; it wins over built-in rules.

    ``matcher`` is an exception class (its subclasses match too), a ``"module.ClassName"`` string
    for a class you do not want to import (``"stripe.RateLimitError"``; the module root and the
    class name are compared, so ``"stripe.error.RateLimitError"`` works too) or a bare class name,
    or a predicate ``exc -> bool`` (asked first, newest first; one that raises counts as no).
    ``category`` is a lower-case word such as ``"rate_limit_error"`` or one of your own.
    """
    global _user_types, _user_names, _user_predicates  # noqa: PLW0603 - copy-on-write registry
    _check_category(category)
    with _lock:
        if isinstance(matcher, type) and issubclass(matcher, BaseException):
            _user_types = {**_user_types, matcher: category}
        elif isinstance(matcher, str):
            _user_names = {**_user_names, _name_key(matcher): category}
        elif callable(matcher):
            predicate = cast(Callable[[BaseException], bool], matcher)
            _user_predicates = ((predicate, category), *_user_predicates)
        else:
            raise TypeError(
                "register_error_category() takes an exception class, a 'module.ClassName' "
                f"string or a predicate, not {type(matcher).__name__}"
            )
        _verdicts.clear()


def unregister_error_category(matcher: ErrorMatcher) -> None:
    """Remove a registration made with ``register_error_category`` (no error if there is none)."""
    global _user_types, _user_names, _user_predicates  # noqa: PLW0603 - copy-on-write registry
    with _lock:
        if isinstance(matcher, str):
            _user_names = {k: v for k, v in _user_names.items() if k != _name_key(matcher)}
        else:
            _user_types = {k: v for k, v in _user_types.items() if k is not matcher}
            _user_predicates = tuple(p for p in _user_predicates if p[0] is not matcher)
        _verdicts.clear()


def _check_category(category: object) -> None:
    if not (
        isinstance(category, str)
        and category
        and category.replace("_", "a").isalnum()
        and category.islower()
        and category.isascii()
    ):
        raise ValueError(
            f"error category must be a lower-case word like 'rate_limit_error', not {category!r}"
        )


def _name_key(name: str) -> str:
    # "pkg.sub.Class" → "pkg.Class"; "Class" stays "Class".
    root, _, rest = name.partition(".")
    return f"{root}.{rest.rpartition('.')[2]}" if rest else root


def _class_keys(cls: type) -> tuple[str, str]:
    root = cls.__module__.partition(".")[0]
    return f"{rules.MODULE_ALIASES.get(root, root)}.{cls.__name__}", cls.__name__


def categorize_error(exc: BaseException) -> str:
    """Return the error category of an exception (``"timeout_error"`` …); never raises.

    Fast: the verdict for a class is cached, and the instance is only looked at when the class
    alone does not decide (a ``RuntimeError`` from chDB saying ``Code: 159`` is a timeout).
    Anything that is not an exception is ``"unknown_error"``.
    """
    try:
        return _categorize(exc, 0)
    except Exception:
        return UNKNOWN_ERROR


def _categorize(exc: BaseException, depth: int) -> str:
    if not isinstance(exc, BaseException):
        return UNKNOWN_ERROR
    for predicate, registered in _user_predicates:
        try:
            if predicate(exc):
                return registered
        except Exception:
            continue
    cls = type(exc)
    verdict = _verdicts.get(cls)
    if verdict is None:
        verdict = _class_verdict(cls)
        if len(_verdicts) >= _MAX_CACHED_TYPES:
            _verdicts.clear()
        _verdicts[cls] = verdict
    category, refine = verdict
    if not refine:
        return category or UNKNOWN_ERROR
    found = _from_instance(exc)
    if found is not None:
        return found
    if category is not None:
        return category
    if depth < _MAX_CAUSE_DEPTH:
        cause = _cause(exc)
        if cause is not None:
            return _categorize(cause, depth + 1)
    return UNKNOWN_ERROR


def _class_verdict(cls: type[BaseException]) -> rules.Verdict:
    mro = [c for c in cls.__mro__ if issubclass(c, BaseException)]
    user_types, user_names = _user_types, _user_names
    for c in mro:
        if c in user_types:
            return user_types[c], False
        qualified, bare = _class_keys(c)
        for key in (qualified, bare):
            if key in user_names:
                return user_names[key], False
        if c in rules.EXACT_TYPES:
            return rules.EXACT_TYPES[c]
        if qualified in rules.NAMED_TYPES:
            return rules.NAMED_TYPES[qualified]
    for c in mro:
        if c.__module__ != "builtins":
            hinted = rules.category_from_name_hint(c.__name__)
            if hinted is not None:
                return hinted, False
    for c in mro:
        if c in rules.FALLBACK_TYPES:
            return rules.FALLBACK_TYPES[c]
    return None, True


def _from_instance(exc: BaseException) -> str | None:
    status = _http_status(exc)
    if status is not None:
        found = rules.category_from_status(status)
        if found is not None:
            return found
    kafka_error = exc.args[0] if exc.args else None
    name = getattr(kafka_error, "name", None)
    if callable(name) and not isinstance(kafka_error, (str, bytes)):
        code_name = name()
        if isinstance(code_name, str):
            found = rules.category_from_code_name(code_name)
            if found is not None:
                return found
    number = getattr(exc, "errno", None)
    if type(number) is int:
        found = rules.category_from_errno(number)
        if found is not None:
            return found
    return rules.category_from_message(error_message(exc))


def _http_status(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        if holder is None:
            continue
        for attribute in ("status_code", "status"):
            value = getattr(holder, attribute, None)
            if type(value) is int and 100 <= value <= 599:
                return value
    return None


def _cause(exc: BaseException) -> BaseException | None:
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError keeps the real error here
    for candidate in (exc.__cause__, reason, exc.__context__):
        if isinstance(candidate, BaseException) and candidate is not exc:
            return candidate
    return None


def error_type_name(exc: BaseException) -> str:
    """Return the ``error_type`` of an exception: its class name (``"TimeoutError"``)."""
    return type(exc).__qualname__


def error_message(exc: BaseException) -> str:
    """Return ``str(exc)``, or a placeholder when the exception cannot be printed; never raises."""
    return safe_str(exc)


def error_fields(exc: BaseException) -> dict[str, Any]:
    """Return the fields of an error event for ``exc``; never raises.

    ``error_category``, ``error_type``, ``error_message``, ``error_signature``, and ``stack`` (the
    formatted traceback, chained causes included) when the exception was raised. Merge them into
    a log event, a span's attributes or a DLQ record.
    """
    error_type = error_type_name(exc)
    message = error_message(exc)
    fields: dict[str, Any] = {
        "error_category": categorize_error(exc),
        "error_type": error_type,
        "error_message": message,
        "error_signature": error_signature(error_type, message),
    }
    if exc.__traceback__ is not None:
        try:
            fields["stack"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            fields["stack"] = f"{error_type}: {message}"
    return fields
