"""Log levels: the five names, every other spelling of them, and the level of each logger.

The names: ``debug``, ``info``, ``warning``, ``error``, ``critical`` (``LEVELS``) — what the SDK
writes and what queries filter on. Other writers and callers spell them otherwise (``WARN``,
``err``, ``fatal``, ``TRACE``, ``exception`` …): ``LEVEL_ALIASES`` is the one table of those
spellings, used alike when a line is written (``level_name``), read back by any query engine
or the ClickHouse table (``normalize_level``), kept or pruned by retention, and configured
(``parse_level``), so a level written as one spelling is read back as the same level.

Per logger: ``LOG_LEVEL`` for everything, ``LOG_LEVEL_<MODULE>`` for one module. A logger name
maps to its variable by upper-casing it and turning every character that is not a letter or
digit into ``_``: ``moose_trace.kafka`` → ``LOG_LEVEL_MOOSE_TRACE_KAFKA``. A setting
applies to the logger and its children (``moose_trace.kafka.consumer``); the most specific wins.
"""

from __future__ import annotations

from types import MappingProxyType

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "ERROR_LEVELS",
    "LEVELS",
    "LEVEL_ALIASES",
    "LEVEL_BY_SPELLING",
    "LEVEL_NUMBERS",
    "LOG_LEVEL_ENV",
    "LevelMap",
    "env_name",
    "level_name",
    "normalize_level",
    "parse_level",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
"""The level names of the log schema, lowest first."""

ERROR_LEVELS = ("error", "critical")
"""The levels that mean something failed."""

LEVEL_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "warn": "warning",
        "err": "error",
        "exception": "error",
        "fatal": "critical",
        "crit": "critical",
        "alert": "critical",
        "emerg": "critical",
        "emergency": "critical",
        "notice": "info",
        "success": "info",
        "msg": "info",
        "trace": "debug",
        "verbose": "debug",
        "notset": "debug",
    }
)
"""Every other spelling (lowercased) of a level, and the level it means: other writers' (the
Rust side's ``WARN``/``TRACE``, syslog's ``err``/``crit``/``emerg``/``notice``) and logger
method names (``exception``, ``msg``)."""

LEVEL_BY_SPELLING: Mapping[str, str] = {**{level: level for level in LEVELS}, **LEVEL_ALIASES}
"""Each level name and alias (lowercased) → the level: the lookup of the per-line paths (a plain
``dict`` for speed; do not change it)."""
_LEVEL_OF = LEVEL_BY_SPELLING


def normalize_level(level: object) -> str:
    """Return a written ``level`` as the schema names it: ``" WARN "`` → ``warning``, ``err`` →
    ``error``; an unknown spelling lowercased as it is (it matches no level filter); anything
    that is not a string ``""``."""
    if not isinstance(level, str):
        return ""
    lowered = level.strip().lower()
    return _LEVEL_OF.get(lowered, lowered)


def level_name(level: str | int) -> str:
    """Return the schema's level for a method name, level name or stdlib number (writing side).

    ``"WARN"`` → ``"warning"``, ``"exception"`` → ``"error"``, ``logging.WARNING`` →
    ``"warning"``; custom stdlib numbers round down to the standard level below them (25 →
    ``"info"``); unknown names are ``"info"``.
    """
    if isinstance(level, int):
        if level >= LEVEL_NUMBERS["critical"]:
            return "critical"
        if level >= LEVEL_NUMBERS["error"]:
            return "error"
        if level >= LEVEL_NUMBERS["warning"]:
            return "warning"
        return "info" if level >= LEVEL_NUMBERS["info"] else "debug"
    return _LEVEL_OF.get(level) or _LEVEL_OF.get(str(level).strip().lower(), "info")


LEVEL_NUMBERS: Mapping[str, int] = MappingProxyType(
    {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
)
"""The stdlib's numbers of the levels (``logging.DEBUG`` …), written out: this module is read
by the query tool, whose start-up does not pay for importing ``logging``."""

LOG_LEVEL_ENV = "LOG_LEVEL"
"""The environment variable with the level of every logger without a more specific setting."""

_MAX_CACHED = 4096


def parse_level(value: str | int) -> int:
    """Return the stdlib level number for ``"debug"``, ``"WARN"``, ``"20"``, ``30`` …

    Raises ``ValueError`` naming the accepted values for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    import logging  # noqa: PLC0415 (the query tool reads this module and needs no logging)

    number = logging.getLevelName(text.upper())  # stdlib's names, and any added to logging
    if isinstance(number, int):
        return number
    number = LEVEL_NUMBERS.get(normalize_level(text))  # the other spellings: err, crit, trace …
    if number is not None:
        return number
    raise ValueError(
        f"unknown log level {text[:32]!r}: use debug, info, warning, error or critical"
    )


def env_name(logger_name: str) -> str:
    """Return the ``LOG_LEVEL_…`` variable for a logger name (``a.b-c`` → ``LOG_LEVEL_A_B_C``)."""
    import re  # noqa: PLC0415 - the query tool reads this module; its start-up skips re

    return f"{LOG_LEVEL_ENV}_{re.sub(r'[^A-Za-z0-9]+', '_', logger_name).strip('_').upper()}"


class LevelMap:
    """The level of every logger name: a default plus overrides for names and their children."""

    def __init__(self, default: int, overrides: Mapping[str, int]) -> None:
        self.default = default
        # Keyed by the environment-variable form, so "moose_trace.kafka" set in code and
        # LOG_LEVEL_MOOSE_TRACE_KAFKA set in the environment are the same setting.
        self._overrides = {env_name(name): level for name, level in overrides.items()}
        self._cache: dict[str | None, int] = {}

    @property
    def minimum(self) -> int:
        """The lowest level any logger has: what must reach the filters at all."""
        return min((self.default, *self._overrides.values()))

    def level_for(self, name: str | None) -> int:
        """Return the level of logger ``name`` (``None``: an unnamed logger, the default)."""
        level = self._cache.get(name)
        if level is not None:
            return level
        level = self.default
        if name and self._overrides:
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                found = self._overrides.get(env_name(".".join(parts[:end])))
                if found is not None:
                    level = found
                    break
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[name] = level
        return level

    @classmethod
    def from_settings(
        cls,
        level: str | int | None,
        levels: Mapping[str, str | int],
        environ: Mapping[str, str],
        warn: Callable[[str], None],
    ) -> LevelMap:
        """Build the map: ``level`` (else ``$LOG_LEVEL``, else info) and per-module settings.

        Per-module settings come from ``LOG_LEVEL_<MODULE>`` variables and from ``levels``
        (which wins for the same module). Invalid values are reported through ``warn`` and
        ignored, so a typo in the environment never stops the app.
        """
        default = LEVEL_NUMBERS["info"]
        source = level if level is not None else environ.get(LOG_LEVEL_ENV)
        if source is not None and source != "":
            try:
                default = parse_level(source)
            except ValueError as error:
                warn(f"{LOG_LEVEL_ENV}: {error}; using info")
        overrides: dict[str, int] = {}
        prefix = f"{LOG_LEVEL_ENV}_"
        for key, value in environ.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                try:
                    overrides[key[len(prefix) :]] = parse_level(value)
                except ValueError as error:
                    warn(f"{key}: {error}; ignored")
        for name, setting in levels.items():
            try:
                overrides[name] = parse_level(setting)
            except ValueError as error:
                warn(f"levels[{name!r}]: {error}; ignored")
        return cls(default, overrides)
