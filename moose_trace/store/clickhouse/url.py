"""ClickHouse locations as URLs, with the credentials kept out of every printable form.

``clickhouse://user:pass@host:8123/db`` (HTTP), ``clickhouses://…`` or ``https://…`` (HTTPS,
port 8443 by default), and ``chdb:///path/to/dir`` (ClickHouse in process). A user and
password missing from the URL come from ``MOOSE_TRACE_CLICKHOUSE_USER`` /
``MOOSE_TRACE_CLICKHOUSE_PASSWORD``, so a deployment can keep them out of its command lines.
The password is never part of ``str``, ``repr`` or any error message made here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from moose_trace.logging._secret_values import redact_url_userinfo

__all__ = [
    "PASSWORD_ENV",
    "USER_ENV",
    "ClickHouseURL",
    "parse_clickhouse_url",
    "redact_url",
]

USER_ENV = "MOOSE_TRACE_CLICKHOUSE_USER"
"""Environment variable with the ClickHouse user, used when the URL names none."""

PASSWORD_ENV = "MOOSE_TRACE_CLICKHOUSE_PASSWORD"
"""Environment variable with the ClickHouse password, used when the URL carries none."""

_HTTP_SCHEMES = {"clickhouse": False, "http": False, "clickhouses": True, "https": True}
# The userinfo runs to the last ``@`` before the query: a password may hold ``/`` or ``@``
# (RFC 3986 wants them percent-encoded; people do not always do it).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s][^?#\s]*)@")
_CHDB_MEMORY = ":memory:"


def redact_url(text: str) -> str:
    """Return ``text`` with the credentials of every ``scheme://user:pass@`` in it masked.

    Keeps the user name (useful when debugging access) and replaces the password with ``***``
    (a password holding ``/`` or ``@`` included). Safe on any text, including a URL too broken
    to parse.
    """
    return redact_url_userinfo(text, "***")


@dataclass(frozen=True)
class ClickHouseURL:
    """A parsed ClickHouse location: an HTTP(S) server, or a chDB data directory.

    ``str()`` and ``repr()`` show the location with the password replaced by ``***``.
    """

    kind: str
    """``"http"`` for a server reached with clickhouse-connect, ``"chdb"`` for in process."""
    host: str = ""
    port: int = 0
    secure: bool = False
    database: str = "default"
    user: str = "default"
    password: str = field(default="", repr=False)
    path: str = ""
    """chDB only: the data directory (absolute), or ``:memory:``."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Return the values that must never be shown (the password, raw and URL-encoded)."""
        if not self.password:
            return ()
        return tuple({self.password, quote(self.password, safe="")})

    def scrub(self, text: str) -> str:
        """Return ``text`` with this URL's secrets and any URL credentials masked."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact_url(text)

    def file_key(self, table: str) -> str:
        """Return a file name part for ``table`` at this location: ``<table>-<digest>``.

        Local state kept per destination (the sink's spool, ``ingest``'s progress) is named by
        it, so it never replays into another server than it was for. The password is not in it.
        """
        digest = hashlib.sha256(f"{self}|{table}".encode()).hexdigest()[:12]
        return f"{table}-{digest}"

    def __str__(self) -> str:
        if self.kind == "chdb":
            location = "memory" if self.path == _CHDB_MEMORY else f"/{self.path.lstrip('/')}"
            return f"chdb://{location}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        credentials = f"{self.user}:***@" if self.password else f"{self.user}@"
        return f"{scheme}://{credentials}{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:
        return f"ClickHouseURL({str(self)!r})"


def parse_clickhouse_url(
    url: str, *, environ: dict[str, str] | os._Environ[str] | None = None
) -> ClickHouseURL:
    """Parse a ``clickhouse://``, ``clickhouses://``, ``http(s)://`` or ``chdb://`` URL.

    Credentials missing from the URL come from ``MOOSE_TRACE_CLICKHOUSE_USER`` /
    ``MOOSE_TRACE_CLICKHOUSE_PASSWORD`` in ``environ`` (default: the process environment).
    Raises ``ValueError`` saying what is wrong; the message never contains the password.
    """
    env = os.environ if environ is None else environ
    shown = redact_url(url.strip())
    url, user, password = _split_userinfo(url.strip())
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        port = parts.port
    except ValueError as bad:
        raise ValueError(f"not a ClickHouse URL: {shown!r} ({bad})") from None
    if scheme == "chdb":
        if user is not None:
            # A chDB directory has no users: a "user:password@" would become part of the path.
            raise ValueError(
                f"a chDB URL takes no user or password: {redact_url(url)!r}; "
                "use chdb:///path/to/dir"
            )
        return ClickHouseURL(
            kind="chdb",
            path=_chdb_path(parts.netloc, parts.path),
            database=query.get("database", "default"),
        )
    if scheme not in _HTTP_SCHEMES:
        raise ValueError(
            f"not a ClickHouse URL: {shown!r}; expected "
            "clickhouse://user:pass@host:8123/db, clickhouses://… (HTTPS) or chdb:///path/to/dir"
        )
    if not parts.hostname:
        raise ValueError(f"ClickHouse URL without a host: {shown!r}")
    secure = _HTTP_SCHEMES[scheme] or query.get("secure", "").lower() in {"1", "true", "yes"}
    database = query.get("database") or unquote(parts.path.strip("/"))
    if "/" in database:
        raise ValueError(f"ClickHouse URL path must be one database name: {shown!r}")
    return ClickHouseURL(
        kind="http",
        host=parts.hostname,
        port=port or (8443 if secure else 8123),
        secure=secure,
        database=database or "default",
        user=unquote(user) if user else env.get(USER_ENV, "default"),
        password=unquote(password) if password else env.get(PASSWORD_ENV, ""),
    )


def _split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Return ``url`` without its userinfo, and the user and password it held (or None)."""
    match = _USERINFO.match(url)
    if match is None:
        return url, None, None
    user, _, password = match.group("userinfo").partition(":")
    return match.group("scheme") + url[match.end() :], user, password or None


def _chdb_path(netloc: str, path: str) -> str:
    if netloc in {"memory", _CHDB_MEMORY} and path in {"", "/"}:
        return _CHDB_MEMORY
    location = f"{netloc}{path}" if netloc not in {"", "localhost"} else path
    if not location:
        raise ValueError("chDB URL without a directory: use chdb:///path/to/dir or chdb://memory")
    return str(Path(unquote(location)).expanduser().resolve())
