"""One real demo run (``--short``) for the whole directory, and ``moose-trace logs`` over its logs.

The tests ask ``moose-trace logs`` (in this process) the stories' questions about that run.
"""

from __future__ import annotations

import io
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import orjson
import pytest
from demo_run import DEMO_TIMEOUT, Answer, DemoRun, Logs, demo_command, demo_env

from moose_trace.commands.logs import main as logs_main


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """Run ``moose-trace demo --short`` once, with logs in a fresh default log directory."""
    base = tmp_path_factory.mktemp("demo")
    log_dir, report = base / "logs", base / "facts.json"
    finished = subprocess.run(
        demo_command("--short", "--report", str(report)),
        env=demo_env(log_dir),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    facts = orjson.loads(report.read_bytes())
    return DemoRun(finished.returncode, finished.stdout, finished.stderr, facts, log_dir)


@pytest.fixture(scope="session")
def logs(demo: DemoRun) -> Logs:
    """Run ``moose-trace logs ARGS…`` over the demo's log directory, in this process."""

    def run(*arguments: str) -> Answer:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = logs_main([*arguments, "--no-progress", str(demo.log_dir)])
        return Answer(code, out.getvalue(), err.getvalue())

    return run
