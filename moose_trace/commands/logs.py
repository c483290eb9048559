"""``moose-trace logs``: the user stories' query tool over JSON Lines logs.

This module is the command only: it parses the arguments, has them planned into one query AST
(``moose_trace.query.plan``), run by the engine that fits (``moose_trace.query.runner``: the
trace index and the Python engine for ``--trace``, DuckDB over the files for everything else)
or followed (``moose_trace.query.following``), renders the answer and maps errors to exit
codes. Bad input is reported naming the bad token, with exit status 2 and no traceback; no
matching events is exit 0 with a note on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TextIO

from moose_trace._text import say
from moose_trace.commands.arguments import (
    DEFAULT_LOG_DIR_HELP,
    Subparsers,
    add_no_progress,
    add_store_arguments,
    add_subcommand,
)
from moose_trace.commands.main import run_subcommand
from moose_trace.query.ast import AllOf, ListEvents, Query
from moose_trace.query.engines import open_store, store_url, trace_of
from moose_trace.query.event_text import TextOptions
from moose_trace.query.exceptions import EngineError, QueryError
from moose_trace.query.plan import Plan, QueryRequest, plan_query
from moose_trace.query.progress import ProgressBar
from moose_trace.query.results import EventsResult, GroupsResult, Result, unseen_fields
from moose_trace.query.runner import QueryRunner
from moose_trace.query.screen import output_style, paged, pager_command, terminal_width
from moose_trace.query.sources import LogSources, resolve_sources
from moose_trace.query.tree_text import TreeOptions, render_trees

if TYPE_CHECKING:
    pass

# Modules only some answers need (the list renderer, --follow, the compact terminal lines)
# are imported where used: `--trace ID`, a lookup of a few lines, is mostly interpreter
# start-up, and every module loaded adds to it.

__all__ = ["FOLLOW_BACKLOG", "MAX_LIMIT", "main", "no_match_note", "register", "run"]

FOLLOW_BACKLOG = 10
"""Events shown before following when neither ``--since`` nor ``--limit`` says how many."""

_EXAMPLES = """\
examples:
  moose-trace logs --filter name=UserEventPipeline
  moose-trace logs --trace 0193f0c2-7b1e-7c3a-9d2f-0123456789ab
  moose-trace logs --filter type=olap_table,name=UserEvent --filter layer=sync
  moose-trace logs --filter type=transform --filter 'latency_ms:>1000' --include-metrics
  moose-trace logs --filter type=api,name=leaderboard --level=error --since=10m
  moose-trace logs --filter security=auth_failure --level=warn,error --since=7d
  moose-trace logs --filter type=api,name=user-pii --format=csv --output=audit.csv
  moose-trace logs --trace-kafka topic=Foo,partition=2,offset=12345
  moose-trace logs --filter 'operation=ddl_*' --since=5m
  moose-trace logs --filter phase=execution --follow
  moose-trace logs --level=error --since=1h --group-by=error_category,layer
  moose-trace logs --level=error --since=24h --histogram=1h
  moose-trace logs --errors --since=1d
  moose-trace logs --search timeout --since=1h
  moose-trace logs connection_error
  moose-trace logs --filter type=transform,name=user_enrichment --compare before=2d-1d after=1d-now

The filter language, with every user story's command: docs/query.md
"""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="JSON Lines files, globs or directories, plain or .gz; a bare word that names no "
        "file is searched for (like --search) "
        f"(default: {DEFAULT_LOG_DIR_HELP}); or one ClickHouse URL: "
        "clickhouse://user@host:8123/db, clickhouses://…, chdb:///path",
    )
    add_store_arguments(parser, verb="query")
    which = parser.add_argument_group("which events")
    which.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        help="conditions that must all hold: key=value, key!=value, key=glob*, key=a,b, "
        "key:>N (:>=, :<, :<=); repeatable",
    )
    which.add_argument(
        "--level", metavar="LEVELS", help="a level or a list: error, warn,error, warning+"
    )
    which.add_argument(
        "--since", metavar="TIME", help="30s, 10m, 24h, 7d, 2w back from now, or ISO 8601"
    )
    which.add_argument("--until", metavar="TIME", help="same forms as --since")
    which.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="TEXT",
        help="events holding TEXT in any field, ignoring case (a bare word does the same); "
        "repeatable: all must appear",
    )
    trace = which.add_mutually_exclusive_group()
    trace.add_argument(
        "--trace", metavar="ID", help="every event of one trace (any case, hex or UUID)"
    )
    trace.add_argument(
        "--trace-kafka",
        metavar="topic=T,partition=P,offset=O",
        help="the whole trace of the Kafka record at those coordinates",
    )
    answer = parser.add_argument_group("what to answer").add_mutually_exclusive_group()
    answer.add_argument(
        "--group-by", metavar="FIELDS", help="counts per value, nested: error_category,layer"
    )
    answer.add_argument(
        "--histogram", metavar="INTERVAL", help="counts per time bucket: 1h, 10m, 1d"
    )
    answer.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=START-END",
        help="latency, throughput and error rate per window: before=2d-1d after=1d-now",
    )
    answer.add_argument("--errors", action="store_true", help="error groups by error_signature")
    show = parser.add_argument_group("how to show it")
    show.add_argument("--format", choices=("text", "json", "csv"), default="text")
    show.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    show.add_argument("--limit", type=_limit, metavar="N", help="only the latest N events")
    show.add_argument(
        "--include-metrics", action="store_true", help="show batch size and throughput"
    )
    show.add_argument("--include-payload", action="store_true", help="show payloads and stacks")
    show.add_argument(
        "--verbose",
        action="store_true",
        help="show every field (with --trace: each span's log events under it)",
    )
    show.add_argument(
        "--wide",
        action="store_true",
        help="every field of each event, lines as long as they get "
        "(on a terminal, lines are cut to its width by default)",
    )
    show.add_argument(
        "--flat",
        action="store_true",
        help="with --trace: the trace's events as a list, not a tree",
    )
    show.add_argument("--follow", action="store_true", help="keep showing new matching events")
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_no_progress(show)
    show.add_argument(
        "--no-pager",
        action="store_true",
        help="never page (text on a terminal goes through $PAGER, else less -FRX, by default)",
    )


MAX_LIMIT = 1_000_000
"""``--limit`` at most: the latest N events are held in memory to be put in order."""


def _limit(text: str) -> int:
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit() or not 1 <= int(digits) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"bad --limit {text!r}: expected a whole number from 1 to {MAX_LIMIT:,} "
            "(leave it out for every event)"
        )
    return int(digits)


def register(subparsers: Subparsers) -> None:
    """Add the ``logs`` subcommand to the ``moose-trace`` parser."""
    parser = add_subcommand(
        subparsers,
        "logs",
        help="query the logs: filter, trace, group, histogram, compare, follow, export",
        module_doc=__doc__,
        epilog=_EXAMPLES,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


@contextlib.contextmanager
def _output(path: str | None, *, pager: bool = False) -> Iterator[TextIO]:
    if path is None:
        command = pager_command(sys.stdout, os.environ) if pager else None
        if command is None:
            yield sys.stdout
            return
        with paged(command) as stream:
            yield stream
        return
    with open(path, "w", encoding="utf-8", newline="") as file:
        yield file


def _request(args: argparse.Namespace) -> QueryRequest:
    return QueryRequest(
        sources=tuple(args.sources),
        filter=tuple(args.filter),
        level=args.level,
        since=args.since,
        until=args.until,
        trace=args.trace,
        trace_kafka=args.trace_kafka,
        search=tuple(args.search),
        limit=args.limit,
        group_by=args.group_by,
        histogram=args.histogram,
        compare=tuple(args.compare or ()),
        errors=args.errors,
        follow=args.follow,
        format=args.format,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``moose-trace logs`` with parsed ``args``; return the exit status."""
    err = sys.stderr
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    now = datetime.now(timezone.utc)
    try:
        plan = plan_query(_request(args), now)
        url = store_url([*plan.sources, *([args.store] if args.store else [])])
        if args.store and url is None:
            raise QueryError(f"--source takes a ClickHouse URL, got {args.store!r}")
        if args.output is not None and not args.output.strip():
            raise QueryError("--output needs a file name")
        if url is None and args.table is not None:
            raise QueryError("--table names a ClickHouse table: give a ClickHouse URL as source")
        sources = LogSources([]) if url is not None else resolve_sources(list(plan.sources))
        store = None if url is None else open_store(url, args.table)
    except QueryError as bad:
        say("logs", bad, err)
        return 2
    except ModuleNotFoundError as missing:
        print(
            f"moose-trace logs: a ClickHouse source needs {missing.name!r}: "
            "pip install 'moose-trace[clickhouse]'",
            file=err,
        )
        return 2
    progress = ProgressBar(err, enabled=not args.no_progress)
    runner = QueryRunner(sources, progress, store)
    try:
        pager = not (args.no_pager or args.follow) and args.format == "text"
        with _output(args.output, pager=pager) as out:
            return _answer(args, plan, runner, out, err)
    except QueryError as bad:
        progress.clear()
        say("logs", bad, err)
        return 2
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout was closed by the reader)
        return 0
    except (OSError, EngineError) as failure:
        progress.clear()
        say("logs", failure, err)
        return 1
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _answer(
    args: argparse.Namespace, plan: Plan, runner: QueryRunner, out: TextIO, err: TextIO
) -> int:
    query = plan.query
    if plan.kafka is not None:
        traces = runner.kafka_traces(plan.kafka)
        if traces is None:
            runner.progress.clear()
            say(
                "logs",
                f"no event logged for Kafka record {args.trace_kafka} in {runner.where()}",
                err,
            )
            return 0
        query = Query(AllOf((query.where, traces)), query.mode)
    style = output_style(args.color, out, args.format)
    text = TextOptions(
        include_metrics=args.include_metrics,
        include_payload=args.include_payload,
        verbose=args.verbose,
        show_trace_id=trace_of(query.where) is None,
        style=style,
    )
    trace = trace_of(query.where)
    if trace is not None and _draws_tree(args, query):
        result = runner.run(query)
        runner.progress.clear()
        assert isinstance(result, EventsResult)
        tree_options = TreeOptions(terminal_width(out), style, args.verbose)
        count = render_trees(trace.trace_ids, result.events, out, args.format, tree_options)
        out.flush()
        _notes(runner, result, count, err)
        return 1 if runner.nothing_read() else 0
    from moose_trace.query.render import RenderOptions, event_text, render  # noqa: PLC0415 (see the top)

    compact = None
    whole = args.wide or args.verbose or args.include_payload
    if args.format == "text" and not whole and _is_terminal(out):
        from moose_trace.query.compact import CompactLines  # noqa: PLC0415 (a terminal only)

        compact = CompactLines(terminal_width(out), style, show_trace_id=text.show_trace_id)
    options = RenderOptions(args.format, text, plan.title, plan.span, compact)
    if args.follow:
        from moose_trace.query.following import follow_events  # noqa: PLC0415 (--follow only)

        limit = args.limit if args.limit or args.since else FOLLOW_BACKLOG
        return follow_events(query, runner, out, err, options, limit=limit)
    listed = None
    if options.compact is None and args.format != "csv":
        listed = runner.search_listing(query, lambda event: event_text(event, options))
    if listed is not None:  # a text search, written on every core: one write
        texts, result = listed
        out.write("".join(texts))
        count = len(texts)
    else:
        result = runner.run(query)
        runner.progress.clear()
        count = render(result, out, options)
    out.flush()
    _notes(runner, result, count, err)
    return 1 if runner.nothing_read() else 0


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _draws_tree(args: argparse.Namespace, query: Query) -> bool:
    """Whether the answer is the trace drawn as a tree (not a list of its events)."""
    return (
        isinstance(query.mode, ListEvents)
        and not (args.follow or args.flat)
        and args.format != "csv"
    )


def _notes(runner: QueryRunner, result: Result, count: int, err: TextIO) -> None:
    for unreadable in runner.unreadable:
        say("logs", f"skipped {unreadable.path}: {unreadable.reason}", err)
    skipped = runner.skipped(result)
    if skipped:
        what = (
            "1 line that is not a JSON log event"
            if skipped == 1
            else f"{skipped:,} lines that are not JSON log events"
        )
        print(f"moose-trace logs: skipped {what}", file=err)
    if count == 0:
        print(no_match_note(runner.where()), file=err)
    if isinstance(result, GroupsResult) and result.groups:
        for field in unseen_fields(result):
            say("logs", f"no matching event has the field {field!r}: all are in (none)", err)


def no_match_note(where: str) -> str:
    """The note on stderr when nothing matched (exit status 0): ``where`` says what was read."""
    return f"moose-trace logs: no matching events in {where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace logs`` with ``argv`` (default: the process arguments)."""
    return run_subcommand("logs", argv)


if __name__ == "__main__":
    sys.exit(main())
