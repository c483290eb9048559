"""``moose-trace ingest``: load JSON Lines log files into a ClickHouse logs table.

``moose-trace ingest FILES… --to URL`` inserts every event of the files (or globs, or
directories; none means the default log directory) into the ``moose_logs`` table at ``URL``
(``clickhouse://user:pass@host:8123/db`` or ``chdb:///path/to/dir``), created if missing. It is
resumable: run it again and it continues where it stopped, and appended lines are picked up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moose_trace._text import say
from moose_trace.commands.arguments import Subparsers, add_no_progress
from moose_trace.query.exceptions import QueryError
from moose_trace.query.ingest import default_state_file, ingest_files
from moose_trace.query.progress import ProgressBar
from moose_trace.query.sources import resolve_sources
from moose_trace.store.clickhouse.schema import DEFAULT_TABLE
from moose_trace.store.clickhouse.transport import ClickHouseError, connect

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the ``ingest`` subcommand to the ``moose-trace`` parser."""
    parser = subparsers.add_parser(
        "ingest",
        help="load JSON Lines log files into ClickHouse",
        description=(
            "Insert the events of JSON Lines files into a ClickHouse logs table, resumably: "
            "a rerun continues where the last one stopped. Lines that are not JSON objects are "
            "counted and skipped."
        ),
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="files, globs or directories (default: the log directory)",
    )
    parser.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="clickhouse://user:pass@host:8123/db or chdb:///path/to/dir "
        "(credentials also from MOOSE_TRACE_CLICKHOUSE_USER/_PASSWORD)",
    )
    parser.add_argument("--table", default=DEFAULT_TABLE, help="table name (default: %(default)s)")
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="FILE",
        help="where progress is kept (default: one file per URL and table)",
    )
    parser.add_argument(
        "--from-start", action="store_true", help="ignore earlier progress and read every file"
    )
    parser.add_argument(
        "--no-create-table",
        action="store_true",
        help="do not create the table (a cluster whose tables were made with cluster_ddl)",
    )
    add_no_progress(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        paths = resolve_sources(args.files).files
        transport = connect(args.to)
    except (ValueError, QueryError, ClickHouseError) as bad:
        say("ingest", bad)
        return 2
    state = default_state_file(transport, args.table) if args.state is None else args.state
    bar = ProgressBar(sys.stderr, label="ingest", enabled=not args.no_progress)
    total = sum(path.stat().st_size for path in paths) or 1
    done = [0]

    def progress(read_bytes: int, _events: int) -> None:
        done[0] += read_bytes
        bar(done[0] / total)

    try:
        report = ingest_files(
            paths,
            transport,
            table=args.table,
            state_file=state,
            from_start=args.from_start,
            create_table=not args.no_create_table,
            on_progress=progress,
        )
    except (ClickHouseError, ValueError) as failure:
        bar.clear()
        say("ingest", failure)
        print(
            "What was inserted is recorded: run the same command again to continue.",
            file=sys.stderr,
        )
        return 1
    finally:
        transport.close()
    bar.clear()
    for unreadable in report.unreadable:
        say("ingest", f"skipped {unreadable.path}: {unreadable.reason}")
    note = f"; {report.malformed:,} malformed lines skipped" if report.malformed else ""
    print(
        f"moose-trace ingest: {report.events:,} event{'' if report.events == 1 else 's'} "
        f"from {report.files} file{'' if report.files == 1 else 's'} into "
        f"{args.table} at {transport.url}{note}",
        file=sys.stderr,
    )
    skipped = {unreadable.path for unreadable in report.unreadable}
    return 1 if skipped and skipped >= set(paths) and not report.events else 0
