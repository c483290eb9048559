"""Where finished log events go: stdout, a daily JSON Lines file, and sinks.

``Emitter`` is the last processor of the logging chain: it renders each event once with orjson
and hands the line to every destination. Nothing here raises into the caller: a destination
that fails is reported once on stderr and the others carry on.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, cast, runtime_checkable

import orjson

from moose_trace._text import safe_str, terminal_safe_event

__all__ = [
    "DailyFile",
    "Emitter",
    "Sink",
    "daily_file_name",
    "render_json",
    "render_line",
    "report_once",
    "write_all",
]

_reported: set[str] = set()


def report_once(key: str, message: str) -> None:
    """Write ``message`` to stderr the first time ``key`` is reported; never raises.

    Logging's own trouble cannot go through logging, so it goes to stderr, once per kind.
    """
    if key in _reported:
        return
    _reported.add(key)
    stream = sys.stderr or sys.__stderr__
    if stream is None:  # pythonw: nowhere to report
        return
    try:
        stream.write(f"moose-trace: {message}\n")
        stream.flush()
    except Exception:
        return


@runtime_checkable
class Sink(Protocol):
    """Anything that takes finished log events: ``write(event)``, plus optional extras.

    ``write`` gets each event dict after redaction (do not modify it; keeping it is fine). A
    sink may also have ``write_json(line: bytes)``, which is then called instead with the
    event already rendered (one JSON object, no newline), ``flush()`` and ``close()``.
    ``write`` must be fast: it runs on the logging call's thread.
    """

    def write(self, event: Mapping[str, Any]) -> None:
        """Take one finished event."""


def _fallback(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return safe_str(value)


def _valid_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON text must be valid UTF-8
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _jsonable(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _valid_text(value)
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if depth > 32:
        return _valid_text(safe_str(value))
    if isinstance(value, dict):
        return {
            _valid_text(safe_str(key)): _jsonable(item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, depth + 1) for item in value]
    try:
        orjson.dumps(value, default=_fallback)  # datetimes, UUIDs, enums … as orjson writes them
    except TypeError:
        return _jsonable(_fallback(value), depth + 1)
    return value


def render_json(event: Mapping[str, Any]) -> bytes:
    """Return ``event`` as one line of JSON (no newline); never raises, never drops a field.

    orjson does the work; what it cannot encode (bytes, sets, other objects) becomes text, and
    an event it refuses as a whole (an integer beyond 64 bits, a key that is not a string) is
    encoded field by field with such values as text.
    """
    try:
        return orjson.dumps(event, default=_fallback)
    except TypeError:
        return orjson.dumps(_jsonable(event), default=_fallback)


_WITH_NEWLINE = orjson.OPT_APPEND_NEWLINE


def render_line(event: Mapping[str, Any]) -> bytes:
    """``render_json`` with the newline: the bytes every destination appends, made once."""
    try:
        return orjson.dumps(event, default=_fallback, option=_WITH_NEWLINE)
    except TypeError:
        return orjson.dumps(_jsonable(event), default=_fallback, option=_WITH_NEWLINE)


_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def daily_file_name(service: str, date: str) -> str:
    """Return the file name for a service's events of one UTC date: ``ingest-2026-01-09.jsonl``."""
    safe = _UNSAFE_FILE_CHARS.sub("_", service).strip("._")[:100] or "service"
    return f"{safe}-{date}.jsonl"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RETRY_OPEN_SECONDS = 10.0


class DailyFile:
    """Append JSON lines to ``<directory>/<service>-YYYY-MM-DD.jsonl``, one file per UTC date.

    Each line is appended with a single ``write`` on a file opened with ``O_APPEND``, so lines
    from threads and from several processes sharing the file never interleave. The date is the
    event's own (from its ``timestamp``), so a file holds exactly that day's events.
    """

    def __init__(self, directory: Path, service: str) -> None:
        self.directory = directory
        self.service = service
        self._date = ""
        self._fd = -1
        # The file of the previous date stays open until the next change: a thread that read
        # the old descriptor just before a rotation still writes to a valid file.
        self._previous_fd = -1
        self._lock = threading.Lock()
        self._failed_at = 0.0

    def __repr__(self) -> str:
        return f"DailyFile({str(self.directory)!r}, service={self.service!r})"

    def path_for(self, date: str) -> Path:
        """Return the file for one UTC date (``YYYY-MM-DD``)."""
        return self.directory / daily_file_name(self.service, date)

    def write(self, data: bytes, timestamp: object) -> None:
        """Append ``data``, one line with its newline, to the file of the event's date."""
        fd = self._fd
        if not (type(timestamp) is str and self._date and timestamp.startswith(self._date)):
            fd = self._switch(timestamp)
            if fd < 0:
                return
        try:
            write_all(fd, data)
        except OSError as error:
            report_once(f"write:{self.directory}", f"cannot write log file: {error}")

    def _switch(self, timestamp: object) -> int:
        if type(timestamp) is str and _DATE.match(timestamp) is not None:
            date = timestamp[:10]
        else:
            date = time.strftime("%Y-%m-%d", time.gmtime())
        with self._lock:
            if date == self._date and self._fd >= 0:
                return self._fd
            if self._fd < 0 and time.monotonic() - self._failed_at < _RETRY_OPEN_SECONDS:
                return -1
            path = self.path_for(date)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as error:
                self._failed_at = time.monotonic()
                report_once(f"open:{path}", f"cannot open log file {path}: {error}")
                return -1
            if self._previous_fd >= 0:
                os.close(self._previous_fd)
            self._previous_fd, self._fd, self._date = self._fd, fd, date
            return fd

    def close(self) -> None:
        """Close the files; a later ``write`` opens them again."""
        with self._lock:
            for fd in (self._fd, self._previous_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._previous_fd = -1
            self._date = ""


def write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd``: one ``write`` call, more only after a signal or on a full disk."""
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def _descriptor_writer(target: Any) -> Callable[[bytes], None] | None:
    """Return a writer making one ``os.write`` per line, when ``target`` has a blocking fd.

    The stream is flushed first (nothing to do unless something was written through it since),
    so lines and text written through the stream keep their order; the line itself skips the
    stream's buffer: that copy and the second call were a third of a line's writing cost.
    """
    try:
        fd = target.fileno()
        if not os.get_blocking(fd):
            return None
    except (AttributeError, OSError, ValueError):  # no descriptor (io.BytesIO, pytest's capsys)
        return None
    flush, os_write = target.flush, os.write

    def write_to_descriptor(data: bytes) -> None:
        flush()
        written = os_write(fd, data)
        if written < len(data):  # only after a signal or on a full disk: finish the line
            write_all(fd, data[written:])

    return write_to_descriptor


def _line_writer(target: Any) -> Callable[[bytes], None]:
    """Return a function writing one line (with its newline) to ``target``, text or binary."""
    direct = _descriptor_writer(target)
    if direct is not None:
        return direct
    buffer = getattr(target, "buffer", None)
    if buffer is not None:
        flush_text, write, flush = target.flush, buffer.write, buffer.flush

        def write_through_buffer(data: bytes) -> None:
            flush_text()  # text written before through the text layer goes first
            write(data)
            flush()

        return write_through_buffer
    write, flush = target.write, target.flush
    if isinstance(target, io.TextIOBase):

        def write_text(data: bytes) -> None:
            write(data.decode("utf-8"))
            flush()

        return write_text

    def write_bytes(data: bytes) -> None:
        write(data)
        flush()

    return write_bytes


class _StdoutWriter:
    """Write lines to whatever ``sys.stdout`` is at the time (it may be replaced, e.g. in tests)."""

    def __init__(self) -> None:
        # (the stream, its writer): replaced as a whole, so threads never see a mismatched pair
        self._current: tuple[Any, Callable[[bytes], None] | None] = (None, None)

    def __call__(self, line: bytes) -> None:
        target, write = self._current
        if write is None or target is not sys.stdout:
            target = sys.stdout
            write = _line_writer(target)
            self._current = (target, write)
        write(line)


_local = threading.local()


class Emitter:
    """The last processor of the chain: render once, write to stdout, the file and the sinks.

    Returns an empty string for structlog's (discarding) logger. On stdout the line is JSON, or
    ``console`` text for humans. A sink that logs while it is being written to does not receive
    its own events (no recursion); it still reaches stdout and the file.
    """

    def __init__(
        self,
        *,
        stdout: bool,
        stream: IO[Any] | None,
        console: Callable[[Any, str, MutableMapping[str, Any]], Any] | None,
        file: DailyFile | None,
        sinks: Sequence[Sink],
    ) -> None:
        self._console = console if stdout else None
        self._write_stream: Callable[[bytes], None] | None = None
        if stdout:
            self._write_stream = _StdoutWriter() if stream is None else _line_writer(stream)
        self._stream = stream
        self._file = file
        self.sinks = tuple(sinks)
        json_writers = [(sink, getattr(sink, "write_json", None)) for sink in sinks]
        self._json_sinks = tuple((sink, write) for sink, write in json_writers if callable(write))
        self._dict_sinks = tuple(
            (sink, sink.write) for sink, write in json_writers if not callable(write)
        )
        # Only stdout without console text, the file and ``write_json`` sinks take the line.
        self._needs_json = bool((stdout and console is None) or file or self._json_sinks)

    def line_writer(self) -> Callable[[Any, str, MutableMapping[str, Any]], Any]:
        """Return the cheapest function that does what calling the emitter does.

        With JSON to one stream and no file or sink (a container's usual setup), that is
        ``orjson.dumps`` and one write; otherwise the emitter itself.
        """
        write = self._write_stream
        if write is None or self._console is not None or self._file is not None or self.sinks:
            return self
        dumps, fallback, option = orjson.dumps, _fallback, _WITH_NEWLINE
        failures = (OSError, ValueError)

        def write_json_line(logger: Any, method_name: str, event_dict: Any) -> str:
            try:
                line = dumps(event_dict, default=fallback, option=option)
            except TypeError:
                line = render_line(event_dict)
            try:
                write(line)
            except failures as error:
                report_once("stdout", f"cannot write log line to stdout: {error}")
            return ""

        return write_json_line

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        """Write ``event_dict`` everywhere; return ``""``."""
        line = render_line(event_dict) if self._needs_json else b""
        if self._write_stream is not None:
            try:
                if self._console is None:
                    self._write_stream(line)
                else:
                    self._write_console(method_name, event_dict)
            except (OSError, ValueError) as error:
                report_once("stdout", f"cannot write log line to stdout: {error}")
        if self._file is not None:
            self._file.write(line, event_dict.get("timestamp"))
        if self.sinks and not getattr(_local, "in_sink", False):
            self._to_sinks(line, event_dict)
        return ""

    def _write_console(self, method_name: str, event_dict: MutableMapping[str, Any]) -> None:
        assert self._console is not None
        event = terminal_safe_event(event_dict)
        if "stack" in event:  # the console renderer prints an ``exception`` below the line
            event["exception"] = event.pop("stack")
        text = str(self._console(None, method_name, event))
        stream = self._stream if self._stream is not None else sys.stdout
        if isinstance(stream, io.TextIOBase) or getattr(stream, "encoding", None):
            stream.write(text + "\n")
        else:
            cast(IO[bytes], stream).write((text + "\n").encode("utf-8", "replace"))
        stream.flush()

    def _to_sinks(self, line: bytes, event_dict: MutableMapping[str, Any]) -> None:
        _local.in_sink = True
        try:
            for sink, write_json in self._json_sinks:
                try:
                    write_json(line[:-1])
                except Exception as error:
                    report_once(f"sink:{id(sink)}", f"log sink {sink!r} failed: {error!r}")
            for sink, write in self._dict_sinks:
                try:
                    write(event_dict)
                except Exception as error:
                    report_once(f"sink:{id(sink)}", f"log sink {sink!r} failed: {error!r}")
        finally:
            _local.in_sink = False
