"""Keeping the sink's worker threads alive: a worker that fails unexpectedly is restarted.

A bug or an odd library error in the batcher or the inserter must not silently stop storing
events. The supervised thread counts the restart, says why, and runs the worker again after a
pause that doubles per failure (up to 5 s), so a persistent fault does not spin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from moose_trace._text import safe_str
from moose_trace.store.clickhouse.backlog import Backlog
from moose_trace.store.clickhouse.diagnostics import QUIET, warn

__all__ = ["worker_thread"]


def _never() -> bool:
    return False


def worker_thread(
    target: Callable[[], None],
    role: str,
    backlog: Backlog,
    *,
    owner: object,
    done_when_closing: Callable[[], bool] = _never,
) -> threading.Thread:
    """A quiet daemon thread (not started) that runs ``target`` and restarts it after a failure.

    After a failure during close, the thread stops for good when the sink gave up on its
    threads (``backlog.abandoned``) or when ``done_when_closing()`` says nothing is left to do.
    The thread holds ``owner`` (the sink): a sink nobody else keeps stays alive while its threads
    run, so the exit hook (which holds sinks weakly) still finds and closes it.
    """

    def run(_owner: object) -> None:
        QUIET.on = True
        pause = 0.1
        while True:
            try:
                target()
                return
            except Exception as failure:
                with backlog.cond:
                    backlog.counts["restarted"] += 1
                    backlog.batcher_busy = False
                    backlog.cond.notify_all()
                warn(
                    "ClickHouse sink %s failed (%s: %s); restarted",
                    role,
                    type(failure).__name__,
                    safe_str(failure),
                )
                stopping = backlog.closing.wait(pause)
                pause = min(pause * 2, 5.0)
                if stopping and (backlog.abandoned or done_when_closing()):
                    return

    name = f"moose-trace-clickhouse-{role}"
    return threading.Thread(target=run, args=(owner,), name=name, daemon=True)
