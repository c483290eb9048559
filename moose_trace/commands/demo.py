"""``moose-trace demo``: a real pipeline, end to end, and the commands that explain its logs.

Starts a Kafka broker (embedded Tansu, or ``--bootstrap-servers``), an ingest app under uvicorn,
two transforms, a ClickHouse sync and a workflow, all on loopback; runs a scripted workload that
puts each user story's situation into the logs; then shows the trace of the ingest that failed
and every story's ``moose-trace logs`` command. Everything it started is stopped on exit,
Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from moose_trace._text import say
from moose_trace.commands.arguments import (
    DEFAULT_LOG_DIR_HELP,
    Subparsers,
    add_subcommand,
    port,
)
from moose_trace.commands.main import run_subcommand
from moose_trace.demo.exceptions import DemoError
from moose_trace.demo.processes import Stopped

__all__ = ["main", "register", "run"]

_EPILOG = """\
examples:
  moose-trace demo                      # about 20 s, then the stories' commands
  moose-trace demo --keep-running       # leave it up for your own requests (Ctrl-C stops it)
  moose-trace demo --bootstrap-servers localhost:9092 --clickhouse-url clickhouse://localhost:8123

The ten stories, step by step on the demo's logs: docs/tutorial.md
"""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="use this Kafka broker instead of starting the embedded Tansu broker",
    )
    parser.add_argument(
        "--clickhouse-url",
        metavar="URL",
        help="put the tables on this ClickHouse server (database moose_demo) instead of chDB",
    )
    parser.add_argument(
        "--port", type=port, default=0, help="the ingest app's port (default: a free one)"
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the pipeline up after the workload, until Ctrl-C",
    )
    parser.add_argument(
        "--short", action="store_true", help="a smaller workload (every story, fewer records)"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        metavar="DIR",
        help=f"write the logs here (default: {DEFAULT_LOG_DIR_HELP})",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the run's trace ids, offsets and times to FILE as JSON",
    )


def register(subparsers: Subparsers) -> None:
    """Add the ``demo`` subcommand to the ``moose-trace`` parser."""
    parser = add_subcommand(
        subparsers,
        "demo",
        help="run a real pipeline end to end and see its trace in the logs",
        module_doc=__doc__,
        epilog=_EPILOG,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``moose-trace demo`` with parsed ``args``; return the exit status."""
    # Imported here: the pipeline's modules are only needed when the demo runs, so other
    # subcommands (``moose-trace logs``) start without them.
    from moose_trace.commands.logs import main as run_logs  # noqa: PLC0415
    from moose_trace.demo.runner import DemoOptions, run_demo  # noqa: PLC0415

    options = DemoOptions(
        bootstrap_servers=args.bootstrap_servers,
        clickhouse_url=args.clickhouse_url,
        port=args.port,
        keep_running=args.keep_running,
        short=args.short,
        log_dir=args.log_dir,
        run_logs=run_logs,
        report=args.report,
    )
    try:
        return run_demo(options)
    except DemoError as problem:
        say("demo", problem)
        return problem.exit_code
    except (KeyboardInterrupt, Stopped):
        print("\nmoose-trace demo: stopped; everything it started is stopped", file=sys.stderr)
        return 130
    except Exception as failure:  # a bug or an environment problem: one line, no traceback
        say(
            "demo",
            f"failed: {type(failure).__name__}: {failure} (everything it started is stopped)",
        )
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace demo`` with ``argv`` (default: the process arguments)."""
    return run_subcommand("demo", argv)


if __name__ == "__main__":
    sys.exit(main())
