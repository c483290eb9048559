"""A real uvicorn server running the console, on a free loopback port (tests and scripts)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from moose_trace.console.app import create_app
from moose_trace.console.security import loopback_hosts
from moose_trace.console.source import ConsoleSource


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
