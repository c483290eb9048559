"""Moose's own streaming runner, for real: its Python 3.12 environment, a harness, a listener."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from moose_env import NoPython312, ensure_moose_env


@pytest.fixture(scope="session")
def moose_python() -> Path:
    """The Python >= 3.12 interpreter with moose-lib and this checkout (created if missing)."""
    try:
        return ensure_moose_env()
    except NoPython312 as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a Python >= 3.12 with moose-lib for the Moose tests: {exc}")
        pytest.skip(f"no Python >= 3.12 on this machine for moose-lib: {exc}")


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append(json.loads(self.rfile.read(length) or b"null"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def management_port() -> Iterator[int]:
    """A listener for the metrics the runner posts each second to ``$MOOSE_MANAGEMENT_PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MetricsHandler)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
