"""``moose-trace logs --trace ID`` answered straight from the trace indexes, without argparse.

The first question of an incident is "what happened to this request", asked with an id, and
a trace is a handful of lines: answered from an index it is mostly the interpreter starting.
Loading ``argparse``, ``pathlib``, ``typing``, ``datetime``, the query planner and the engines
would cost several times the lookup (the budget is half of what ``rg -F`` takes). So the
console script (``commands.main``) hands ``logs …`` command lines here first; this module
knows the common shapes and answers them with nothing but the trace index, the line reader and
the tree renderer — the very functions the full command runs, so the output is the same.

It answers only what it is sure of: ``[SOURCE…] --trace ID`` with ``--format text|json``,
``--color``, ``--verbose``, ``--no-pager`` and ``--no-progress``, sources that are existing
files or directories (or none: the default log directory), a valid id, and at least one event
found (or none: the full command's note) with no odd line among the candidates and every
file read. When every file's index
holds (the file unchanged, or grown by at most ``TAIL_BYTES``, searched here) only ``os`` and
the renderer are loaded; otherwise the full command's own index reader and byte search run
(``trace_index.candidate_lines``: a first lookup is mostly that search, and the background
indexer starts as it would). Anything else (another option, a glob, a typo, an error to
explain, a pager to start) returns ``None``, and the full command answers it from the start:
nothing has been written by then.
"""

from __future__ import annotations

import os
import sys

from moose_trace.query.trace_index_file import line_at, open_index, trace_keys

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

__all__ = ["TAIL_BYTES", "quick_trace"]

TAIL_BYTES = 1 << 20
"""An indexed file that grew by at most this much since is answered here, its new end searched
for the id; a longer tail goes to the full command (which indexes it)."""

_LOG_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_FLAGS = frozenset({"--verbose", "--no-pager", "--no-progress"})
_CHOICES = {"--format": ("text", "json"), "--color": ("auto", "always", "never")}
_HEX = frozenset("0123456789abcdefABCDEF")
_BOM = b"\xef\xbb\xbf"


class _Request:
    __slots__ = ("color", "format", "no_pager", "sources", "trace", "verbose")

    def __init__(self) -> None:
        self.trace = ""
        self.sources: list[str] = []
        self.format = "text"
        self.color = "auto"
        self.verbose = False
        self.no_pager = False


def _parse(arguments: Sequence[str]) -> _Request | None:
    """Read the shapes this module answers; ``None`` for anything else (argparse decides)."""
    request = _Request()
    trace: str | None = None
    runs = 0  # runs of positional words: argparse takes one run as the sources
    previous_positional = False
    position = 0
    while position < len(arguments):
        word = arguments[position]
        position += 1
        if not word.startswith("-"):
            if not previous_positional:
                runs += 1
            previous_positional = True
            request.sources.append(word)
            continue
        previous_positional = False
        if word in _FLAGS:
            if word == "--verbose":
                request.verbose = True
            elif word == "--no-pager":
                request.no_pager = True
            continue
        name, equals, value = word.partition("=")
        if name != "--trace" and name not in _CHOICES:
            return None
        if not equals:
            if position >= len(arguments) or arguments[position].startswith("-"):
                return None
            value = arguments[position]
            position += 1
        if name == "--trace":
            if trace is not None:
                return None
            trace = value
        elif value in _CHOICES[name]:
            setattr(request, name[2:], value)
        else:
            return None
    if trace is None or runs > 1:
        return None
    request.trace = trace
    return request


def _trace_hex(text: str) -> str | None:
    """The id as 32 lowercase hex digits when it is one ``--trace`` takes (``parse_trace``):
    a UUID in any case or 32 hex digits, not all zeros; ``None`` otherwise."""
    text = text.strip()
    if len(text) == 36 and all(text[at] == "-" for at in (8, 13, 18, 23)):
        text = text.replace("-", "")
    if len(text) != 32 or not _HEX.issuperset(text) or text.strip("0") == "":
        return None
    return text.lower()


def _default_directory() -> str:
    """``logging.paths.default_log_dir`` as text (``pathlib`` is not loaded here)."""
    override = os.environ.get("MOOSE_TRACE_LOG_DIR")
    if override:
        return os.path.expanduser(override)
    return os.path.join(os.path.expanduser("~"), ".moose-trace", "logs")


def _log_files(sources: Sequence[str]) -> list[str] | None:
    """The files ``sources`` name, as ``query.sources.resolve_sources`` finds them (symbolic
    links resolved, each once); ``None`` when it would say more (a glob, a missing source, a
    bare word to search for, a directory it cannot list)."""
    if not sources:
        directory = _default_directory()
        return _directory_files(directory) if os.path.isdir(directory) else None
    files: list[str] = []
    for source in sources:
        path = os.path.expanduser(source)
        if os.path.isdir(path):
            found = _directory_files(path)
            if found is None:
                return None
            files += found
        elif os.path.isfile(path):
            files.append(os.path.realpath(path))
        else:
            return None
    return list(dict.fromkeys(files))


def _directory_files(directory: str) -> list[str] | None:
    """A directory's log files (its ``*.jsonl``, ``*.ndjson``, plain or .gz), by name, their
    links resolved: the directory's real path once, and each entry that is a link."""
    real = os.path.realpath(directory)
    try:
        with os.scandir(directory) as entries:
            found = [
                entry for entry in entries if entry.name.endswith(_LOG_SUFFIXES) and entry.is_file()
            ]
    except OSError:
        return None
    found.sort(key=lambda entry: entry.name)
    return [
        os.path.realpath(entry.path) if entry.is_symlink() else f"{real}/{entry.name}"
        for entry in found
    ]


def _candidate_lines(files: Sequence[str], hexes: list[str]) -> list[bytes] | None:
    """The lines the indexes point at, and those of each file's short unindexed tail holding
    the id; ``None`` when a file has no usable index (the full command builds one)."""
    keys = trace_keys(hexes)
    lines: list[bytes] = []
    for path in files:
        status = os.stat(path)
        index = open_index(path)
        if index is None:
            return None
        with index:
            if not index.describes(path, status):
                return None
            offsets = index.offsets(keys)
            end = index.header.size
        compressed = path.endswith(".gz")
        if compressed and offsets:
            return None  # read through gzip by the full command
        if compressed or (not offsets and status.st_size == end):
            continue
        if status.st_size - end > TAIL_BYTES:
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            lines += [line_at(fd, offset) for offset in offsets]
            if status.st_size > end:
                lines += _tail_lines(fd, end, status.st_size, hexes)
        finally:
            os.close(fd)
    return lines


def _searched_lines(files: Sequence[str], trace: str, deferred: list[Path]) -> list[bytes] | None:
    """The candidate lines as the full command reads them where an index does not cover a file
    (``trace_index.candidate_lines``, its very call: files searched on every core, small ones
    indexed now, large ones later: added to ``deferred``); ``None`` if a file could not be read
    (the full command names it)."""
    from pathlib import Path  # noqa: PLC0415 (a first lookup: its search costs far more)

    from moose_trace.query.trace_index import INLINE_INDEX_BYTES, candidate_lines  # noqa: PLC0415

    unreadable: list[object] = []
    lines = list(
        candidate_lines(
            [Path(path) for path in files],
            [trace],
            defer_bytes=INLINE_INDEX_BYTES,
            on_unreadable=unreadable.append,
            parallel=True,
            deferred=deferred,
        )
    )
    return None if unreadable else lines


def _tail_lines(fd: int, start: int, end: int, hexes: list[str]) -> list[bytes]:
    """The lines of ``[start, end)`` holding an id's last 12 hex digits in any case: what the
    full command's byte search passes for a file's unindexed tail."""
    data = os.pread(fd, end - start, start)
    if start == 0 and data.startswith(_BOM):  # dropped at the file's start only, as everywhere
        data = data[len(_BOM) :]
        start = len(_BOM)
    lowered = data.lower()
    starts: set[int] = set()
    for needle in {value[20:].encode() for value in hexes}:
        found = lowered.find(needle)
        while found >= 0:
            starts.add(lowered.rfind(b"\n", 0, found) + 1)
            found = lowered.find(needle, found + 1)
    lines = []
    for at in sorted(starts):
        stop = data.find(b"\n", at)
        lines.append(data[at:] if stop < 0 else data[at : stop + 1])
    return lines


def quick_trace(arguments: Sequence[str]) -> int | None:
    """Answer ``moose-trace logs <arguments>`` when it is a trace lookup this module answers
    (see the module doc); return its exit status, or ``None`` for the full command to run."""
    request = _parse(arguments)
    if request is None:
        return None
    trace = _trace_hex(request.trace)
    if trace is None:
        return None
    stdout = sys.stdout
    try:
        terminal = stdout.isatty()
    except (AttributeError, ValueError):
        return None
    if terminal and request.format == "text" and not request.no_pager:
        return None  # whether and how to page is the full command's
    try:
        files = _log_files(request.sources)
        if files is None:
            return None
        lines = _candidate_lines(files, [trace])
    except OSError:
        return None
    deferred: list[Path] = []
    if lines is None:
        lines = _searched_lines(files, trace, deferred)
    if lines is None:
        return None
    from moose_trace.query.line_event import listed_events, scan_lines  # noqa: PLC0415
    from moose_trace.query.trace_match import trace_matcher  # noqa: PLC0415

    matches = trace_matcher([trace])
    scan = scan_lines(lines, lambda event, _text: matches(event))
    if scan.skipped:
        return None  # the full command counts and explains the odd lines
    code = _draw(request, trace, listed_events(scan.matched))
    if code is None:  # nothing drawn: the full command's note (not its search again)
        from moose_trace.commands.logs import no_match_note  # noqa: PLC0415 (a miss only)
        from moose_trace.query.sources import files_text  # noqa: PLC0415

        print(no_match_note(files_text(len(files))), file=sys.stderr)
        code = 0
    if deferred:  # started once the answer is out: it takes nothing from it
        from moose_trace.query.trace_index import index_in_background  # noqa: PLC0415

        index_in_background(deferred)
    return code


def _draw(request: _Request, trace: str, events: list[dict[str, Any]]) -> int | None:
    """Write the tree as ``commands.logs`` does (same stream set-up, same renderer)."""
    from moose_trace.query.screen import output_style, terminal_width  # noqa: PLC0415
    from moose_trace.query.tree_text import TreeOptions, render_trees  # noqa: PLC0415

    out = sys.stdout
    try:  # noqa: SIM105 (no contextlib on this path: see the module doc)
        out.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    style = output_style(request.color, out, request.format)
    options = TreeOptions(terminal_width(out), style, request.verbose)
    try:
        if not render_trees((trace,), events, out, request.format, options):
            return None  # nothing drawn (so nothing written): the full command says why
        out.flush()
    except BrokenPipeError:
        try:  # noqa: SIM105 (as above)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout was closed by the reader)
        except OSError:
            pass
    return 0
