"""``configure_logging``: structlog and stdlib logging as JSON Lines with trace ids, in one call.

After it, ``structlog.get_logger(__name__).info("processing", records=5)`` inside a
``trace_context`` writes one JSON object per line with ``timestamp``, ``level``, ``event``,
``service``, ``trace_id``, ``span_id``, the context's fields and the call's own, to stdout and to
a daily file in the log directory; records from the stdlib ``logging`` module (third-party
libraries) come out the same way. Calling it again replaces the previous setup.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import structlog
from structlog.typing import Processor

from moose_trace._text import safe_str
from moose_trace.logging._bound_logger import (
    ActiveSetup,
    DirectLogger,
    DiscardingLogger,
    MooseBoundLogger,
    activate,
    deactivate,
)
from moose_trace.logging._fast_line import compile_line, shared_processors
from moose_trace.logging._outputs import DailyFile, Emitter, Sink, daily_file_name, report_once
from moose_trace.logging.levels import LevelMap
from moose_trace.logging.paths import default_log_dir
from moose_trace.logging.processors import (
    add_log_level,
    add_timestamp,
    iso_timestamp,
    level_name,
    merge_context,
)
from moose_trace.logging.redaction import Redactor, default_redactor
from moose_trace.logging.resource import resource_fields, resource_service_name

__all__ = ["LoggingSetup", "Sink", "configure_logging", "shutdown_logging"]

SERVICE_ENV = "OTEL_SERVICE_NAME"
"""Where the service name comes from when ``configure_logging`` is given none."""


@dataclass(frozen=True)
class LoggingSetup:
    """What ``configure_logging`` set up: where events go and at which level."""

    service: str
    """The ``service`` field of every event."""
    level: str
    """The level of loggers without a per-module setting."""
    json: bool
    """Whether stdout gets JSON (else console text); the file and sinks always get JSON."""
    log_dir: Path | None
    """The directory of the daily files, or ``None`` when no file is written."""
    sinks: tuple[Sink, ...]
    """The sinks every event is handed to."""

    def log_file(self, date: str | None = None) -> Path | None:
        """Return the file of one UTC date (``YYYY-MM-DD``; default: today), or ``None``."""
        if self.log_dir is None:
            return None
        return self.log_dir / daily_file_name(self.service, date or iso_timestamp()[:10])


def _logger_factory(*args: Any) -> DiscardingLogger:
    name = args[0] if args and isinstance(args[0], str) else None
    return DiscardingLogger(name)


_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime", "taskName"}
)
_in_bridge = threading.local()


class _StdlibBridge(logging.Handler):
    """The root logger's handler: each stdlib record becomes an event of the same chain."""

    def __init__(self, levels: LevelMap, chain: Sequence[Processor], emitter: Emitter) -> None:
        super().__init__(logging.NOTSET)
        self.levels = levels
        self.chain = tuple(chain)
        self.emitter = emitter

    def handle(self, record: logging.LogRecord) -> bool:
        """Emit without the handler lock: the emitter is thread-safe, so threads never wait."""
        passed = self.filter(record)
        if passed:
            self.emit(record)
        return bool(passed)

    def emit(self, record: logging.LogRecord) -> None:
        """Turn the record into an event dict, run the chain, write it; never raises."""
        if record.levelno < self.levels.level_for(record.name):
            return
        if getattr(_in_bridge, "on", False):
            return  # logging from inside logging (a sink, a processor): would loop
        _in_bridge.on = True
        try:
            method_name = level_name(record.levelno)
            event_dict: MutableMapping[str, Any] = _event_from_record(record, method_name)
            for processor in self.chain:
                event_dict = processor(None, method_name, event_dict)  # type: ignore[assignment]
            self.emitter(None, method_name, event_dict)
        except structlog.DropEvent:
            return
        except Exception as error:
            report_once(f"bridge:{type(error).__name__}", f"cannot log a stdlib record: {error!r}")
        finally:
            _in_bridge.on = False


def _event_from_record(record: logging.LogRecord, level: str) -> dict[str, Any]:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep both, as text
        message = f"{safe_str(record.msg)} {safe_str(record.args)}"
    event: dict[str, Any] = {
        "event": message,
        "level": level,
        "logger": record.name,
        "timestamp": iso_timestamp(int(record.created * 1_000_000) * 1000),
    }
    attributes = record.__dict__
    for key in attributes.keys() - _RECORD_ATTRIBUTES:  # the ``extra={...}`` fields
        if not key.startswith("_"):
            event.setdefault(key, attributes[key])
    if record.exc_info:
        event["exc_info"] = record.exc_info
    elif record.stack_info:
        event.setdefault("stack", record.stack_info)
    return event


@dataclass
class _State:
    levels: LevelMap
    emitter: Emitter
    file: DailyFile | None
    bridge: _StdlibBridge | None


# The one list handed to structlog: reconfiguring replaces its contents, so loggers cached on
# first use (module-level ``log = structlog.get_logger()``) follow the new setup too.
_CHAIN: list[Processor] = []
_state: _State | None = None
_lock = threading.Lock()
_atexit_registered = False
_root_level_before = logging.WARNING


def _default_service() -> str:
    named = os.environ.get(SERVICE_ENV) or resource_service_name()
    if named:
        return named
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return script or "python"


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def configure_logging(
    service: str | None = None,
    *,
    level: str | int | None = None,
    levels: Mapping[str, str | int] | None = None,
    json: bool | None = None,
    stdout: bool = True,
    stream: IO[Any] | None = None,
    log_dir: str | os.PathLike[str] | Literal[False] | None = None,
    redact: bool | Redactor = True,
    include_payload: bool = False,
    extra_processors: Sequence[Processor] = (),
    sinks: Sequence[Sink] = (),
    bridge_stdlib: bool = True,
    resource: bool = True,
    caller: bool = False,
) -> LoggingSetup:
    """Set up structlog and stdlib logging to write JSON Lines events with trace ids.

    - ``service``: the ``service`` field and the file name; default ``$OTEL_SERVICE_NAME``, else
      ``service.name`` in ``$OTEL_RESOURCE_ATTRIBUTES``, else the script's name.
    - ``level``: default ``$LOG_LEVEL``, else info. ``levels`` (``{"moose_trace.kafka":
      "debug"}``) and ``LOG_LEVEL_<MODULE>`` variables (``LOG_LEVEL_MOOSE_TRACE_KAFKA=debug``)
      set one logger and its children; name your loggers: ``structlog.get_logger(__name__)``.
    - ``json``: JSON on stdout; default: JSON unless stdout is a terminal (then console text).
      ``stdout=False`` writes nothing there; ``stream`` writes to another stream instead.
    - ``log_dir``: the daily files' directory (``<service>-YYYY-MM-DD.jsonl``, UTC dates);
      default ``moose_trace.logging.paths.default_log_dir()``; ``False``: no file.
    - ``redact``: ``True`` (default rules), ``False``, or your own ``Redactor``.
    - ``include_payload``: keep ``payload``/``input``/``output`` fields (dropped by default).
    - ``extra_processors``: your processors, run before redaction (what they add is redacted).
    - ``sinks``: objects with ``write(event)`` (see ``Sink``) given every finished event.
    - ``bridge_stdlib``: route the root logger's records through the same chain.
    - ``resource``: put the OpenTelemetry resource attributes of ``OTEL_RESOURCE_ATTRIBUTES``
      on every line (``service_version``, ``deployment_environment``, ``cloud_region``…; see
      ``moose_trace.logging.resource``).
    - ``caller``: add ``file``, ``line``, ``function`` of the logging code to every line
      (``moose_trace.logging.caller``; costs a stack walk per line, off by default).

    Idempotent: a second call replaces the first setup (no duplicate handlers or files).
    """
    global _state, _atexit_registered  # noqa: PLW0603 - the process-wide logging setup
    name = service or _default_service()
    level_map = LevelMap.from_settings(
        level, levels or {}, os.environ, lambda message: report_once(message, message)
    )
    out = stream if stream is not None else sys.stdout
    use_json = json if json is not None else not _is_tty(out)
    directory = None if log_dir is False else Path(log_dir or default_log_dir()).expanduser()
    redactor = default_redactor if redact is True else (redact or None)
    with _lock:
        previous = _state
        file = _reuse_file(previous, directory, name)
        console = None if use_json else structlog.dev.ConsoleRenderer(colors=_is_tty(out))
        emitter = Emitter(stdout=stdout, stream=stream, console=console, file=file, sinks=sinks)
        plan: dict[str, Any] = {
            "service": name,
            "redactor": redactor,
            "include_payload": include_payload,
            "extra_processors": tuple(extra_processors),
            "caller": caller,
            "resource": resource_fields() if resource else None,
        }
        shared = shared_processors(**plan)
        setup = LoggingSetup(
            service=name,
            level=level_name(level_map.default),
            json=use_json,
            log_dir=directory,
            sinks=tuple(sinks),
        )
        bridge = _StdlibBridge(level_map, [merge_context, *shared], emitter)
        _state = _State(level_map, emitter, file, bridge if bridge_stdlib else None)
        _CHAIN[:] = [merge_context, add_log_level, *shared, add_timestamp, emitter]
        activate(ActiveSetup(level_map, _CHAIN, compile_line(**plan, emitter=emitter)))
        structlog.configure(
            processors=_CHAIN,
            wrapper_class=MooseBoundLogger,
            logger_factory=_logger_factory,
            context_class=dict,
            cache_logger_on_first_use=True,
        )
        _install_bridge(_state.bridge, level_map.minimum)
        if previous is not None:
            _retire(previous, keep_sinks=set(map(id, sinks)), keep_file=file)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
    return setup


def _reuse_file(previous: _State | None, directory: Path | None, service: str) -> DailyFile | None:
    if directory is None:
        return None
    old = previous.file if previous is not None else None
    if old is not None and old.directory == directory and old.service == service:
        return old
    return DailyFile(directory, service)


def _install_bridge(bridge: _StdlibBridge | None, minimum: int) -> None:
    global _root_level_before  # noqa: PLW0603 - restored by shutdown_logging
    root = logging.getLogger()
    installed = [handler for handler in root.handlers if isinstance(handler, _StdlibBridge)]
    for handler in installed:
        root.removeHandler(handler)
    if bridge is not None:
        if not installed:
            _root_level_before = root.level
        root.addHandler(bridge)
        root.setLevel(minimum)
        logging.captureWarnings(True)
    elif installed:
        root.setLevel(_root_level_before)
        logging.captureWarnings(False)


def _retire(previous: _State, keep_sinks: set[int], keep_file: DailyFile | None) -> None:
    for sink in previous.emitter.sinks:
        if id(sink) not in keep_sinks:
            _call_quietly(sink, "flush")
    if previous.file is not None and previous.file is not keep_file:
        previous.file.close()


def _call_quietly(sink: Sink, method: str) -> None:
    action = getattr(sink, method, None)
    if callable(action):
        try:
            action()
        except Exception as error:
            report_once(f"{method}:{id(sink)}", f"log sink {sink!r} {method}() failed: {error!r}")


def direct_logger(name: str) -> DirectLogger:
    """Return the logger moose-trace's own modules use for their per-call lines (internal)."""
    return DirectLogger(name, _logger_factory)


def shutdown_logging() -> None:
    """Undo ``configure_logging``: flush and close the sinks, close the file, detach from stdlib.

    Runs by itself at interpreter exit (without the detaching). Loggers created before keep
    working but write nowhere; structlog's defaults apply to new ones.
    """
    global _state
    with _lock:
        state, _state = _state, None
        if state is None:
            return
        _install_bridge(None, logging.NOTSET)
        deactivate()
        _CHAIN[:] = []
        structlog.reset_defaults()
        _close(state)


def _close(state: _State) -> None:
    for sink in state.emitter.sinks:
        _call_quietly(sink, "flush")
        _call_quietly(sink, "close")
    if state.file is not None:
        state.file.close()


def _at_exit() -> None:
    state = _state
    if state is not None:
        _close(state)
