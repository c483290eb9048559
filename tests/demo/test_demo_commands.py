"""Every command the demo prints still answers when pasted later (issue 15 §5).

The demo's commands carry the run's own time range (absolute ``--since``/``--until``), so
pasted 15 minutes after the run (the clock is moved forward here) each one still finds the
run's events. They are spelled as they run from the current directory.
"""

from __future__ import annotations

import io
import shlex
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from demo_run import DemoRun

import moose_trace.commands.logs as logs_cli
from moose_trace.demo.stories import program_words

LATER = timedelta(minutes=15)


def _printed_commands(out: str) -> list[list[str]]:
    """The ``moose-trace logs`` commands the demo printed, as argument lists after ``logs``."""
    program = program_words()
    found = []
    for line in out.splitlines():
        words = shlex.split(line.strip().removeprefix("$ ")) if " logs " in line else []
        if words[: len(program) + 1] == [*program, "logs"]:
            found.append(words[len(program) + 1 :])
    return found


class _Later(datetime):
    """``datetime`` whose ``now`` is 15 minutes ahead: the user pastes after a coffee."""

    @classmethod
    def now(cls, tz: object = None) -> _Later:  # type: ignore[override]
        real = datetime.now(timezone.utc) + LATER
        return cls.fromtimestamp(real.timestamp(), timezone.utc)


def test_commands_are_spelled_as_they_run_here(demo: DemoRun) -> None:
    commands = _printed_commands(demo.out)
    assert len(commands) >= 30  # every story's commands and the trace shown
    program = program_words()
    assert program != ["moose-trace"] or __import__("shutil").which("moose-trace")
    assert not any("--since=10m" in words or "--since=1h" in words for words in commands)


def test_every_printed_command_finds_events_15_minutes_later(
    demo: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _printed_commands(demo.out)  # spelled for this directory
    monkeypatch.setattr(logs_cli, "datetime", _Later)
    monkeypatch.chdir(tmp_path)  # US-4 writes audit.csv here
    for arguments in commands:
        if "--follow" in arguments:
            continue  # runs until Ctrl-C; the same query without --follow is checked below
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = logs_cli.main([*arguments, "--no-progress", str(demo.log_dir)])
        assert code == 0, (arguments, err.getvalue())
        assert "no matching events" not in err.getvalue(), arguments
        written = out.getvalue() or Path("audit.csv").read_text(encoding="utf-8")
        assert written.strip(), arguments
    follow = next(words for words in commands if "--follow" in words)
    without = [word for word in follow if word != "--follow"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert logs_cli.main([*without, "--no-progress", str(demo.log_dir)]) == 0
    assert out.getvalue().strip()


def test_the_console_command_is_spelled_as_it_runs_here(demo: DemoRun) -> None:
    """The last line names the console as the other printed commands name ``logs``."""
    last = demo.out.strip().splitlines()[-1]
    assert last.startswith("The same logs in a browser: ")
    words = shlex.split(last.removeprefix("The same logs in a browser: "))
    program = program_words()
    assert words[: len(program) + 1] == [*program, "serve"]
    assert Path(words[-1]).resolve() == demo.log_dir.resolve()
