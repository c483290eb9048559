"""The sink's spool: batches waiting on disk while ClickHouse is down, slow, or the buffer is full.

One file per batch, named ``<token>.jsonl`` after the batch's deduplication token (in durable
mode, the open write-ahead segment ``<token>.wal`` becomes one when sealed: see ``wal``). Tokens are
UUIDv7 (time-ordered), so the directory listed by name is the order the batches were cut in,
also across restarts, and a replay re-sends each batch with the very token of its first attempt:
ClickHouse stores it once even if that attempt had in fact landed. Files are written to a
temporary name and renamed, so a crash never leaves half a batch under a batch's name.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from moose_trace.store.clickhouse.wal import adopt_orphans

__all__ = ["Spool", "SpooledBatch"]

_SUFFIX = ".jsonl"
_PARTIAL = ".partial"
REJECTED_DIR = "rejected"


@dataclass(frozen=True)
class SpooledBatch:
    """One batch on disk: its deduplication token, its JSON Lines bytes and its file."""

    token: str
    data: bytes
    path: Path

    @property
    def count(self) -> int:
        """Return the number of events in the batch (one per line)."""
        return _lines(self.data)


def _lines(data: bytes) -> int:
    return data.count(b"\n") + 1 if data else 0


def _event_lines(data: bytes) -> bytes:
    """Return ``data`` without blank lines or a trailing newline (a write-ahead segment has one)."""
    if b"\n\n" not in data and not data.endswith(b"\n") and not data.startswith(b"\n"):
        return data
    return b"\n".join(line for line in data.split(b"\n") if line.strip())


class Spool:
    """A directory of spooled batches, oldest first. Not thread-safe: the sink serializes use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tokens: list[str] = []
        self._counts: dict[str, int] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.directory.is_dir():
            return
        adopt_orphans(self.directory)  # write-ahead segments of processes that died
        for entry in self.directory.iterdir():
            if entry.name.endswith(_PARTIAL):
                # A write that a crash interrupted: its batch was never acknowledged as spooled.
                with contextlib.suppress(OSError):
                    entry.unlink()
            elif entry.name.endswith(_SUFFIX) and entry.is_file():
                token = entry.name[: -len(_SUFFIX)]
                with contextlib.suppress(OSError):
                    self._counts[token] = _lines(_event_lines(entry.read_bytes()))
                    self._tokens.append(token)
        self._tokens.sort()

    def __len__(self) -> int:
        """Return how many batches wait in the spool."""
        self._load()
        return len(self._tokens)

    @property
    def events(self) -> int:
        """Return how many events wait in the spool (batches from earlier runs included)."""
        self._load()
        return sum(self._counts.values())

    def oldest_token(self) -> str | None:
        """Return the token of the oldest waiting batch, or ``None`` when the spool is empty."""
        self._load()
        return self._tokens[0] if self._tokens else None

    def put(self, token: str, data: bytes) -> None:
        """Write a batch durably under its token. Raises ``OSError`` (e.g. disk full)."""
        self._load()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # events: private
        final = self.directory / f"{token}{_SUFFIX}"
        partial = final.with_name(final.name + _PARTIAL)
        try:
            with open(partial, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, final)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        self._tokens.append(token)
        self._tokens.sort()
        self._counts[token] = _lines(data)

    def add(self, token: str, count: int) -> None:
        """Count a batch file put in place by other means (a sealed write-ahead segment)."""
        self._load()
        if token not in self._counts:
            self._tokens.append(token)
            self._tokens.sort()
        self._counts[token] = count

    def read_oldest(self) -> SpooledBatch | None:
        """Return the oldest waiting batch, skipping files another process already replayed.

        Blank lines are dropped; a batch with no line left has ``count`` 0 (an empty file: the
        caller removes it, there is nothing to send).
        """
        self._load()
        while self._tokens:
            token = self._tokens[0]
            path = self.directory / f"{token}{_SUFFIX}"
            try:
                return SpooledBatch(token, _event_lines(path.read_bytes()), path)
            except FileNotFoundError:
                self._forget(token)
        return None

    def _forget(self, token: str) -> None:
        with contextlib.suppress(ValueError):
            self._tokens.remove(token)
        self._counts.pop(token, None)

    def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch that is now stored in ClickHouse."""
        self._forget(batch.token)
        with contextlib.suppress(FileNotFoundError):
            batch.path.unlink()

    def keep_rejected(self, token: str, data: bytes) -> Path:
        """Write refused lines to ``rejected/<token>.jsonl`` (added to). Raises ``OSError``."""
        target = self._rejected_path(token)
        with open(target, "ab") as file:
            file.write(data + b"\n")
            file.flush()
            os.fsync(file.fileno())
        return target

    def _rejected_path(self, token: str) -> Path:
        rejected = self.directory / REJECTED_DIR
        rejected.mkdir(mode=0o700, parents=True, exist_ok=True)
        return rejected / f"{token}{_SUFFIX}"
