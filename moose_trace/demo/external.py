"""The demo's stand-in for a third-party API (``analytics.example.com``), on a loopback port.

The transform calls it to enrich a record (US-2: one call is slow), and the workflow's
``fetch_external_data`` task fetches from it (US-9: the first attempt runs before it is up, so
the connection is refused for real, and the retry succeeds). A stdlib HTTP server in a thread:
nothing to install.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["ExternalApi"]

_MAX_DELAY_MS = 5000


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        delay_ms = min(_MAX_DELAY_MS, max(0, _int(query.get("delay_ms"), 0)))
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if parts.path == "/enrich":
            user_id = _int(query.get("user_id"), 0)
            body: object = {"user_id": user_id, "segment": "gold" if user_id % 2 else "silver"}
        elif parts.path == "/data":
            count = min(10_000, max(0, _int(query.get("records"), 100)))
            body = [{"user_id": index % 50 + 1, "score": index % 97} for index in range(count)]
        else:
            self.send_error(404)
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the callers log their calls."""


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


class ExternalApi:
    """A small JSON API on ``http://127.0.0.1:<port>``: ``/enrich`` and ``/data``.

    ``?delay_ms=N`` makes a response slow. The port is chosen when the object is made, so
    callers know the URL before the server is up (and get "connection refused" until then).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving."""
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
