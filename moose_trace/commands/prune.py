"""``moose-trace prune``: apply the per-level retention to the JSON Lines file store.

The same ``RetentionPolicy`` as the ClickHouse table's TTL: a file whose newest possible line is
older than the longest retention is deleted whole, unread; a file that may hold expired lines of
shorter-lived levels (debug after a day, info after a week) is rewritten without them — to a
temporary file in the same directory, renamed over the original only if nobody wrote to the
file meanwhile. Files still being written (today's file, or modified in the last few minutes)
are left alone. Timestamps are read by the rules of ``moose-trace logs``
(``query.normalize.timestamp_us``: nanosecond fractions and ``±HH:MM`` zones included); lines
that cannot be parsed, or carry no such timestamp, are kept: prune never deletes what it cannot
judge.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from moose_trace._text import say
from moose_trace.commands.arguments import DEFAULT_LOG_DIR_HELP, Subparsers
from moose_trace.logging.paths import default_log_dir
from moose_trace.query.codec import loads_bulk
from moose_trace.query.normalize import timestamp_us, us_datetime
from moose_trace.store.retention import DEFAULT_RETENTION, RetentionPolicy, parse_retention, utc_now

__all__ = ["PruneReport", "prune_log_dir", "register"]

QUIET_SECONDS = 300
"""A file modified more recently than this may still be written to: it is not rewritten."""

_DATED = re.compile(r"(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")
_LOG_FILE = re.compile(r"\.jsonl(\.gz)?$")


@dataclass
class PruneReport:
    """What ``prune_log_dir`` did (or, in a dry run, would do)."""

    deleted: list[Path] = field(default_factory=list)
    """Files removed whole: everything in them was past the longest retention."""
    rewritten: list[Path] = field(default_factory=list)
    """Files rewritten without their expired lines."""
    skipped: list[Path] = field(default_factory=list)
    """Files that may hold expired lines but are still being written."""
    lines_dropped: int = 0
    """Expired lines removed from rewritten files."""

    def summary(self) -> str:
        """Return one line for a person: counts of deleted, rewritten and skipped files."""
        text = (
            f"deleted {_files(len(self.deleted))}, rewrote {_files(len(self.rewritten))} "
            f"({self.lines_dropped} expired line{'' if self.lines_dropped == 1 else 's'} dropped)"
        )
        if self.skipped:
            text += f", left {_files(len(self.skipped))} still being written"
        return text


def prune_log_dir(
    directory: Path | None = None,
    *,
    retention: RetentionPolicy = DEFAULT_RETENTION,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Apply ``retention`` to the ``*.jsonl`` / ``*.jsonl.gz`` files in ``directory``.

    ``directory`` defaults to the log directory the SDK writes (``default_log_dir()``);
    sub-directories are not touched. Returns what was done; with ``dry_run`` nothing changes.
    """
    folder = default_log_dir() if directory is None else directory
    moment = utc_now() if now is None else now
    report = PruneReport()
    if not folder.is_dir():
        return report
    for path in sorted(folder.iterdir()):
        if path.is_file() and _LOG_FILE.search(path.name):
            _prune_file(path, retention, moment, dry_run, report)
    return report


def _prune_file(
    path: Path, retention: RetentionPolicy, now: datetime, dry_run: bool, report: PruneReport
) -> None:
    try:
        before = path.stat()
    except FileNotFoundError:
        return
    modified = datetime.fromtimestamp(before.st_mtime, timezone.utc)
    day = _file_day(path)
    # The newest line a file can hold: the end of its day, or its last modification.
    newest = min(modified, _day_start(day) + timedelta(days=1)) if day else modified
    oldest = _day_start(day) if day else None
    if newest + timedelta(days=retention.longest_days) < now:
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        report.deleted.append(path)
        return
    if oldest is not None and oldest + timedelta(days=retention.shortest_days) >= now:
        return  # every line in it is younger than the shortest retention
    still_written = now - modified < timedelta(seconds=QUIET_SECONDS) or (
        day is not None and day >= now.date()
    )
    kept, dropped = _split(path, retention, now)
    if not dropped:
        return
    if still_written:
        report.skipped.append(path)
        return
    if not dry_run and not _replace(path, kept, before):
        report.skipped.append(path)
        return
    report.rewritten.append(path)
    report.lines_dropped += dropped


def _file_day(path: Path) -> date | None:
    match = _DATED.search(path.name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)


def _lines(path: Path) -> Iterator[bytes]:
    with _open(path, "rb") as file:
        yield from file


def _split(path: Path, retention: RetentionPolicy, now: datetime) -> tuple[list[bytes], int]:
    kept: list[bytes] = []
    dropped = 0
    try:
        for line in _lines(path):
            if _expired(line, retention, now):
                dropped += 1
            else:
                kept.append(line)
    except (OSError, EOFError):
        return kept, 0  # unreadable or truncated (a gz still being written): leave it as is
    return kept, dropped


def _expired(line: bytes, retention: RetentionPolicy, now: datetime) -> bool:
    try:
        event = loads_bulk(line)  # the query tool's rules: a repeated key's first value counts
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    stamp = event.get("timestamp")
    micros = timestamp_us(stamp) if isinstance(stamp, str) else None
    if micros is None:
        return False
    return retention.is_expired(event.get("level"), us_datetime(micros), now)


def _replace(path: Path, kept: list[bytes], before: os.stat_result) -> bool:
    temporary = path.with_name(f".prune-tmp-{path.name}")  # keeps the .gz suffix
    try:
        with _open(temporary, "wb") as file:
            file.writelines(kept)
        os.chmod(temporary, before.st_mode & 0o7777)
        now = path.stat()
        if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            temporary.unlink()
            return False  # someone appended meanwhile: their lines must not be lost
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def register(subparsers: Subparsers) -> None:
    """Add the ``prune`` subcommand to the ``moose-trace`` parser."""
    parser = subparsers.add_parser(
        "prune",
        help="delete log lines past their level's retention from the log directory",
        description=(
            "Apply the per-level retention (by default: error and critical 30 days, warning 14, "
            "info 7, debug 1) to the JSON Lines files in the log directory — the same policy "
            "as the ClickHouse table's TTL."
        ),
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"log directory (default: {DEFAULT_LOG_DIR_HELP})",
    )
    parser.add_argument(
        "--retention",
        default=None,
        metavar="LEVEL=DAYSd,…",
        help="override the retention, e.g. error=90d,info=3d (* = levels not named)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        retention = DEFAULT_RETENTION if args.retention is None else parse_retention(args.retention)
    except ValueError as bad:
        say("prune", bad)
        return 2
    report = prune_log_dir(args.dir, retention=retention, dry_run=args.dry_run)
    prefix = "would have " if args.dry_run else ""
    say("prune", f"{prefix}{report.summary()} (retention {retention.describe()})", sys.stdout)
    return 0


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"
