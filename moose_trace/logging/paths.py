"""Where logs live by default: one place the SDK writes and the query tool reads."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LOG_DIR_ENV", "default_log_dir"]

LOG_DIR_ENV = "MOOSE_TRACE_LOG_DIR"
"""Environment variable that overrides the default log directory, for writers and readers alike."""


def default_log_dir() -> Path:
    """Return the log directory: ``$MOOSE_TRACE_LOG_DIR`` if set, else ``~/.moose-trace/logs``.

    The SDK's file sink writes daily JSON Lines files here and ``moose-trace logs`` reads here
    when given no source, so a demo run's logs are found with no arguments.
    """
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".moose-trace" / "logs"
