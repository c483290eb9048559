"""Helpers of the demo tests: a finished run, the command that starts one, an answer of the logs.

The demo runs as the user runs it: a child process, ``python -m moose_trace.demo``, with
``MOOSE_TRACE_LOG_DIR`` pointing at a fresh directory, so its logs land where ``moose-trace logs``
looks by default.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from moose_trace.logging.paths import LOG_DIR_ENV

DEMO_TIMEOUT = 90
"""Seconds a short demo run may take before the test gives up on it (it takes about 8)."""


@dataclass(frozen=True)
class DemoRun:
    """A finished demo run: its exit status, output, facts and log directory."""

    code: int
    out: str
    err: str
    facts: dict[str, Any]
    log_dir: Path

    def ports(self) -> dict[str, int]:
        """Return the ports the run announced: ``{"broker": …, "ingest app": …}``."""
        return announced_ports(self.out)


def announced_ports(text: str) -> dict[str, int]:
    """Return the ports of the parts a demo's progress lines announced as up."""
    ports: dict[str, int] = {}
    for part, port in re.findall(r"\[demo\] ([a-z ]+): up - (?:http://)?127\.0\.0\.1:(\d+)", text):
        ports[part] = int(port)
    return ports


def demo_command(*arguments: str) -> list[str]:
    """Return the command line that runs the demo in a child process."""
    return [sys.executable, "-m", "moose_trace.demo", *arguments]


def demo_env(log_dir: Path) -> dict[str, str]:
    """Return the environment for a demo child process writing logs to ``log_dir``."""
    return {**os.environ, LOG_DIR_ENV: str(log_dir), "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Answer:
    """What one ``moose-trace logs`` command answered."""

    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        """Return the JSON Lines answer as dicts."""
        assert self.code == 0, self.err
        return [orjson.loads(line) for line in self.out.splitlines() if line]


Logs = Callable[..., Answer]
