"""The ``moose-trace`` command: every job is reachable from the one entry point."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from moose_trace.commands.main import main

COMMANDS = ("logs", "ingest", "prune", "demo")


def test_help_lists_every_subcommand() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "moose_trace.commands.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in COMMANDS:
        assert f"    {command}" in run.stdout


def test_no_subcommand_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: moose-trace" in capsys.readouterr().err


def test_subcommands_run_through_the_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "app-2026-11-20.jsonl"
    log.write_text('{"timestamp": "2099-01-01T00:00:00Z", "level": "error", "event": "boom"}\n')
    assert main(["logs", str(tmp_path), "--format", "json", "--no-progress"]) == 0
    assert '"event":"boom"' in capsys.readouterr().out.replace(" ", "")
    assert main(["prune", "--dir", str(tmp_path)]) == 0
    assert log.read_text().count("boom") == 1  # not past its retention: kept


def test_a_subcommand_loads_only_its_own_modules(tmp_path: Path) -> None:
    """``moose-trace logs`` starts without importing the demo's pipeline or the ClickHouse sink."""
    (tmp_path / "a.jsonl").write_text('{"level": "info", "event": "x"}\n')
    code = (
        "import sys\n"
        "from moose_trace.commands.main import main\n"
        f"main(['logs', {str(tmp_path)!r}, '--format', 'json', '--no-progress'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('moose_trace.demo',"
        " 'moose_trace.clickhouse', 'moose_trace.commands.prune'))), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stderr.strip().splitlines()[-1] == "[]"


SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "moose-trace"


def test_the_installed_command_is_the_lean_script() -> None:
    """``pip install`` puts ``scripts/moose-trace`` on the environment's PATH: it imports only
    ``sys`` and ``main`` (pip's generated wrapper for an entry point imports ``re`` first, a
    third of an indexed ``--trace``), and runs the command."""
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"sys", "moose_trace.commands.main.main"}
    assert SCRIPT.read_text().startswith("#!python\n")  # the installer writes the interpreter
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--version"], capture_output=True, text=True, check=True
    )
    assert run.stdout.startswith("moose-trace ")


def test_python_m_moose_trace_is_the_command_too() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "moose_trace", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0
    assert run.stdout.startswith("moose-trace ")
