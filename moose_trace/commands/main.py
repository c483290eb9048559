"""The ``moose-trace`` command: one entry point, one subcommand per job.

Each subcommand is a module of this package (``logs``, ``ingest``, ``prune``, ``demo``,
``serve``) with ``register(subparsers)``; ``commands.parser`` wires them into one argument
parser, loading only the subcommand asked for, so an extra that is not installed costs only its
own subcommand.

This module is what the console script imports, so it imports nothing but ``sys``: a
command's start-up is part of every answer, and a trace lookup is little else. The commonest
question, ``moose-trace logs --trace ID`` over indexed files, is answered by
``commands.quick_trace`` in less time than ``argparse`` takes to load, with the output the full
command gives; every other command line goes to the parser (``commands.parser``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Sequence

    # ``as``: an explicit re-export (loaded by ``__getattr__`` below)
    from moose_trace._text import say as say  # noqa: PLC0414
    from moose_trace.commands.parser import build_parser as build_parser  # noqa: PLC0414

__all__ = ["build_parser", "main", "run_subcommand", "say"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace`` with ``argv`` (default: the process arguments); return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["logs"]:
        from moose_trace.commands.quick_trace import quick_trace  # noqa: PLC0415 (see the doc)

        try:
            code = quick_trace(arguments[1:])
        except KeyboardInterrupt:  # as the parser's path: no traceback for a Ctrl-C
            return 130
        if code is not None:
            return code
    from moose_trace.commands.parser import run_parsed  # noqa: PLC0415 (see the doc)

    return run_parsed(arguments)


def run_subcommand(command: str, argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace <command>`` with ``argv`` (default: the process arguments).

    What ``python -m moose_trace.commands.logs`` and ``python -m moose_trace.demo`` run: the same
    parser and error handling as the ``moose-trace`` command, one subcommand loaded.
    """
    return main([command, *(sys.argv[1:] if argv is None else argv)])


def __getattr__(name: str) -> object:
    """``build_parser`` and ``say``, loaded on first use (they import ``argparse``, ``re``)."""
    if name == "build_parser":
        from moose_trace.commands.parser import build_parser  # noqa: PLC0415

        return build_parser
    if name == "say":
        from moose_trace._text import say  # noqa: PLC0415

        return say
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
