"""``MooseBoundLogger``: the structlog ``wrapper_class`` that ``configure_logging`` installs.

Users keep calling ``structlog.get_logger(__name__).info("event", key=value)``, binding with
``bind``/``new``/``unbind``, and extending the chain through ``configure_logging``'s
``extra_processors``. What changes is the cost: while structlog runs the setup
``configure_logging`` made, a call builds its event dict once and hands it to the compiled line
(see ``_fast_line``): no context copy when nothing is bound, no dispatch per processor. Under
any other structlog setup (you replaced the processors or the logger factory) it is an ordinary
structlog bound logger running your chain.

Levels are per logger name (``LevelMap``) and are read again after each ``configure_logging``,
so loggers cached on first use follow a new level too. A call below the level costs two
attribute reads and a comparison.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from structlog.typing import Processor

from moose_trace._fastpath import structlog_config
from moose_trace.logging._fast_line import LineFunction
from moose_trace.logging.levels import LEVEL_NUMBERS, LevelMap
from moose_trace.logging.processors import level_name

__all__ = [
    "ActiveSetup",
    "DirectLogger",
    "DiscardingLogger",
    "MooseBoundLogger",
    "activate",
    "current_setup",
    "deactivate",
]


class DiscardingLogger:
    """What structlog calls last; the ``Emitter`` processor has already written the event."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name

    def msg(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    debug = info = warning = warn = error = critical = fatal = exception = log = msg


@dataclass(frozen=True)
class ActiveSetup:
    """What the loggers run: levels, the chain handed to structlog and its compiled line."""

    levels: LevelMap
    chain: Sequence[Processor]
    line: LineFunction


_active: ActiveSetup | None = None


def activate(setup: ActiveSetup | None) -> None:
    """Make every ``MooseBoundLogger`` use ``setup`` from its next call (``None``: no setup)."""
    global _active  # noqa: PLW0603 - the process-wide setup, replaced as a whole
    _active = setup


def deactivate() -> None:
    """Forget the setup: loggers run structlog's ordinary path at info level."""
    activate(None)


def current_setup() -> ActiveSetup | None:
    """Return the setup loggers run now."""
    return _active


def _interpolate(event: Any, args: tuple[Any, ...]) -> Any:
    """``log.info("%s records", 5)``: structlog's filtering loggers' %-formatting."""
    if len(args) == 1 and isinstance(args[0], dict) and args[0]:
        return event % args[0]
    return event % args


def _level_method(level: int) -> Callable[..., Any]:
    method_name = logging.getLevelName(level).lower()
    level_text = level_name(method_name)

    def log_at_level(self: MooseBoundLogger, event: Any = None, /, *args: Any, **kw: Any) -> Any:
        if self._seen is not _active:
            self._follow_setup()
        if level < self._min_level:
            return None
        if args:
            event = _interpolate(event, args)
        line = self._line
        if line is None:
            return self._proxy_to_logger(method_name, event, **kw)
        context = self._context
        event_dict = {**context, **kw} if context else kw
        if event is not None:
            event_dict["event"] = event
        line(method_name, level_text, event_dict)  # (it handles ``DropEvent`` itself)
        return None

    log_at_level.__name__ = method_name
    log_at_level.__doc__ = f"Log ``event`` (``%``-formatted with ``args``) at {method_name}."
    return log_at_level


def _async_method(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    async def log_async(self: MooseBoundLogger, event: Any = None, /, *args: Any, **kw: Any) -> Any:
        # The line costs microseconds: written in the caller's task, in its context, rather than
        # handed to a thread as structlog's ``a*`` methods do.
        return method(self, event, *args, **kw)

    log_async.__name__ = name
    log_async.__doc__ = f"``{method.__name__}`` for ``await`` call sites."
    return log_async


class MooseBoundLogger(structlog.BoundLoggerBase):
    """The structlog bound logger of ``configure_logging``: per-name levels and the fast line.

    Named loggers (``structlog.get_logger("app.orders")``) add their name as the ``logger``
    field and take the level set for that name (``levels=``, ``LOG_LEVEL_<MODULE>``).
    """

    _seen: ActiveSetup | bool | None
    _min_level: int
    _line: LineFunction | None
    _proxy: Any

    def __init__(
        self,
        logger: Any,
        processors: Sequence[Processor],
        context: MutableMapping[str, Any],
    ) -> None:
        name = getattr(logger, "name", None)
        super().__init__(
            logger, processors, {"logger": name, **context} if name is not None else dict(context)
        )
        self._seen = False  # never ``_active``: the first call reads the setup
        self._min_level = logging.INFO
        self._line = None
        self._proxy = _proxy_creating_me()

    def _follow_setup(self) -> None:
        setup = _active
        name = getattr(self._logger, "name", None)
        self._min_level = setup.levels.level_for(name) if setup is not None else logging.INFO
        fast = (
            setup is not None
            and self._processors is setup.chain
            and type(self._logger) is DiscardingLogger
        )
        self._line = setup.line if fast and setup is not None else None
        self._seen = setup
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            _pin_methods(proxy, self)

    debug = _level_method(logging.DEBUG)
    info = _level_method(logging.INFO)
    warning = _level_method(logging.WARNING)
    error = _level_method(logging.ERROR)
    critical = _level_method(logging.CRITICAL)
    warn = warning
    err = error
    fatal = critical
    msg = info

    def exception(self, event: Any = None, /, *args: Any, **kw: Any) -> Any:
        """Log at error with the current exception (``exc_info=True`` unless given)."""
        kw.setdefault("exc_info", True)
        return self.error(event, *args, **kw)

    def log(self, level: int, event: Any = None, /, *args: Any, **kw: Any) -> Any:
        """Log at a stdlib ``level`` number (custom numbers round down to a standard level)."""
        method = _BY_LEVEL.get(level)
        if method is None:
            method = _BY_LEVEL[_standard_level(level)]
        return method(self, event, *args, **kw)

    def is_enabled_for(self, level: int) -> bool:
        """Return whether a call at ``level`` would be written."""
        if self._seen is not _active:
            self._follow_setup()
        return level >= self._min_level

    def get_effective_level(self) -> int:
        """Return the level of this logger's name."""
        if self._seen is not _active:
            self._follow_setup()
        return self._min_level

    adebug = _async_method(debug, "adebug")
    ainfo = _async_method(info, "ainfo")
    awarning = _async_method(warning, "awarning")
    aerror = _async_method(error, "aerror")
    acritical = _async_method(critical, "acritical")
    afatal = acritical
    amsg = ainfo

    async def aexception(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        """``exception`` for ``await`` call sites."""
        return self.exception(event, *args, **kw)

    async def alog(self, level: int, event: Any = None, *args: Any, **kw: Any) -> Any:
        """``log`` for ``await`` call sites."""
        return self.log(level, event, *args, **kw)


# structlog's lazy proxy class, reached through its public constructor.
_PROXY_TYPE = type(structlog.get_logger())
_PROXY_BIND = getattr(_PROXY_TYPE.bind, "__code__", None)
_PINNED = (
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "err",
    "critical",
    "fatal",
    "exception",
    "msg",
    "log",
    "adebug",
    "ainfo",
    "awarning",
    "aerror",
    "acritical",
    "afatal",
    "aexception",
    "alog",
)


def _proxy_creating_me() -> Any:
    """Return the ``structlog.get_logger()`` proxy whose ``bind`` is building this logger, if any.

    The proxy finds its logger again on every call (``__getattr__``, then ``bind()``): about a
    quarter of a log line's cost, spent to return the same object each time once structlog
    caches it (``cache_logger_on_first_use``, which ``configure_logging`` sets). Knowing the
    proxy lets the first call pin the logging methods on it (see ``_pin_methods``).
    """
    caller = sys._getframe(2)  # this logger's ``__init__``, then whoever called the class
    if caller.f_code is not _PROXY_BIND:
        return None
    proxy = caller.f_locals.get("self")
    return proxy if isinstance(proxy, _PROXY_TYPE) else None


def _pin_methods(proxy: Any, logger: MooseBoundLogger) -> None:
    """Put ``logger``'s methods on ``proxy`` when the proxy has cached ``logger`` for good.

    structlog caches by replacing the proxy's ``bind`` with one that returns the cached logger;
    only then is pinning what the proxy would do anyway. A proxy that does not cache (its own
    ``cache_logger_on_first_use=False``) is left alone.
    """
    try:
        if "bind" not in vars(proxy) or proxy.bind() is not logger:
            return
        for name in _PINNED:
            setattr(proxy, name, getattr(logger, name))
    except Exception:  # a structlog whose proxy works otherwise: it keeps its own lookup
        return


def _standard_level(level: int) -> int:
    for standard in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if level >= standard:
            return standard
    return logging.DEBUG


_BY_LEVEL: dict[int, Callable[..., Any]] = {
    logging.DEBUG: MooseBoundLogger.debug,
    logging.INFO: MooseBoundLogger.info,
    logging.WARNING: MooseBoundLogger.warning,
    logging.ERROR: MooseBoundLogger.error,
    logging.CRITICAL: MooseBoundLogger.critical,
}


# structlog's live configuration: read to know whether it is still ours (see DirectLogger);
# ``None`` when it moved, and then always the ordinary path.
_STRUCTLOG_CONFIG: Any = structlog_config()

_METHOD_NAMES = {number: name for name, number in LEVEL_NUMBERS.items()}


class DirectLogger:
    """A named logger for moose-trace's own per-call lines: decorators, the access line.

    While structlog runs the setup of ``configure_logging``, a line goes straight to the
    compiled line with the event dict, level filter and processors that
    ``structlog.get_logger(name)`` would use, minus the bound logger. Under any other
    structlog setup it is that ordinary logger.
    """

    __slots__ = ("_factory", "_level", "_name", "_proxy")

    def __init__(self, name: str, logger_factory: Callable[..., Any]) -> None:
        self._name = name
        self._factory = logger_factory
        self._proxy = structlog.get_logger(name)
        self._level: tuple[object, int] = (None, 0)

    def _is_ours(self, setup: ActiveSetup) -> bool:
        config = _STRUCTLOG_CONFIG
        return (
            config is not None
            and config.default_processors is setup.chain
            and config.default_wrapper_class is MooseBoundLogger
            and config.logger_factory is self._factory
            and config.default_context_class is dict
        )

    def log(self, level: int, event: str, fields: Mapping[str, Any]) -> None:
        """Log ``event`` with ``fields`` at stdlib ``level`` (10, 20, 30, 40 or 50)."""
        setup = _active
        if setup is None or not self._is_ours(setup):
            getattr(self._proxy, _METHOD_NAMES[level])(event, **fields)
            return
        cached = self._level
        if cached[0] is not setup:
            cached = self._level = (setup, setup.levels.level_for(self._name))
        if level < cached[1]:
            return
        method_name = _METHOD_NAMES[level]
        setup.line(method_name, method_name, {"logger": self._name, **fields, "event": event})

    def debug(self, event: str, **fields: Any) -> None:
        """Log at debug."""
        self.log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log at info."""
        self.log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log at warning."""
        self.log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log at error."""
        self.log(logging.ERROR, event, fields)
