"""Fixtures of the console tests: the corpus and a real uvicorn server running the console."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from console_corpus import ConsoleCorpus, build_console_corpus

from moose_trace.console.app import create_app
from moose_trace.console.security import loopback_hosts
from moose_trace.console.source import ConsoleSource, open_source


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ConsoleServer:
    """``moose-trace serve``'s app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, source: ConsoleSource, *, token: str | None = None, loopback: bool = True):
        self.port = free_port()
        hosts = loopback_hosts(self.port) if loopback else None
        app = create_app(source, token=token, hosts=hosts)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
            lifespan="on", timeout_graceful_shutdown=2, ws="auto",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ConsoleServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def corpus(tmp_path: Path) -> ConsoleCorpus:
    return build_console_corpus(tmp_path / "logs")


@pytest.fixture
def start_console() -> Iterator[Callable[..., ConsoleServer]]:
    """Start a console over a source (stopped after the test)."""
    servers: list[ConsoleServer] = []

    def start(source: ConsoleSource, **options: Any) -> ConsoleServer:
        server = ConsoleServer(source, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def console(corpus: ConsoleCorpus, start_console: Callable[..., ConsoleServer]) -> ConsoleServer:
    """A console over the corpus directory, as ``moose-trace serve DIR`` runs it."""
    return start_console(open_source([str(corpus.directory)]))
