"""Closing every live sink when the process ends: at interpreter exit, and on SIGTERM when asked.

One registry for the process (sinks are held weakly: a sink nobody keeps is not kept alive by
it). ``install_sigterm_handler`` is opt-in, because signal handling belongs to the application.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Protocol

__all__ = ["Closable", "close_all", "install_sigterm_handler", "register", "unregister"]


class Closable(Protocol):
    """What the registry closes: a sink."""

    def close(self) -> None:
        """Store or spool what is waiting, then stop."""


_LIVE: weakref.WeakSet[Closable] = weakref.WeakSet()
_registry_lock = threading.Lock()


def register(sink: Closable) -> None:
    """Close ``sink`` at interpreter exit and on SIGTERM (see ``install_sigterm_handler``)."""
    with _registry_lock:
        _LIVE.add(sink)


def unregister(sink: Closable) -> None:
    """Forget ``sink`` (it closed itself)."""
    with _registry_lock:
        _LIVE.discard(sink)


def close_all() -> None:
    """Close every registered sink; one that fails does not stop the others."""
    with _registry_lock:
        sinks = list(_LIVE)
    for sink in sinks:
        with contextlib.suppress(Exception):
            sink.close()


def install_sigterm_handler() -> None:
    """Flush every ClickHouse sink when the process gets SIGTERM, then let SIGTERM proceed.

    Opt-in because signal handling belongs to the application. The previous handler still runs
    afterwards (or, if there was none, the process ends as SIGTERM would have ended it).
    Call it from the main thread (Python installs signal handlers only there).
    """
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        close_all()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


atexit.register(close_all)
