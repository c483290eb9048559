"""Starting and stopping what the demo runs, so that nothing outlives it.

The demo runs the Tansu broker as a child process (``moose_trace.testing.broker``), the ingest
app under uvicorn in a thread, and the transforms, the sync and the workflow as threads.
``Supervisor`` records each part as it starts and stops them all in reverse order on every way
out: a normal end, an error, Ctrl-C, SIGTERM. While it stops them, further SIGINT/SIGTERM are
ignored so the cleanup itself cannot be cut short.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from moose_trace.demo.exceptions import DemoError
from moose_trace.demo.progress import DemoStats
from moose_trace.tracing.context import bind_fields

__all__ = [
    "Stopped",
    "Supervisor",
    "UvicornThread",
    "Worker",
    "check_port_free",
    "free_port",
    "interrupts_as_exceptions",
]

_JOIN_SECONDS = 5.0


class Stopped(Exception):
    """SIGTERM arrived: the demo stops like on Ctrl-C."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(host: str, port: int, what: str) -> None:
    """Raise ``DemoError`` naming ``what`` and the port when ``host:port`` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as failure:
            reason = "is in use" if failure.errno == errno.EADDRINUSE else f"fails: {failure}"
            raise DemoError(
                f"port {port} on {host} for {what} {reason}; pick another with --port "
                "(or leave it out for a free one)"
            ) from None


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Stopped`` in the main thread (SIGINT: KeyboardInterrupt).

    Only in the main thread; elsewhere (a test calling the demo from a thread) a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class _Part:
    name: str
    stop: Callable[[], None]
    shown: bool = True


@dataclass
class Supervisor:
    """The parts the demo started, stopped in reverse order by ``stop_all`` (also on errors)."""

    stats: DemoStats
    parts: list[_Part] = field(default_factory=list)
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    """Errors raised in worker threads: ``(part, error)``; the demo fails when there is one."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(
        self, name: str, stop: Callable[[], None], detail: str = "", *, shown: bool = True
    ) -> None:
        """Record that ``name`` is up and how to stop it (``shown=False``: not in the view)."""
        self.parts.append(_Part(name, stop, shown))
        if shown:
            self.stats.component(name, "up", detail)

    def spawn(self, name: str, loop: Callable[[threading.Event], None], detail: str = "") -> Worker:
        """Run ``loop(stop_event)`` in a thread until it returns or ``stop_event`` is set."""
        worker = Worker(name, loop, self._failed)
        worker.start()
        self.started(name, worker.stop, detail)
        return worker

    def _failed(self, name: str, error: BaseException) -> None:
        with self._lock:
            self.failures.append((name, error))
        self.stats.component(name, "failed", f"{type(error).__name__}: {error}")

    def check(self) -> None:
        """Raise ``DemoError`` when a worker thread has failed."""
        with self._lock:
            failures = list(self.failures)
        if failures:
            name, error = failures[0]
            raise DemoError(f"{name} failed: {type(error).__name__}: {error}", exit_code=1)

    def stop_all(self) -> list[str]:
        """Stop every part, newest first; return the problems met (each part is still tried)."""
        problems: list[str] = []
        with _signals_ignored():
            while self.parts:
                part = self.parts.pop()
                try:
                    part.stop()
                    if part.shown:
                        self.stats.component(part.name, "stopped")
                except Exception as error:
                    problems.append(f"stopping {part.name}: {type(error).__name__}: {error}")
        return problems


class Worker:
    """A thread running ``loop(stop_event)``; ``stop()`` sets the event and joins it."""

    def __init__(
        self,
        name: str,
        loop: Callable[[threading.Event], None],
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self.name = name
        self.stop_event = threading.Event()
        self._loop = loop
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name=f"demo-{name}", daemon=True)

    def _run(self) -> None:
        try:
            self._loop(self.stop_event)
        except BaseException as error:
            self._on_error(self.name, error)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for it (a loop that does not end is left, as a daemon)."""
        self.stop_event.set()
        self._thread.join(_JOIN_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop within {_JOIN_SECONDS} s")


class UvicornThread:
    """An ASGI app served by uvicorn on ``host:port`` from a thread of this process.

    ``service`` is bound as the ``service`` field of everything logged while serving.
    """

    def __init__(self, app: Any, host: str, port: int, *, service: str | None = None) -> None:
        import uvicorn  # noqa: PLC0415 (optional dependency)

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self.service = service
        self._thread = threading.Thread(target=self._serve, name="demo-uvicorn", daemon=True)

    def _serve(self) -> None:
        if self.service is not None:  # every request's context is copied from this thread's
            bind_fields(service=self.service)
        self.server.run()

    def start(self, timeout: float = 10.0) -> None:
        """Serve, returning once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise DemoError(f"the ingest app could not start on {self.url}", exit_code=1)
            if time.monotonic() > deadline:
                self.stop()
                raise DemoError(f"the ingest app did not start on {self.url} in {timeout} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(_JOIN_SECONDS)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(_JOIN_SECONDS)
