"""Runs ``moose-trace logs`` in this process and keeps what it wrote, for the query tests."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from moose_trace.commands.logs import main


@dataclass(frozen=True)
class Run:
    """One ``moose-trace logs`` run: its exit status and what it wrote."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """Return stdout's lines."""
        return self.out.splitlines()


def run_logs(*args: str | Path) -> Run:
    """Run ``moose-trace logs`` in this process with ``args``."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return Run(code, out.getvalue(), err.getvalue())
