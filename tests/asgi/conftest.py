"""Fixtures for the ASGI tests: real uvicorn servers on free loopback ports, and the log lines.

Servers run in a thread of the test process, so the app's log lines go through the logging set
up by the ``logs`` fixture (``configure_logging``: the real chain, to a stream and a daily file).
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from asgi_apps import fastapi_app, starlette_app

from moose_trace.log_config import LoggingSetup, configure_logging, shutdown_logging

ACCESS_EVENTS = ("request handled", "request failed", "request cancelled")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A uvicorn server in a thread: ``url`` once started, stopped by ``stop``."""

    def __init__(self, app: Any) -> None:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # uvicorn would rewrite the client from X-Forwarded-For itself
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


class Logs:
    """The JSON lines written since the ``logs`` fixture configured logging."""

    def __init__(self, setup: LoggingSetup, stream: io.StringIO) -> None:
        self.setup = setup
        self.stream = stream
        self._parsed: list[dict[str, Any]] = []
        self._offset = 0

    def lines(self) -> list[dict[str, Any]]:
        text = self.stream.getvalue()
        end = text.rfind("\n") + 1  # a line being written by the server thread waits
        self._parsed += [orjson.loads(line) for line in text[self._offset : end].splitlines()]
        self._offset = end
        return list(self._parsed)

    def file_lines(self) -> list[dict[str, Any]]:
        path = self.setup.log_file()
        assert path is not None
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Return the lines matching ``predicate`` once there are ``count`` of them.

        The access line is written after the response has gone out, so a test that has its
        response may still have to wait a moment for the line.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines() if predicate(line)]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"expected {count} matching lines, got {found}"
                return found
            time.sleep(0.01)

    def access(self, trace_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Return the one access line of the request with ``trace_id``."""
        (line,) = self.wait_for(
            lambda e: e.get("event") in ACCESS_EVENTS and e.get("trace_id") == trace_id,
            timeout=timeout,
        )
        return line


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    for name in [name for name in os.environ if name.startswith("LOG_LEVEL")]:
        monkeypatch.delenv(name)
    stream = io.StringIO()
    setup = configure_logging("asgi-test", stream=stream, log_dir=tmp_path / "logs", json=True)
    yield Logs(setup, stream)
    shutdown_logging()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Start a uvicorn server for an app (stopped after the test); returns its base URL."""
    servers: list[Server] = []

    def start(app: Any) -> str:
        server = Server(app).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def starlette_url() -> Iterator[str]:
    """The Starlette test app (TraceMiddleware outermost, then authentication) under uvicorn."""
    server = Server(starlette_app()).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def fastapi_url() -> Iterator[str]:
    """The FastAPI test app (``app.add_middleware(TraceMiddleware)``) under uvicorn."""
    server = Server(fastapi_app()).start()
    yield server.url
    server.stop()
