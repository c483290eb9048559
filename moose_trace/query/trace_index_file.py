"""One log file's trace index on disk: written once, read with two small ``pread`` calls.

A lookup must cost next to nothing beside the interpreter's start (``--trace`` on indexed files
has a budget of half an ``rg -F``), so the file is laid out to be read in place, in O(1)
reads, with nothing parsed and no module imported but ``os``:

- 8 bytes of magic (the format and this machine's byte order), then ten unsigned 64-bit
  header words: the log file's inode, device, size, modification and change times (ns) when
  indexed, where the indexed lines end, a CRC-32 of the 4 KB before that end, the entry count,
  the fence step and the fence count;
- the fence: the key of every ``FENCE_STEP``-th entry (about 1 KB for 30,000 entries);
- the entries, sorted: (key, line offset) pairs, a key being the last 64 bits of a trace id.

A lookup reads the header and fence in one ``pread``, bisects the fence in memory, and reads
the one or two blocks of entries that can hold the key in a second.

Whether an index still describes its file is decided from ``stat`` alone when nothing changed
since it was written (same inode, device, size, modification and change times); otherwise the
bytes just before the indexed end are checked against the CRC: log files only grow, so an
index of a file that grew stays valid for the part it covered, and a file replaced (another
inode), truncated (smaller) or rewritten (other bytes) is never answered from a stale index.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

__all__ = [
    "CHECK_BYTES",
    "FENCE_STEP",
    "INDEX_DIR_NAME",
    "IndexHeader",
    "TraceIndexFile",
    "file_check",
    "index_path",
    "line_at",
    "open_index",
    "trace_keys",
    "write_index",
]

INDEX_DIR_NAME = ".moose-trace-index"
"""Where a directory's trace indexes live (hidden, beside the log files)."""

CHECK_BYTES = 4096
"""The bytes before an index's end whose CRC-32 tells that the file still starts the same."""

FENCE_STEP = 256
"""Entries per block: the fence keeps the first key of each (a block is 4 KB of entries)."""

_MAGIC = b"MTIX2" + (b"L" if sys.byteorder == "little" else b"B") + b"\n\x00"
_WORDS = 10
_HEAD = len(_MAGIC) + _WORDS * 8
_FIRST_READ = 4096
_LINE_READ = 4096
_BOM = b"\xef\xbb\xbf"


def trace_keys(hexes: Iterable[str]) -> set[int]:
    """Return the index keys of trace ids given as 32 lowercase hex digits (their last 64 bits)."""
    return {int(value[16:], 16) for value in hexes}


def index_path(log_path: str) -> str:
    """Return where the index of ``log_path`` lives (``.moose-trace-index/<name>.idx``)."""
    directory, name = os.path.split(log_path)
    return os.path.join(directory, INDEX_DIR_NAME, name + ".idx")


class IndexHeader:
    """What an index says about the file it was built from, and how it is laid out.

    ``file_size``: the file's size on disk when indexed (what a ``.gz`` is checked by);
    ``size``: where the indexed lines end (in the decompressed stream for ``.gz``);
    ``modified_ns``/``change_ns``: its times then, 0 when it changed while being indexed.
    """

    __slots__ = (
        "change_ns",
        "check",
        "count",
        "device",
        "fences",
        "file_size",
        "inode",
        "modified_ns",
        "size",
        "step",
    )

    def __init__(self, words: Iterable[int]) -> None:
        (
            self.inode,
            self.device,
            self.file_size,
            self.size,
            self.modified_ns,
            self.change_ns,
            self.check,
            self.count,
            self.step,
            self.fences,
        ) = words

    def __repr__(self) -> str:
        return (
            f"IndexHeader(inode={self.inode}, size={self.size}, file_size={self.file_size}, "
            f"count={self.count})"
        )

    def unchanged(self, status: os.stat_result) -> bool:
        """Whether the file is exactly as it was indexed, by ``stat`` alone (no read)."""
        return (
            self.modified_ns != 0
            and status.st_ino == self.inode
            and status.st_dev == self.device
            and status.st_size == self.file_size
            and status.st_mtime_ns == self.modified_ns
            and status.st_ctime_ns == self.change_ns
        )


class TraceIndexFile:
    """An open index: its header and fence in memory, its entries read on demand."""

    __slots__ = ("_fd", "_fence", "header")

    def __init__(self, fd: int, header: IndexHeader, fence: list[int]) -> None:
        self._fd = fd
        self.header = header
        self._fence = fence

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TraceIndexFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def describes(self, path: str, status: os.stat_result) -> bool:
        """Whether this index still holds for the file ``path`` (``status`` its ``stat``): the
        same file, which at most grew since (a ``.gz`` one: unchanged)."""
        header = self.header
        if status.st_ino != header.inode or status.st_dev != header.device:
            return False
        if path.endswith(".gz"):
            return status.st_size == header.file_size
        if header.unchanged(status):
            return True
        if status.st_size < header.size:
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            return file_check(fd, header.size) == header.check
        finally:
            os.close(fd)

    def entries(self) -> list[tuple[int, int]]:
        """Return every (key, offset) entry, in order (to extend the index)."""
        count = self.header.count
        data = os.pread(self._fd, count * 16, _HEAD + self.header.fences * 8)
        if len(data) != count * 16:
            raise OSError("trace index cut short")
        words = memoryview(data).cast("Q").tolist()
        return list(zip(words[0::2], words[1::2], strict=True))

    def offsets(self, keys: Collection[int]) -> list[int]:
        """Return the sorted line offsets of every entry whose key is in ``keys``."""
        found: set[int] = set()
        for key in keys:
            found.update(self._offsets(key))
        return sorted(found)

    def _offsets(self, key: int) -> list[int]:
        header = self.header
        fence = self._fence
        low, high = 0, len(fence)
        while low < high:  # the first block whose first key is >= key
            middle = (low + high) // 2
            if fence[middle] < key:
                low = middle + 1
            else:
                high = middle
        # The key's entries start in the block before (whose first key is smaller), or at
        # the start of this one; they may run on into the next blocks.
        entry = max(low - 1, 0) * header.step
        body = _HEAD + header.fences * 8
        found: list[int] = []
        while entry < header.count:
            want = min(header.count - entry, header.step)
            data = os.pread(self._fd, want * 16, body + entry * 16)
            if len(data) != want * 16:
                raise OSError(f"trace index cut short at entry {entry}")
            words = memoryview(data).cast("Q")
            first, last = 0, want
            while first < last:  # the first entry of the block whose key is >= key
                middle = (first + last) // 2
                if words[2 * middle] < key:
                    first = middle + 1
                else:
                    last = middle
            while first < want and words[2 * first] == key:
                found.append(words[2 * first + 1])
                first += 1
            if first < want:
                return found
            entry += want
        return found


def open_index(log_path: str) -> TraceIndexFile | None:
    """Open the index of ``log_path``; ``None`` when there is none or it is unreadable or of
    another format (then it is built again)."""
    try:
        fd = os.open(index_path(log_path), os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, _FIRST_READ, 0)
        if len(data) < _HEAD or data[: len(_MAGIC)] != _MAGIC:
            os.close(fd)
            return None
        header = IndexHeader(memoryview(data[len(_MAGIC) : _HEAD]).cast("Q").tolist())
        end = _HEAD + header.fences * 8
        if end > len(data):
            data += os.pread(fd, end - len(data), len(data))
        whole = end + header.count * 16
        if len(data) < end or header.step <= 0 or os.fstat(fd).st_size != whole:
            os.close(fd)
            return None
        fence = memoryview(data[_HEAD:end]).cast("Q").tolist()
    except OSError:
        os.close(fd)
        return None
    return TraceIndexFile(fd, header, fence)


def file_check(fd: int, size: int) -> int:
    """Return the CRC-32 of the ``CHECK_BYTES`` of file ``fd`` that end at ``size``."""
    import zlib  # noqa: PLC0415 (only a file that changed since it was indexed is checked)

    start = max(0, size - CHECK_BYTES)
    return zlib.crc32(os.pread(fd, size - start, start))


def line_at(fd: int, offset: int) -> bytes:
    """Return the line of file ``fd`` that starts at ``offset`` (with its newline, if any),
    without the UTF-8 BOM a file may start with."""
    data = os.pread(fd, _LINE_READ, offset)
    end = data.find(b"\n")
    while end < 0:
        more = os.pread(fd, max(len(data), _LINE_READ), offset + len(data))
        if not more:
            break
        start = len(data)
        data += more
        end = data.find(b"\n", start)
    line = data if end < 0 else data[: end + 1]
    return line[len(_BOM) :] if offset == 0 and line.startswith(_BOM) else line


def write_index(log_path: str, header: IndexHeader, sorted_entries: list[tuple[int, int]]) -> None:
    """Write the index of ``log_path`` (atomically: a partial file renamed into place).

    ``sorted_entries`` are (key, offset) pairs in order; ``header``'s count and fence fields
    are filled in here. Raises ``OSError`` where it cannot be written.
    """
    import contextlib  # noqa: PLC0415 (writing is the indexer's job, not a lookup's)
    from array import array  # noqa: PLC0415

    step = FENCE_STEP
    header.count = len(sorted_entries)
    header.step = step
    header.fences = (len(sorted_entries) + step - 1) // step
    words = array("Q", [getattr(header, name) for name in _WORD_NAMES])
    fence = array("Q", (sorted_entries[at][0] for at in range(0, len(sorted_entries), step)))
    entries = array("Q")
    for key, offset in sorted_entries:
        entries.append(key)
        entries.append(offset)
    target = index_path(log_path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = f"{target}.{os.getpid()}.partial"
    try:
        with open(partial, "wb") as out:
            out.write(_MAGIC)
            out.write(words.tobytes())
            out.write(fence.tobytes())
            out.write(entries.tobytes())
        os.replace(partial, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


_WORD_NAMES = (
    "inode",
    "device",
    "file_size",
    "size",
    "modified_ns",
    "change_ns",
    "check",
    "count",
    "step",
    "fences",
)
