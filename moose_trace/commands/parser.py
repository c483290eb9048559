"""The ``moose-trace`` argument parser: every subcommand's arguments, errors in one line.

``commands.main`` answers the commonest command (``logs --trace ID`` over indexed files) without
it (``commands.quick_trace``) and comes here for everything else: ``argparse`` and the
subcommand modules are most of a command's start-up, which a trace lookup cannot afford.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from moose_trace._text import terminal_safe
from moose_trace._version import __version__
from moose_trace.commands.arguments import Subparsers

__all__ = ["SUBCOMMANDS", "build_parser", "run_parsed"]

# (subcommand, module that registers it, extra that provides its dependencies)
SUBCOMMANDS = (
    ("logs", "moose_trace.commands.logs", "query"),
    ("ingest", "moose_trace.commands.ingest", "clickhouse"),
    ("prune", "moose_trace.commands.prune", "all"),
    ("demo", "moose_trace.commands.demo", "demo"),
    ("serve", "moose_trace.commands.serve", "console"),
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the ``moose-trace`` argument parser with every available subcommand.

    With ``only``, just that subcommand is loaded (the others' modules are not imported), so
    ``moose-trace logs …`` starts as fast as the query tool alone.
    """
    parser: argparse.ArgumentParser = _Parser(
        prog="moose-trace",
        description="Trace ids from HTTP to ClickHouse, and the logs that explain them.",
    )
    parser.add_argument("--version", action="version", version=f"moose-trace {__version__}")
    subparsers: Subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name, extra in SUBCOMMANDS:
        if only is not None and command != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if (missing.name or "").split(".")[0] == "moose_trace":
                raise
            _register_missing_extra(subparsers, command, extra, missing)
            continue
        module.register(subparsers)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump), escaped, exit status 2.

    For an unknown option it names the closest known one.
    """

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument (to check metavars), each asking
        # shutil for the terminal's size: importing shutil (bz2, lzma …) and 30 system calls
        # on the way to every answer. The width is looked up once, without shutil.
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: <message>`` (``did you mean --filter?`` when one fits), exit 2."""
        text = terminal_safe(message + _suggestion(self, message), reversible=False)
        self.exit(2, f"{self.prog}: {text} (see {self.prog} --help)\n")


@functools.cache
def _help_width() -> int:
    """The width argparse gives help text (``shutil.get_terminal_size`` less 2): ``$COLUMNS``,
    else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    if "unrecognized arguments:" not in message:
        return ""
    known = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                known.update(sub._option_string_actions)
    words = message.split("unrecognized arguments:", 1)[1].split()
    for word in words:
        if word.startswith("--"):
            import difflib  # noqa: PLC0415 (only a mistyped option needs it: start-up)

            close = difflib.get_close_matches(word.split("=", 1)[0], sorted(known), n=1)
            if close:
                return f" (did you mean {close[0]}?)"
    return ""


def _register_missing_extra(
    subparsers: Subparsers,
    command: str,
    extra: str,
    missing: ModuleNotFoundError,
) -> None:
    message = (
        f"moose-trace {command} needs the optional dependency {missing.name!r}: "
        f"pip install 'moose-trace[{extra}]'"
    )

    def explain(_args: argparse.Namespace) -> int:
        print(message, file=sys.stderr)
        return 2

    parser = subparsers.add_parser(command, help=f"(needs moose-trace[{extra}])", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=explain)


def run_parsed(arguments: Sequence[str]) -> int:
    """Parse ``arguments`` (without the program name), run the subcommand, return its code."""
    commands = {command for command, _module, _extra in SUBCOMMANDS}
    first = arguments[0] if arguments else None
    parser = build_parser(first if first in commands else None)
    args = parser.parse_args(arguments)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        return 130
    return code
