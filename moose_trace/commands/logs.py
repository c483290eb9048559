"""``moose-trace logs``: the user stories' query tool over JSON Lines logs.

The arguments are parsed once into a query AST (``moose_trace.query.language``) and answered
by an engine: the trace index and the Python engine for ``--trace``, DuckDB over the files for
everything else, and the Python predicate on new lines for ``--follow``. Bad input is reported
naming the bad token, with exit status 2 and no traceback; no matching events is exit 0 with a
note on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from moose_trace._record import record
from moose_trace.commands.main import run_subcommand, say
from moose_trace.query.ast import (
    AllOf,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Match,
    Mode,
    Query,
    Search,
    TraceIs,
    Value,
)
from moose_trace.query.compact import CompactLines
from moose_trace.query.durations import parse_duration
from moose_trace.query.engines import STORE_SCHEMES, open_store, store_url, trace_of
from moose_trace.query.exceptions import EngineError, QueryError
from moose_trace.query.follow_files import Tail, file_ends, follow_lines
from moose_trace.query.language import (
    KafkaRecord,
    parse_compare,
    parse_fields,
    parse_filter,
    parse_levels,
    parse_time_range,
    parse_trace,
    parse_trace_kafka,
)
from moose_trace.query.normalize import datetime_us, trace_hex, value_text
from moose_trace.query.predicate import compile_predicate
from moose_trace.query.progress import ProgressBar
from moose_trace.query.python_engine import PythonEngine, read_line
from moose_trace.query.render import Format, RenderOptions, render, write_event
from moose_trace.query.results import Engine, EventsResult, GroupsResult, Result, unseen_fields
from moose_trace.query.screen import paged, pager_command, terminal_width
from moose_trace.query.search import (
    search_lines,
    search_needle,
    searches_of,
    without_searches,
)
from moose_trace.query.sources import (
    LogSources,
    UnreadableFile,
    incomplete_tail,
    resolve_sources,
)
from moose_trace.query.text import Style, TextOptions
from moose_trace.query.trace_index import INLINE_INDEX_BYTES, candidate_lines
from moose_trace.query.tree_text import TreeOptions, render_trees

if TYPE_CHECKING:
    from moose_trace.query.follow_store import Boundary

__all__ = ["FOLLOW_BACKLOG", "MAX_LIMIT", "main", "register", "run"]

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
        "(default: $MOOSE_TRACE_LOG_DIR, else ~/.moose-trace/logs); or one ClickHouse URL: "
        "clickhouse://user@host:8123/db, clickhouses://…, chdb:///path",
    )
    parser.add_argument(
        "--source",
        dest="store",
        default=None,
        metavar="URL",
        help="query a ClickHouse logs table instead of files (same as giving the URL as SOURCE)",
    )
    parser.add_argument(
        "--table",
        default=None,
        metavar="NAME",
        help="the logs table when the source is ClickHouse (default: moose_logs)",
    )
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
    show.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``logs`` subcommand to the ``moose-trace`` parser."""
    parser = subparsers.add_parser(
        "logs",
        help="query the logs: filter, trace, group, histogram, compare, follow, export",
        description=__doc__.splitlines()[0].replace("``", "") if __doc__ else None,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


@record
class _Plan:
    query: Query
    kafka: KafkaRecord | None
    title: str
    span: tuple[int | None, int | None]


def _plan(args: argparse.Namespace, now: datetime) -> _Plan:
    conditions: list[Condition] = [parse_filter(text) for text in args.filter]
    if args.level is not None:
        conditions.append(parse_levels(args.level))
    time_range = parse_time_range(args.since, args.until, now)
    if time_range is not None:
        conditions.append(time_range)
    if args.trace is not None:
        conditions.append(parse_trace(args.trace))
    for text in args.search:
        if not text:
            raise QueryError("--search needs some text")
        conditions.append(Search(search_needle(text)))
    kafka = parse_trace_kafka(args.trace_kafka) if args.trace_kafka is not None else None
    mode: Mode = ListEvents(args.limit)
    compare_items = list(args.compare or [])
    if args.group_by is not None:
        mode = GroupBy(parse_fields(args.group_by))
    elif args.histogram is not None:
        mode = Histogram(parse_duration(args.histogram))
    elif compare_items:
        windows = [item for item in compare_items if "=" in item]
        args.sources = [*args.sources, *(item for item in compare_items if "=" not in item)]
        mode = parse_compare(windows, now)
    elif args.errors:
        mode = ErrorGroups()
    if args.follow and not isinstance(mode, ListEvents):
        raise QueryError("--follow shows events as they come: it cannot group, bucket or compare")
    if args.follow and args.format == "csv":
        raise QueryError("--follow cannot write csv (its header needs every event first): use json")
    span: tuple[int | None, int | None] = (None, None)
    if time_range is not None:
        span = (
            None if time_range.start is None else datetime_us(time_range.start),
            None if time_range.end is None else datetime_us(time_range.end),
        )
    where = conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))
    return _Plan(Query(where, mode), kafka, _describe(args), span)


def _describe(args: argparse.Namespace) -> str:
    parts = list(args.filter)
    if args.level:
        parts.append(f"level={args.level}")
    if args.since:
        parts.append(f"since {args.since}")
    if args.until:
        parts.append(f"until {args.until}")
    if args.trace:
        parts.append(f"trace {args.trace}")
    if args.trace_kafka:
        parts.append(f"kafka {args.trace_kafka}")
    parts += [f"search {text!r}" for text in args.search]
    return ", ".join(parts) or "all events"


_PATH_HINTS = frozenset("/*?[\\.~")


def _split_words(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split positional arguments into sources and bare search words.

    A word is a positional argument that names nothing on disk and does not look like a path,
    a glob or a URL (``moose-trace logs timeout`` searches for "timeout").
    """
    kept: list[str] = []
    words: list[str] = []
    for item in sources:
        looks_like_path = bool(_PATH_HINTS & set(item)) or item.lower().startswith(STORE_SCHEMES)
        if looks_like_path or not item or os.path.exists(item):
            kept.append(item)
        else:
            words.append(item)
    return kept, words


class _Runner:
    """Picks the engine for a query and keeps what the notes on stderr need."""

    def __init__(
        self, sources: LogSources, progress: ProgressBar, store: Engine | None = None
    ) -> None:
        self.sources = sources
        self.progress = progress
        self.store = store
        self.full_scan = False
        self.unreadable: list[UnreadableFile] = []

    def where(self) -> str:
        """Say what was searched, for the 'no matching events' note."""
        if self.store is not None:
            return "the ClickHouse logs table"
        files = len(self.sources.files)
        return f"{files} log file{'' if files == 1 else 's'}"

    def engine(self, query: Query) -> Engine:
        if self.store is not None:
            return self.store
        files = self.sources.files
        trace = trace_of(query.where)
        if trace is not None:
            return PythonEngine(
                lambda: candidate_lines(
                    files,
                    trace.trace_ids,
                    defer_bytes=INLINE_INDEX_BYTES,
                    on_unreadable=self._skip,
                )
            )
        if not files:
            return PythonEngine(lambda: ())
        from moose_trace.query.duckdb_engine import DuckDBEngine  # noqa: PLC0415 (optional dependency)

        self.full_scan = True
        return DuckDBEngine(
            files,
            on_progress=self.progress if self.progress.enabled else None,
            on_unreadable=self._skip,
        )

    def _skip(self, unreadable: UnreadableFile) -> None:
        if unreadable not in self.unreadable:
            self.unreadable.append(unreadable)

    def nothing_read(self) -> bool:
        """Return whether every file was unreadable (then the answer means nothing)."""
        files = {unreadable.path for unreadable in self.unreadable}
        return bool(files) and files >= set(self.sources.files)

    def run(self, query: Query) -> Result:
        needles = [found.needle for found in searches_of(query.where)]
        if needles and self.store is None and trace_of(query.where) is None:
            # The byte scan keeps exactly the lines holding every needle: the rest of the
            # query is the Python engine's.
            files = self.sources.files
            rest = Query(without_searches(query.where), query.mode)
            return PythonEngine(lambda: search_lines(files, needles)).run(rest)
        return self.engine(query).run(query)

    def kafka_traces(self, record: KafkaRecord) -> TraceIs | None:
        """Return the traces of the events logged for a Kafka record (None: none found)."""
        coordinates = AllOf(
            (
                Match("kafka_topic", (Value(record.topic),)),
                Match("kafka_partition", (Value(str(record.partition), "number"),)),
                Match("kafka_offset", (Value(str(record.offset), "number"),)),
            )
        )
        result = self.run(Query(coordinates, ListEvents()))
        assert isinstance(result, EventsResult)
        ids = {
            trace_hex(text)
            for event in result.events
            if (text := value_text(event.get("trace_id"))) is not None
        }
        valid = tuple(sorted(value for value in ids if len(value) == 32))
        return TraceIs(valid) if valid else None

    def skipped(self, result: Result) -> int:
        count = result.skipped() if isinstance(result, EventsResult) else result.skipped
        if self.full_scan:
            unreadable = {unreadable.path for unreadable in self.unreadable}
            count -= sum(
                incomplete_tail(path) for path in self.sources.files if path not in unreadable
            )
        return max(0, count)


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


def _style(choice: str, out: TextIO, format_: Format) -> Style:
    if format_ != "text" or choice == "never":
        return Style(False)
    if choice == "always":
        return Style(True)
    plain = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    return Style(out.isatty() and not plain)


def run(args: argparse.Namespace) -> int:
    """Run ``moose-trace logs`` with parsed ``args``; return the exit status."""
    err = sys.stderr
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    now = datetime.now(timezone.utc)
    try:
        args.sources, words = _split_words(args.sources)
        args.search = [*args.search, *words]
        plan = _plan(args, now)
        url = store_url([*args.sources, *([args.store] if args.store else [])])
        if args.store and url is None:
            raise QueryError(f"--source takes a ClickHouse URL, got {args.store!r}")
        if args.output is not None and not args.output.strip():
            raise QueryError("--output needs a file name")
        if url is None and args.table is not None:
            raise QueryError("--table names a ClickHouse table: give a ClickHouse URL as source")
        sources = LogSources([]) if url is not None else resolve_sources(args.sources)
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
    runner = _Runner(sources, progress, store)
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
    args: argparse.Namespace, plan: _Plan, runner: _Runner, out: TextIO, err: TextIO
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
    style = _style(args.color, out, args.format)
    text = TextOptions(
        include_metrics=args.include_metrics,
        include_payload=args.include_payload,
        verbose=args.verbose,
        show_trace_id=trace_of(query.where) is None,
        style=style,
    )
    compact = None
    whole = args.wide or args.verbose or args.include_payload
    if args.format == "text" and not whole and _is_terminal(out):
        compact = CompactLines(terminal_width(out), style, show_trace_id=text.show_trace_id)
    options = RenderOptions(args.format, text, plan.title, plan.span, compact)
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
    if args.follow:
        limit = args.limit if args.limit or args.since else FOLLOW_BACKLOG
        return _follow(query, runner, out, err, options, limit=limit)
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


def _notes(runner: _Runner, result: Result, count: int, err: TextIO) -> None:
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
        print(f"moose-trace logs: no matching events in {runner.where()}", file=err)
    if isinstance(result, GroupsResult) and result.groups:
        for field in unseen_fields(result):
            say("logs", f"no matching event has the field {field!r}: all are in (none)", err)


def _follow(
    query: Query,
    runner: _Runner,
    out: TextIO,
    err: TextIO,
    options: RenderOptions,
    *,
    limit: int | None,
) -> int:
    """Show the latest matching events, then new ones as they are written, until Ctrl-C.

    What was shown keeps an event from showing twice: a table is polled past a timestamp
    ``Boundary``; a file line written between ``file_ends`` and the backlog query is both in
    the backlog and read when following, so the backlog's ``event_key``s are remembered.
    """
    from moose_trace.query.follow_store import Boundary, event_key  # noqa: PLC0415 (--follow only)

    try:
        tails = file_ends(runner.sources.discover())
        result = runner.run(Query(query.where, ListEvents(limit)))
        runner.progress.clear()
        assert isinstance(result, EventsResult)
        boundary = Boundary()
        backlog: set[bytes] = set()
        for event in result.events:
            if runner.store is not None:
                boundary.admit(event)
            else:
                backlog.add(event_key(event))
            write_event(event, out, options)
        out.flush()
        print("moose-trace logs: following (Ctrl-C to stop)", file=err)
        if runner.store is not None:
            _poll_store(query, runner.store, boundary, out, options)
        else:
            _follow_files(query, runner.sources, tails, backlog, out=out, options=options)
    except KeyboardInterrupt:
        runner.progress.clear()
    return 0


def _follow_files(
    query: Query,
    sources: LogSources,
    tails: dict[Path, Tail],
    backlog: set[bytes],
    *,
    out: TextIO,
    options: RenderOptions,
) -> None:
    """Show the matching lines appended to the files after ``tails``, but not the backlog's."""
    from moose_trace.query.follow_store import event_key  # noqa: PLC0415 (--follow only)

    matches = compile_predicate(query.where)

    def on_lines(_path: Path, lines: list[bytes]) -> None:
        for line in lines:
            read = read_line(line)
            if read is None or read.event is None or not matches(read.event):
                continue
            if backlog and event_key(read.event) in backlog:
                continue
            write_event(read.event, out, options)
        out.flush()

    follow_lines(sources, tails, on_lines, threading.Event())


def _poll_store(
    query: Query, store: Engine, boundary: Boundary, out: TextIO, options: RenderOptions
) -> None:
    """Show the events stored past ``boundary``, polling the table."""
    from moose_trace.query.follow_store import poll_events  # noqa: PLC0415 (--follow only)

    def emit(events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            write_event(event, out, options)
        out.flush()

    poll_events(store, query.where, emit, threading.Event(), boundary=boundary)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace logs`` with ``argv`` (default: the process arguments)."""
    return run_subcommand("logs", argv)


if __name__ == "__main__":
    sys.exit(main())
