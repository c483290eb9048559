"""What the demo shows at the end: the failed ingest's trace, then each story's commands.

``story_commands(facts)`` spells the ten user stories' ``moose-trace logs`` commands with this
run's trace ids, Kafka offset, workflow run and deployment time filled in, ready to paste.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from moose_trace._text import terminal_safe
from moose_trace.demo.progress import DemoStats
from moose_trace.demo.workload import StoryFacts

__all__ = [
    "LogsCommand",
    "Story",
    "command_line",
    "print_results",
    "program_words",
    "serve_line",
    "story_commands",
    "trace_output",
]


@dataclass(frozen=True)
class Story:
    """One user story: its number, its question, and the commands that answer it."""

    number: int
    question: str
    commands: tuple[tuple[str, ...], ...]
    """Each command's arguments after ``moose-trace logs``."""


def story_commands(facts: StoryFacts) -> list[Story]:
    """Return the ten stories with this run's ids and times in their commands."""
    split, start, end = facts.deployed_v2_at, facts.started_at, facts.finished_at
    # The run's own time range: a command pasted an hour later still finds the run's events.
    since = f"--since={start}" if start else "--since=1h"
    until = f"--until={_after(end)}" if end else "--until=now"
    enrichment = "type=transform,name=user_enrichment"
    kafka = (
        f"topic={facts.dead_letter_topic},partition={facts.dead_letter_partition},"
        f"offset={facts.dead_letter_offset}"
    )
    return [
        Story(
            1,
            "Why is an accepted event missing from the UserEvent table?",
            (
                ("--filter", "name=UserEventPipeline", since, until, "--level=warning+"),
                ("--trace", facts.failed_ingest_trace),
                (
                    "--filter",
                    "type=olap_table,name=UserEvent",
                    "--filter",
                    "layer=sync",
                    "--level=error",
                ),
            ),
        ),
        Story(
            2,
            "Why is the user_event_to_session transform slow?",
            (
                (
                    "--filter",
                    "type=transform,name=user_event_to_session",
                    "--include-metrics",
                    "--limit=5",
                ),
                ("--filter", "type=transform", "--filter", "latency_ms:>1000"),
                ("--trace", facts.slow_purchase_trace),
            ),
        ),
        Story(
            3,
            "Why does /consumption/leaderboard answer 500?",
            (
                ("--filter", "type=api,name=leaderboard", "--level=error", since, until),
                ("--filter", "type=api,name=leaderboard", since, until),
                ("--filter", "name=leaderboard", "--filter", "layer=storage"),
            ),
        ),
        Story(
            4,
            "Who read /consumption/user-pii, and who failed to?",
            (
                ("--filter", "type=api,name=user-pii", "--filter", "security=true", since, until),
                ("--filter", "security=auth_failure", "--level=warn,error", since, until),
                ("--filter", "type=api,name=user-pii", "--format=csv", "--output=audit.csv"),
            ),
        ),
        Story(
            5,
            "Why is the clickhouse_sync consumer falling behind?",
            (
                (
                    "--filter",
                    "layer=sync,consumer_group=clickhouse_sync",
                    "--filter",
                    "latency_ms:>=100",
                    "--include-metrics",
                ),
                ("--filter", "layer=sync", "--filter", "consumer_lag:>0", "--include-metrics"),
                ("--filter", "layer=sync", "--filter", "operation=batch_insert", since, until),
            ),
        ),
        Story(
            6,
            "Which record did user_event_to_session fail on, and where did it go?",
            (
                (
                    "--filter",
                    "type=transform,name=user_event_to_session",
                    "--filter",
                    "phase=runtime",
                    "--verbose",
                    "--limit=3",
                ),
                ("--trace-kafka", kafka),
                (
                    "--filter",
                    "type=transform,name=user_event_to_session",
                    "--level=error",
                    "--include-payload",
                ),
            ),
        ),
        Story(
            7,
            "What did the deployment change, in which phase, under which lock?",
            (
                (
                    "--filter",
                    "phase=planning,validation,execution",
                    "--filter",
                    "layer=storage,streaming",
                ),
                ("--filter", "operation=ddl_*", since, until),
                ("--filter", "phase=execution", "--follow"),
            ),
        ),
        Story(
            8,
            "What is failing across the system?",
            (
                ("--level=error", since, until),
                ("--level=error", since, until, "--group-by=error_category,layer"),
                ("--level=error", since, until, "--histogram=2s"),
            ),
        ),
        Story(
            9,
            "Why did the data_refresh workflow fail, and did the retry work?",
            (
                ("--filter", "type=workflow,name=data_refresh"),
                ("--filter", "type=task,name=fetch_external_data"),
                ("--filter", f"workflow_run_id={facts.workflow_run_id}"),
            ),
        ),
        Story(
            10,
            "Is user_enrichment v2 faster than v1?",
            (
                ("--filter", enrichment, f"--until={split}", "--include-metrics", "--limit=3"),
                ("--filter", enrichment, f"--since={split}", "--include-metrics", "--limit=3"),
                (
                    "--filter",
                    enrichment,
                    "--compare",
                    f"before={start}..{split}",
                    f"after={split}..{end}",
                ),
            ),
        ),
    ]


_SETTLE = timedelta(seconds=5)
"""Lines still written after the workload ends (last deliveries, the last sync batch)."""


def _after(moment: str) -> str:
    """Return ISO time ``moment`` plus ``_SETTLE``, in the same form."""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return moment
    later = (parsed + _SETTLE).astimezone(timezone.utc)
    return later.strftime("%Y-%m-%dT%H:%M:%S.") + f"{later.microsecond // 1000:03d}Z"


def command_line(arguments: tuple[str, ...], source: Path | None = None) -> str:
    """Return ``moose-trace logs …`` as a shell line (``source`` appended when given).

    The command is spelled as it runs from here: ``moose-trace`` when that is the one on
    ``PATH``, else the console script beside this Python (``.venv/bin/moose-trace`` after the
    README's install), else ``python -m moose_trace.commands.main``.
    """
    return _shell_line([*program_words(), "logs", *arguments, *([str(source)] if source else [])])


def serve_line(log_dir: Path) -> str:
    """Return ``moose-trace serve <log_dir>`` as a shell line, spelled as ``command_line``."""
    return _shell_line([*program_words(), "serve", str(log_dir)])


def _shell_line(words: list[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def program_words() -> list[str]:
    """Return the words that run ``moose-trace`` from the current directory."""
    script = Path(sys.executable).parent / "moose-trace"
    on_path = shutil.which("moose-trace")
    if on_path is not None and (not script.exists() or _same(Path(on_path), script)):
        return ["moose-trace"]
    if script.exists():
        relative = os.path.relpath(script)
        if relative.startswith(".."):
            return [str(script)]
        return [relative if os.sep in relative else os.path.join(".", relative)]
    return [sys.executable, "-m", "moose_trace.commands.main"]


def _same(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False


LogsCommand = Callable[[Sequence[str]], int]
"""Runs ``moose-trace logs`` with these arguments in this process; returns its exit status."""


def trace_output(
    trace_id: str,
    *,
    color: bool,
    source: Path | None = None,
    run_logs: LogsCommand | None = None,
) -> tuple[int, str]:
    """Run ``moose-trace logs --trace <id>``; return its exit status and what it wrote.

    ``run_logs`` runs it in this process (``moose-trace demo`` hands in the command's own
    ``main``; the demo sits below the commands and imports none); without it, the command runs
    as a child process, as a user would run it.
    """
    arguments = ["--trace", trace_id, "--color", "always" if color else "never", "--no-progress"]
    if source is not None:
        arguments.append(str(source))
    if run_logs is None:
        done = subprocess.run(
            [sys.executable, "-m", "moose_trace.commands.main", "logs", *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_logs(arguments)
    return code, out.getvalue() + err.getvalue()


def print_results(
    facts: StoryFacts,
    *,
    stats: DemoStats,
    table_engine: str,
    log_dir: Path,
    source: Path | None,
    out: TextIO,
    run_logs: LogsCommand | None = None,
) -> None:
    """Show the run's outcome: counters, the failed ingest's trace, the stories' commands.

    ``source`` is the log directory to name in commands (``None``: the default one, which the
    commands find by themselves); ``run_logs`` as in ``trace_output``.
    """
    color = _is_tty(out)
    bold = (lambda text: f"\x1b[1m{text}\x1b[0m") if color else (lambda text: text)
    write = out.write
    write(f"\n{stats.summary()}\n")
    write(f"tables: {terminal_safe(table_engine)}; logs: {terminal_safe(str(log_dir))}\n\n")
    write(bold("One event was accepted but never reached its table (US-1).") + "\n")
    write(
        "POST /ingest/UserEvent answered 200 with "
        f"X-Trace-Id: {bold(facts.failed_ingest_trace)}\n\n"
    )
    write(f"$ {command_line(('--trace', facts.failed_ingest_trace), source)}\n")
    _code, text = trace_output(
        facts.failed_ingest_trace, color=color, source=source, run_logs=run_logs
    )
    write(text if text.endswith("\n") else text + "\n")
    write("\n" + bold("Next: each user story's question, answered from these logs") + "\n")
    for story in story_commands(facts):
        write(f"\nUS-{story.number}  {story.question}\n")
        for arguments in story.commands:
            write(f"  {command_line(arguments, source)}\n")
    write("\nThe stories, step by step: docs/tutorial.md\n")
    write(f"The same logs in a browser: {serve_line(source or log_dir)}\n")
    out.flush()


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
