"""The durable mode's write-ahead log: each event is on disk before ``write`` returns.

Events are appended to an open *segment*, ``<token>.wal`` in the spool directory, one
``os.write`` per event (the kernel has the bytes when it returns, so a ``kill -9`` of the
process right after cannot lose them). The sink *seals* a segment when a batch is due: the file
is renamed ``<token>.jsonl`` and becomes an ordinary spooled batch, sent with ``<token>`` as its
deduplication token. A segment left open by a process that died is sealed by the next sink on
the spool (``adopt_orphans``); an ``flock`` on the open segment tells a live owner from a dead
one.

Fsync policies (what a crash of the *machine* — power loss, kernel panic — can lose; a crash of
the process loses nothing in any of them):

- ``"always"``: ``fsync`` after every event. Nothing acknowledged is lost. The slowest.
- ``"batch"`` (default): ``fsync`` when a segment is sealed and at every ``flush_interval``:
  at most the last interval's events.
- ``"never"``: the operating system writes when it likes (Linux: within ~30 s by default).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Literal

from moose_trace.tracing.ids import new_trace_id

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, a segment is adopted when found
    fcntl = None  # type: ignore[assignment]

__all__ = ["FSYNC_POLICIES", "FsyncPolicy", "WriteAheadLog", "adopt_orphans"]

FsyncPolicy = Literal["always", "batch", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "batch", "never")
"""The accepted values of ``ClickHouseSink(durable=True, fsync=…)``."""

SEGMENT_SUFFIX = ".wal"
BATCH_SUFFIX = ".jsonl"


class WriteAheadLog:
    """The open segment of one sink. Thread-safe: ``append`` may be called from any thread."""

    def __init__(self, directory: Path, fsync: FsyncPolicy) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        self.directory = directory
        self.fsync = fsync
        self.count = 0
        """Events in the open segment."""
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._token = ""
        self._unsynced = False

    def append(self, line: bytes) -> None:
        """Write one event line to the open segment (opening one if needed); raises ``OSError``."""
        with self._lock:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            os.write(self._fd, line + b"\n")
            self.count += 1
            if self.fsync == "always":
                os.fsync(self._fd)
            else:
                self._unsynced = True

    def sync(self) -> None:
        """``fsync`` the open segment if it has unsynced events (the ``"batch"`` policy's tick).

        Called by the thread that seals, so the segment stays open meanwhile; the fsync runs
        outside the lock, so ``append`` never waits for the disk.
        """
        with self._lock:
            if self._fd is None or not self._unsynced or self.fsync != "batch":
                return
            fd, self._unsynced = self._fd, False
        os.fsync(fd)

    def seal(self) -> tuple[str, int] | None:
        """Close the open segment as a spooled batch; return its token and event count.

        ``None`` when no segment is open. Raises ``OSError`` if the rename fails (the segment
        then stays, and the next sink on the spool adopts it).
        """
        with self._lock:
            if self._fd is None:
                return None
            # The next append opens a new segment; this one is synced and renamed without the
            # lock, so writers never wait for the disk.
            fd, token, count = self._fd, self._token, self.count
            self._fd, self._token, self.count = None, "", 0
            self._unsynced = False
        try:
            if self.fsync != "never":
                os.fsync(fd)
            segment = self.directory / f"{token}{SEGMENT_SUFFIX}"
            os.replace(segment, self.directory / f"{token}{BATCH_SUFFIX}")
        finally:
            os.close(fd)  # releases the flock
        return token, count

    def _open(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # events: private
        while True:
            token = new_trace_id()
            path = self.directory / f"{token}{SEGMENT_SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            if path.exists():  # not adopted by another sink between the open and the lock
                break
            os.close(fd)
        self._fd, self._token, self.count = fd, token, 0


def adopt_orphans(directory: Path) -> list[str]:
    """Seal the segments of processes that died (no one holds their lock); return their tokens."""
    adopted: list[str] = []
    if not directory.is_dir():
        return adopted
    for entry in sorted(directory.glob(f"*{SEGMENT_SUFFIX}")):
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live sink is writing it
            token = entry.name[: -len(SEGMENT_SUFFIX)]
            with contextlib.suppress(OSError):
                os.replace(entry, directory / f"{token}{BATCH_SUFFIX}")
                adopted.append(token)
        finally:
            os.close(fd)
    return adopted
