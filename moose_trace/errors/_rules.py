"""The built-in rules behind ``moose_trace.errors.categories``: which exception means which
error category.

Rules come in the order ``errors.categorize_error`` applies them:

1. ``EXACT_TYPES`` / ``NAMED_TYPES``: stdlib classes and well-known library classes, matched
   along the exception's MRO. Library classes are matched by module root and class name, so
   confluent-kafka, httpx, clickhouse-connect … are recognized without being imported.
2. ``NAME_HINTS``: words in class names (``ReadTimeout``, ``NoBrokersAvailable`` …), for
   libraries nobody listed.
3. ``FALLBACK_TYPES``: broad stdlib bases (``ValueError`` …), used when nothing more specific fits.

A rule's verdict is ``(category, refine)``: with ``refine`` the instance is looked at too (HTTP
status, errno, Kafka error name, ClickHouse error code, message words) before ``category`` is
used; ``category=None`` means "unknown unless the instance tells".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import json
import re
import socket

__all__ = [
    "AUTHENTICATION",
    "AUTHORIZATION",
    "CANCELLED",
    "CODE",
    "CONNECTION",
    "NOT_FOUND",
    "RATE_LIMIT",
    "RESOURCE",
    "TIMEOUT",
    "TYPE_CONVERSION",
    "UNKNOWN",
    "VALIDATION",
    "Verdict",
    "category_from_clickhouse_code",
    "category_from_code_name",
    "category_from_errno",
    "category_from_message",
    "category_from_name_hint",
    "category_from_status",
    "category_of_error_status",
]

TIMEOUT = "timeout_error"
CONNECTION = "connection_error"
TYPE_CONVERSION = "type_conversion_error"
VALIDATION = "validation_error"
AUTHENTICATION = "authentication_error"
AUTHORIZATION = "authorization_error"
RATE_LIMIT = "rate_limit_error"
NOT_FOUND = "not_found_error"
RESOURCE = "resource_error"
CANCELLED = "cancelled_error"
CODE = "code_error"
UNKNOWN = "unknown_error"

Verdict = tuple[str | None, bool]
"""``(category, refine)``: see the module docstring."""

_DEFINITE = False
_REFINE = True

EXACT_TYPES: dict[type[BaseException], Verdict] = {
    TimeoutError: (TIMEOUT, _DEFINITE),
    asyncio.TimeoutError: (TIMEOUT, _DEFINITE),
    concurrent.futures.TimeoutError: (TIMEOUT, _DEFINITE),
    ConnectionError: (CONNECTION, _DEFINITE),
    socket.gaierror: (CONNECTION, _DEFINITE),
    socket.herror: (CONNECTION, _DEFINITE),
    PermissionError: (AUTHORIZATION, _DEFINITE),
    FileNotFoundError: (NOT_FOUND, _DEFINITE),
    UnicodeError: (TYPE_CONVERSION, _DEFINITE),
    json.JSONDecodeError: (TYPE_CONVERSION, _DEFINITE),
    OverflowError: (TYPE_CONVERSION, _DEFINITE),
    MemoryError: (RESOURCE, _DEFINITE),
    asyncio.CancelledError: (CANCELLED, _DEFINITE),
    concurrent.futures.CancelledError: (CANCELLED, _DEFINITE),
    KeyboardInterrupt: (CANCELLED, _DEFINITE),
    RecursionError: (CODE, _DEFINITE),
    TypeError: (CODE, _DEFINITE),
    AttributeError: (CODE, _DEFINITE),
    NameError: (CODE, _DEFINITE),
    AssertionError: (CODE, _DEFINITE),
    NotImplementedError: (CODE, _DEFINITE),
    ImportError: (CODE, _DEFINITE),
    SyntaxError: (CODE, _DEFINITE),
}
"""Standard library classes, by identity (subclasses inherit through the MRO walk)."""

NAMED_TYPES: dict[str, Verdict] = {
    "confluent_kafka.KafkaException": (None, _REFINE),
    "confluent_kafka.SerializationError": (TYPE_CONVERSION, _DEFINITE),
    "httpx.TimeoutException": (TIMEOUT, _DEFINITE),
    "httpx.NetworkError": (CONNECTION, _DEFINITE),
    "httpx.ProxyError": (CONNECTION, _DEFINITE),
    "httpx.RemoteProtocolError": (CONNECTION, _DEFINITE),
    "httpx.DecodingError": (TYPE_CONVERSION, _DEFINITE),
    "httpx.InvalidURL": (VALIDATION, _DEFINITE),
    "httpx.UnsupportedProtocol": (VALIDATION, _DEFINITE),
    "httpx.HTTPStatusError": (None, _REFINE),
    "requests.ConnectTimeout": (TIMEOUT, _DEFINITE),
    "requests.Timeout": (TIMEOUT, _DEFINITE),
    "requests.ConnectionError": (CONNECTION, _DEFINITE),
    "requests.HTTPError": (None, _REFINE),
    "requests.InvalidURL": (VALIDATION, _DEFINITE),
    "urllib3.TimeoutError": (TIMEOUT, _DEFINITE),
    "urllib3.NewConnectionError": (CONNECTION, _DEFINITE),
    "urllib3.ProtocolError": (CONNECTION, _DEFINITE),
    "urllib3.MaxRetryError": (None, _REFINE),
    "aiohttp.ServerTimeoutError": (TIMEOUT, _DEFINITE),
    "aiohttp.ClientConnectionError": (CONNECTION, _DEFINITE),
    "aiohttp.ClientResponseError": (None, _REFINE),
    "clickhouse_connect.DataError": (TYPE_CONVERSION, _REFINE),
    "clickhouse_connect.OperationalError": (CONNECTION, _REFINE),
    "clickhouse_connect.ProgrammingError": (CODE, _REFINE),
    "clickhouse_connect.DatabaseError": (None, _REFINE),
    "clickhouse_driver.ServerException": (None, _REFINE),
    "clickhouse_driver.SocketTimeoutError": (TIMEOUT, _DEFINITE),
    "clickhouse_driver.NetworkError": (CONNECTION, _DEFINITE),
    "kafka.NoBrokersAvailable": (CONNECTION, _DEFINITE),
    "aiokafka.NoBrokersAvailable": (CONNECTION, _DEFINITE),
    "jwt.InvalidTokenError": (AUTHENTICATION, _DEFINITE),
    "psycopg.OperationalError": (CONNECTION, _REFINE),
    "psycopg2.OperationalError": (CONNECTION, _REFINE),
    "botocore.ClientError": (None, _REFINE),
    "starlette.HTTPException": (None, _REFINE),
    "fastapi.HTTPException": (None, _REFINE),
}
"""Library classes by ``<module root>.<class name>``; the libraries are never imported."""

MODULE_ALIASES = {"cimpl": "confluent_kafka"}
"""Module roots a library's classes report that are not the name users know it by."""

FALLBACK_TYPES: dict[type[BaseException], Verdict] = {
    ValueError: (VALIDATION, _REFINE),
    LookupError: (CODE, _REFINE),
    ArithmeticError: (CODE, _DEFINITE),
}
"""Broad bases: their category is used only when nothing more specific is found."""

# Words in class names, in priority order (a ``SocketTimeoutError`` is a timeout first).
_NAME_HINTS = (
    (TIMEOUT, r"Time[dD]?[oO]ut|Deadline"),
    (RATE_LIMIT, r"RateLimit|Throttl|TooManyRequests|Quota"),
    (
        AUTHENTICATION,
        r"Authentic|Unauthenticated|Unauthori[sz]ed|Login|Credential|InvalidToken|"
        r"ExpiredToken|TokenExpired|ExpiredSignature|InvalidSignature|Sasl|SASL",
    ),
    (AUTHORIZATION, r"Authori[sz]ation|NotAuthori[sz]ed|Forbidden|Permission|AccessDenied"),
    (
        CONNECTION,
        r"Connect|Network|Unreachable|Refused|NoBrokers|BrokerNotAvailable|Disconnect|Socket|"
        r"Resolution|Transport",
    ),
    (NOT_FOUND, r"NotFound|DoesNotExist|NoSuch"),
    (
        TYPE_CONVERSION,
        r"Conversion|Convert|Serializ|Deserializ|Decod|Encod|Pars(?:e|ing)Error|TypeMismatch",
    ),
    (VALIDATION, r"Validat|Invalid|Schema|Constraint|Integrity"),
    (RESOURCE, r"OutOfMemory|MemoryLimit|DiskFull|NoSpace|ResourceExhausted"),
    (CANCELLED, r"Cancel"),
)


Rules = tuple[tuple[str, re.Pattern[str]], ...]


def _compile(rules: tuple[tuple[str, str], ...]) -> Rules:
    return tuple((category, re.compile(regex)) for category, regex in rules)


def _first_hit(rules: Rules, text: str) -> str | None:
    for category, pattern in rules:
        if pattern.search(text) is not None:
            return category
    return None


_NAME_HINT_RULES = _compile(_NAME_HINTS)


def category_from_name_hint(class_name: str) -> str | None:
    """Return the category a class name suggests (``ReadTimeout`` → timeout), or ``None``."""
    return _first_hit(_NAME_HINT_RULES, class_name)


_STATUS = {
    400: VALIDATION,
    401: AUTHENTICATION,
    403: AUTHORIZATION,
    404: NOT_FOUND,
    408: TIMEOUT,
    410: NOT_FOUND,
    413: VALIDATION,
    415: VALIDATION,
    422: VALIDATION,
    429: RATE_LIMIT,
    502: CONNECTION,
    503: CONNECTION,
    504: TIMEOUT,
}


def category_from_status(status: int) -> str | None:
    """Return the category of an HTTP status code (401 → authentication …), or ``None``."""
    return _STATUS.get(status)


def category_of_error_status(status: int) -> str | None:
    """Return the category of a response sent with an error status, without an exception.

    The statuses ``category_from_status`` knows; another 5xx is ``unknown_error`` (the server
    failed, why is not said), another 4xx has none (the client's request, not a fault).
    """
    return _STATUS.get(status) or (UNKNOWN if status >= 500 else None)


_ERRNO = {
    errno.ETIMEDOUT: TIMEOUT,
    errno.ECONNREFUSED: CONNECTION,
    errno.ECONNRESET: CONNECTION,
    errno.ECONNABORTED: CONNECTION,
    errno.EHOSTUNREACH: CONNECTION,
    errno.ENETUNREACH: CONNECTION,
    errno.ENETDOWN: CONNECTION,
    errno.EPIPE: CONNECTION,
    errno.ENOTCONN: CONNECTION,
    errno.EACCES: AUTHORIZATION,
    errno.EPERM: AUTHORIZATION,
    errno.EROFS: AUTHORIZATION,
    errno.ENOENT: NOT_FOUND,
    errno.ENOTDIR: NOT_FOUND,
    errno.ENOSPC: RESOURCE,
    errno.EDQUOT: RESOURCE,
    errno.ENOMEM: RESOURCE,
    errno.EMFILE: RESOURCE,
    errno.ENFILE: RESOURCE,
}


def category_from_errno(number: int) -> str | None:
    """Return the category of an OS error number (``ECONNREFUSED`` → connection …), or ``None``."""
    return _ERRNO.get(number)


# ClickHouse server error codes (src/Common/ErrorCodes.cpp), a selection.
_CLICKHOUSE_CODES = {
    159: TIMEOUT,  # TIMEOUT_EXCEEDED
    209: TIMEOUT,  # SOCKET_TIMEOUT
    210: CONNECTION,  # NETWORK_ERROR
    279: CONNECTION,  # ALL_CONNECTION_TRIES_FAILED
    516: AUTHENTICATION,  # AUTHENTICATION_FAILED
    192: AUTHENTICATION,  # UNKNOWN_USER
    193: AUTHENTICATION,  # WRONG_PASSWORD
    497: AUTHORIZATION,  # ACCESS_DENIED
    164: AUTHORIZATION,  # READONLY
    60: NOT_FOUND,  # UNKNOWN_TABLE
    81: NOT_FOUND,  # UNKNOWN_DATABASE
    16: NOT_FOUND,  # NO_SUCH_COLUMN_IN_TABLE
    6: TYPE_CONVERSION,  # CANNOT_PARSE_TEXT
    26: TYPE_CONVERSION,  # CANNOT_PARSE_QUOTED_STRING
    27: TYPE_CONVERSION,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38: TYPE_CONVERSION,  # CANNOT_PARSE_DATE
    41: TYPE_CONVERSION,  # CANNOT_PARSE_DATETIME
    53: TYPE_CONVERSION,  # TYPE_MISMATCH
    70: TYPE_CONVERSION,  # CANNOT_CONVERT_TYPE
    72: TYPE_CONVERSION,  # CANNOT_PARSE_NUMBER
    117: TYPE_CONVERSION,  # INCORRECT_DATA
    36: VALIDATION,  # BAD_ARGUMENTS
    62: CODE,  # SYNTAX_ERROR
    47: CODE,  # UNKNOWN_IDENTIFIER
    202: RATE_LIMIT,  # TOO_MANY_SIMULTANEOUS_QUERIES
    252: RATE_LIMIT,  # TOO_MANY_PARTS
    241: RESOURCE,  # MEMORY_LIMIT_EXCEEDED
    243: RESOURCE,  # NOT_ENOUGH_SPACE
    394: CANCELLED,  # QUERY_WAS_CANCELLED
}


def category_from_clickhouse_code(code: int) -> str | None:
    """Return the category of a ClickHouse server error code (159 → timeout …), or ``None``."""
    return _CLICKHOUSE_CODES.get(code)


# Upper-case error code names: Kafka's (``_MSG_TIMED_OUT``, ``TOPIC_AUTHORIZATION_FAILED``) and
# ClickHouse's (``UNKNOWN_TABLE``, ``CANNOT_PARSE_DATETIME``), by the words in them.
_CODE_NAMES = (
    (TIMEOUT, r"TIMED_OUT|TIMEOUT"),
    (RATE_LIMIT, r"THROTTL|QUOTA|TOO_MANY"),
    (AUTHENTICATION, r"AUTHENTICATION|SASL|WRONG_PASSWORD|UNKNOWN_USER"),
    (AUTHORIZATION, r"AUTHORIZATION|ACCESS_DENIED|NOT_ENOUGH_PRIVILEGES|READONLY"),
    (
        CONNECTION,
        r"TRANSPORT|BROKERS_DOWN|BROKER_NOT_AVAILABLE|NETWORK|CONNECT|RESOLVE|NOT_COORDINATOR",
    ),
    (NOT_FOUND, r"UNKNOWN_(?:TOPIC|TABLE|DATABASE|PARTITION)|NO_SUCH|NOT_FOUND|_NOENT"),
    (TYPE_CONVERSION, r"CANNOT_PARSE|TYPE_MISMATCH|CANNOT_CONVERT|SERIALIZATION|INCORRECT_DATA"),
    (VALIDATION, r"INVALID|BAD_ARGUMENTS|MSG_SIZE_TOO_LARGE"),
    (RESOURCE, r"MEMORY_LIMIT|NOT_ENOUGH_SPACE|QUEUE_FULL"),
    (CODE, r"SYNTAX_ERROR|UNKNOWN_IDENTIFIER|ILLEGAL_"),
)
_CODE_NAME_RULES = _compile(_CODE_NAMES)
_CODE_NAME_TOKEN = re.compile(r"\b_?[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
_CLICKHOUSE_CODE = re.compile(r"\bCode: (\d{1,4})\b")


def category_from_code_name(name: str) -> str | None:
    """Return the category of an error code name (``_MSG_TIMED_OUT`` → timeout …), or ``None``."""
    return _first_hit(_CODE_NAME_RULES, name)


# Prose in messages, lower-cased, in priority order.
_MESSAGE_WORDS = (
    (TIMEOUT, r"timed? ?out|timeout|deadline exceeded"),
    (RATE_LIMIT, r"rate.?limit|too many requests|throttl|quota exceeded"),
    (
        AUTHENTICATION,
        r"authentication|unauthenticated|unauthori[sz]ed|invalid (?:credentials|password|token|"
        r"api.?key)|(?:token|signature) (?:has )?expired|expired token|wrong password|"
        r"login failed",
    ),
    (
        AUTHORIZATION,
        r"permission denied|access.?denied|forbidden|not authori[sz]ed|not allowed|"
        r"insufficient (?:privileges|permissions)|not enough privileges",
    ),
    (
        CONNECTION,
        r"connection (?:refused|reset|aborted|closed|error|failed|lost)|(?:could not|failed to|"
        r"unable to|cannot|can't) connect|network (?:is )?unreachable|no route to host|"
        r"host unreachable|broken pipe|name or service not known|name resolution|"
        r"nodename nor servname|getaddrinfo|brokers? (?:are )?(?:down|not available)",
    ),
    (
        NOT_FOUND,
        r"not found|does not exist|doesn't exist|no such|nosuch|"
        r"unknown (?:table|database|topic|column|partition)",
    ),
    (
        TYPE_CONVERSION,
        r"(?:cannot|can't|could not|unable to|failed to) (?:parse|convert)|invalid literal|"
        r"type mismatch|expect(?:s|ed) \S+ but (?:got|found)|cannot be converted|"
        r"not a valid (?:int|float|date|number|integer|decimal|uuid)|serializ",
    ),
    (RESOURCE, r"out of memory|memory limit|no space left|disk full|too many open files"),
    (VALIDATION, r"validation|invalid|must be|is required|missing required|constraint"),
)
_MESSAGE_WORD_RULES = _compile(_MESSAGE_WORDS)
_MAX_MESSAGE = 500


def category_from_message(message: str) -> str | None:
    """Return the category a message names: a ClickHouse code, a code name, then plain words.

    ``"Code: 159. DB::Exception: Timeout exceeded"`` → timeout; ``"… (UNKNOWN_TABLE)"`` →
    not found; ``"Connection refused"`` → connection. Only the first 500 characters are read.
    """
    text = message[:_MAX_MESSAGE]
    code = _CLICKHOUSE_CODE.search(text)
    if code is not None:
        found = category_from_clickhouse_code(int(code.group(1)))
        if found is not None:
            return found
    for token in _CODE_NAME_TOKEN.findall(text):
        found = category_from_code_name(token)
        if found is not None:
            return found
    return _first_hit(_MESSAGE_WORD_RULES, text.lower())
