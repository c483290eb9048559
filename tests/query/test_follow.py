"""``--follow`` in a real process: new matching lines and new files show up; Ctrl-C ends it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

WAIT_SECONDS = 20.0


def _line(index: int, **fields: object) -> bytes:
    event = {
        "timestamp": f"2026-01-09T10:00:{index:02d}Z",
        "level": "info",
        "event": f"e{index}",
        **fields,
    }
    return orjson.dumps(event) + b"\n"


class _Following:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: queue.Queue[bytes] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    def next_event(self) -> dict[str, object]:
        return dict(orjson.loads(self.lines.get(timeout=WAIT_SECONDS)))


@pytest.fixture
def follow(tmp_path: Path) -> Iterator[tuple[Path, _Following]]:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "deploy-2026-01-09.jsonl").write_bytes(
        _line(1, phase="execution") + _line(2, phase="planning")
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moose_trace.commands.logs",
            str(logs),
            "--filter",
            "phase=execution",
            "--follow",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    following = _Following(process)
    try:
        yield logs, following
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_follow_shows_new_matching_lines_and_new_files(follow: tuple[Path, _Following]) -> None:
    logs, following = follow
    assert following.next_event()["event"] == "e1"  # what was there already
    with open(logs / "deploy-2026-01-09.jsonl", "ab") as file:
        file.write(_line(3, phase="planning"))
        file.write(_line(4, phase="execution")[:20])  # half a line: not shown until finished
        file.flush()
        file.write(_line(4, phase="execution")[20:])
    assert following.next_event()["event"] == "e4"
    (logs / "deploy-2026-01-10.jsonl").write_bytes(_line(5, phase="execution"))
    assert following.next_event()["event"] == "e5"
    (logs / "notes.txt").write_bytes(_line(6, phase="execution"))  # not a log file name
    with open(logs / "deploy-2026-01-10.jsonl", "ab") as file:
        file.write(_line(7, phase="execution"))
    assert following.next_event()["event"] == "e7"


def test_ctrl_c_ends_follow_cleanly(follow: tuple[Path, _Following]) -> None:
    _, following = follow
    assert following.next_event()["event"] == "e1"
    following.process.send_signal(signal.SIGINT)
    assert following.process.wait(timeout=WAIT_SECONDS) == 0
    assert following.process.stderr is not None
    errors = following.process.stderr.read().decode()
    assert "Traceback" not in errors
    assert "KeyboardInterrupt" not in errors
