"""The terminal a result is shown on: its width, and the text that may reach it.

``shown`` is the one place human-facing query output escapes what a terminal would obey
(control characters: a log line must not move the cursor or recolour the screen);
every renderer of people's text calls it.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import TextIO

__all__ = ["DEFAULT_WIDTH", "shown", "terminal_width"]

DEFAULT_WIDTH = 120
"""The width drawn for when the output is not a terminal and ``COLUMNS`` is not set."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """Return ``text`` with control characters escaped (``\\x1b`` stays visible, inert)."""
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


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
