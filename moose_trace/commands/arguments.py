"""The argument pieces several subcommands share, so each is parsed and explained one way.

A subcommand module builds its parser with ``add_subcommand`` and takes from here what it has in
common with the others: a port, where the logs are (a directory, or a ClickHouse table), and
the progress-bar switch. What only one subcommand has stays in its own module.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

__all__ = [
    "DEFAULT_LOG_DIR_HELP",
    "Subparsers",
    "add_no_progress",
    "add_store_arguments",
    "add_subcommand",
    "port",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``register(subparsers)`` of each subcommand module receives from ``main``."""

DEFAULT_LOG_DIR_HELP = "$MOOSE_TRACE_LOG_DIR, else ~/.moose-trace/logs"
"""How every help text names the default log directory (``logging.paths.default_log_dir``)."""


def add_subcommand(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    module_doc: str | None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """Add subcommand ``name``: its description is the first line of its module's docstring."""
    return subparsers.add_parser(
        name,
        help=help,
        description=module_doc.splitlines()[0].replace("``", "") if module_doc else None,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def port(text: str) -> int:
    """An ``argparse`` type: a TCP port, 0 meaning a free one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"bad port {text!r}: expected a number from 1 to 65535 (0: a free one)"
        )
    return int(text)


def add_store_arguments(parser: argparse.ArgumentParser, *, verb: str) -> None:
    """``--source URL`` (into ``args.store``) and ``--table``: read a ClickHouse table instead."""
    parser.add_argument(
        "--source",
        dest="store",
        default=None,
        metavar="URL",
        help=f"{verb} a ClickHouse logs table instead of files (same as giving the URL as a "
        "source): clickhouse://user@host:8123/db, clickhouses://…, chdb:///path",
    )
    parser.add_argument(
        "--table",
        default=None,
        metavar="NAME",
        help="the logs table when the source is ClickHouse (default: moose_logs)",
    )


def add_no_progress(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--no-progress``: no progress bar on stderr (it is shown only on a terminal anyway)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
