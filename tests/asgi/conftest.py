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

import pytest
import uvicorn
from asgi_apps import fastapi_app, starlette_app
from asgi_logs import Logs

from moose_trace.logging.config import configure_logging, shutdown_logging


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A uvicorn server in a thread: ``url`` once started, stopped by ``stop``."""

    def __init__(self, app: Any, *, lifespan: str = "on") -> None:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # uvicorn would rewrite the client from X-Forwarded-For itself
            lifespan=lifespan,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60  # a deadline only: generous for a loaded machine
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


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

    def start(app: Any, lifespan: str = "on") -> str:
        server = Server(app, lifespan=lifespan).start()
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
