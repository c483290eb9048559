"""The terminal a result is shown on: its width, and the text that may reach it.

``shown`` is ``moose_trace._text.terminal_safe``: values a log writer controls are escaped
before they reach a terminal (the one escaping function of every human-facing renderer).
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from moose_trace._text import terminal_safe

__all__ = ["DEFAULT_WIDTH", "shown", "terminal_width"]

DEFAULT_WIDTH = 120
"""The width drawn for when the output is not a terminal and ``COLUMNS`` is not set."""

shown = terminal_safe
"""Return ``text`` with what could drive or fool a terminal escaped (``terminal_safe``)."""


def terminal_width(out: TextIO) -> int:
    """Return the columns of ``out``: the terminal's, else ``COLUMNS``, else ``DEFAULT_WIDTH``."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if out.isatty():
            return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    except (AttributeError, ValueError, OSError):
        pass
    return DEFAULT_WIDTH
