"""``ClickHouseError`` and what ClickHouse's error codes say about a retry.

Every transport raises ``ClickHouseError`` with the location in the message and the password
masked; its ``code`` sorts it into permanent (the rows or the statement are wrong: the same
insert fails forever) or transient (the same insert may succeed later), which is what the
sink's inserter decides by.
"""

from __future__ import annotations

import re

from moose_trace.store.clickhouse.url import ClickHouseURL
from moose_trace.store.exceptions import EngineError

__all__ = ["PERMANENT_CODES", "TRANSIENT_CODES", "ClickHouseError", "error_from"]

_ERROR_CODE = re.compile(r"Code: (\d+)")
_MAX_MESSAGE = 2000
# ClickHouse error codes (src/Common/ErrorCodes.cpp) sorted by what a retry can do. Permanent:
# the rows or the statement are wrong (parse and type errors, a syntax error, no data, a column
# that does not exist): the same insert fails forever. Transient: the server is busy, short of
# memory, read-only for a while, or the connection broke: the same insert later succeeds.
PERMANENT_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        16,  # NO_SUCH_COLUMN_IN_TABLE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        73,  # UNKNOWN_FORMAT
        108,  # NO_DATA_TO_INSERT
        117,  # INCORRECT_DATA
        130,  # CANNOT_READ_ARRAY_FROM_TEXT
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    }
)
"""ClickHouse error codes that no retry can fix (the data or the statement is wrong)."""
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (a connection cut mid-request)
        60,  # UNKNOWN_TABLE (dropped meanwhile: the sink creates it again)
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        192,  # UNKNOWN_USER (an operator fixing access)
        194,  # REQUIRED_PASSWORD
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
    }
)
"""ClickHouse error codes after which the same request may later succeed."""


class ClickHouseError(EngineError):
    """A ClickHouse operation failed; the message names the location, never the password.

    ``code`` is ClickHouse's error code (``None`` when the server never answered: a network
    failure). ``permanent`` is true when the code says the data or the statement is wrong (a
    parse, type or syntax error, no data): retrying the same rows cannot succeed. ``transient``
    is true when a retry may succeed (no answer, or a code for overload, timeouts, lost
    connections, access being fixed). A code in neither list is neither: the sink retries it a
    few times, then sets the rows aside.
    """

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent or (code is not None and code in PERMANENT_CODES)

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later (no error code, or a transient one)."""
        if self.permanent:
            return False
        return self.code is None or self.code in TRANSIENT_CODES


def error_from(url: ClickHouseURL, action: str, failure: BaseException) -> ClickHouseError:
    """The ``ClickHouseError`` for ``failure`` of ``action`` at ``url``: code read, text cut."""
    text = url.scrub(str(failure) or type(failure).__name__)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " …"
    found = _ERROR_CODE.search(text)
    code = int(found.group(1)) if found is not None else None
    return ClickHouseError(f"ClickHouse {action} failed at {url}: {text}", code=code)
