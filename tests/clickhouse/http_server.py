"""A ClickHouse HTTP interface on 127.0.0.1, served by the real ClickHouse engine (chDB).

No ClickHouse server binary can be installed here, so the HTTP transport is tested against the
part of ClickHouse's HTTP protocol clickhouse-connect uses, answered by chDB: the SQL runs for
real, the credentials are checked (HTTP Basic, as clickhouse-connect sends them), settings in
the query string apply to the request, errors come back the way ClickHouse sends them
(status 500 and ``X-ClickHouse-Exception-Code``).
"""

from __future__ import annotations

import base64
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_NOT_SETTINGS = {"query", "database", "default_format", "query_id", "session_id"}
_CODE = re.compile(r"Code: (\d+)")


class ClickHouseHttpServer:
    """Serve ClickHouse's HTTP interface on a free loopback port, backed by a chDB session."""

    def __init__(self, session: Any, user: str, password: str) -> None:
        self.session = session
        self.user = user
        self.password = password
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ClickHouseHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def run(self, sql: bytes, database: str, settings: dict[str, str], fmt: str) -> bytes:
        with self._lock:
            self.session.query(f"USE `{database}`")
            for key, value in settings.items():
                self.session.query(f"SET {key} = '{value}'")
            try:
                return bytes(self.session.query(sql, fmt).bytes())
            finally:
                for key in settings:
                    self.session.query(f"SET {key} = DEFAULT")


class _Handler(BaseHTTPRequestHandler):
    server_state: ClickHouseHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def do_GET(self) -> None:
        self._answer(200, b"Ok.\n")

    def do_POST(self) -> None:
        state = self.server_state
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        state.requests.append((params, headers))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if headers.get("content-encoding", "identity") != "identity":
            # This endpoint announces no compression, so clients must not send any.
            self._error(400, "Code: 400. DB::Exception: unexpected Content-Encoding")
            return
        if not self._authorized(headers.get("authorization", "")):
            self._error(516, f"Code: 516. DB::Exception: {state.user}: Authentication failed")
            return
        if state.fail_next:
            state.fail_next -= 1
            self._error(210, "Code: 210. DB::NetException: injected failure")
            return
        query = params.get("query", "").encode()
        sql = query + b"\n" + body if query else body
        settings = {
            key: value
            for key, value in params.items()
            if key not in _NOT_SETTINGS
            and key
            not in {"wait_end_of_query", "enable_http_compression", "client_protocol_version"}
            and not key.startswith(("send_progress", "http_headers"))
        }
        try:
            payload = state.run(sql, params.get("database", "default"), settings, "TabSeparated")
        except Exception as failure:
            self._error(int(_CODE.search(str(failure)).group(1)), str(failure))  # type: ignore[union-attr]
            return
        self._answer(200, payload)

    def _authorized(self, authorization: str) -> bool:
        if not authorization.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return (user, password) == (self.server_state.user, self.server_state.password)

    def _answer(self, status: int, payload: bytes, code: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
        if code is not None:
            self.send_header("X-ClickHouse-Exception-Code", str(code))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, code: int, message: str) -> None:
        self._answer(500 if code != 516 else 401, message.encode(), code)
