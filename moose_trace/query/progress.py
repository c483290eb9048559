"""A progress bar on stderr for scans that take a while: only on a terminal, only after 1 s.

Short queries stay silent and pipes never see the bar, so scripts reading stderr get only the
notes that matter. The bar is cleared before results are written.
"""

from __future__ import annotations

import _thread  # the lock alone: `threading` costs the query tool's start-up a module tree
import time
from typing import TextIO

__all__ = ["DELAY_SECONDS", "ProgressBar"]

DELAY_SECONDS = 1.0
"""Scans quicker than this show no bar."""

_WIDTH = 30


class ProgressBar:
    """Draws ``fraction`` (0…1) as a bar on ``stream`` when it is a terminal.

    Call it with each new fraction (from any thread); call ``clear()`` before writing output.
    """

    def __init__(self, stream: TextIO, *, label: str = "scanning", enabled: bool = True) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled and stream.isatty()
        self.started = time.monotonic()
        self.drawn = False
        self._lock = _thread.allocate_lock()

    def __call__(self, fraction: float) -> None:
        """Show ``fraction`` done, once the scan has run longer than ``DELAY_SECONDS``."""
        if not self.enabled or time.monotonic() - self.started < DELAY_SECONDS:
            return
        filled = round(max(0.0, min(1.0, fraction)) * _WIDTH)
        bar = "█" * filled + "░" * (_WIDTH - filled)
        with self._lock:
            self.stream.write(f"\r{self.label} {bar} {fraction:4.0%}")
            self.stream.flush()
            self.drawn = True

    def clear(self) -> None:
        """Erase the bar, if one was drawn, so output starts on a clean line."""
        with self._lock:
            if self.drawn:
                self.stream.write("\r" + " " * (len(self.label) + _WIDTH + 7) + "\r")
                self.stream.flush()
                self.drawn = False
