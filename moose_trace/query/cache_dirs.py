"""The cached table's temporary directories: one per console process, named by its owner.

A console killed with SIGKILL (or by the OOM killer) cannot remove its table — a file about the
size of the logs. Each directory is named ``moose-trace-cache-p<pid>-…`` after the process that
made it, so the next console removes those whose owner is gone (``remove_stale``), and never
one of a console still running (this process's own included).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["CACHE_DIR_PREFIX", "make_cache_dir", "remove_stale"]

CACHE_DIR_PREFIX = "moose-trace-cache-"
"""How every cache directory's name starts (in the system's temporary directory)."""

_OWNED = re.compile(re.escape(CACHE_DIR_PREFIX) + r"p(\d+)-")


def make_cache_dir() -> str:
    """Make this process's new cache directory (after removing those of dead processes)."""
    remove_stale()
    return tempfile.mkdtemp(prefix=f"{CACHE_DIR_PREFIX}p{os.getpid()}-")


def remove_stale(parent: str | None = None) -> list[Path]:
    """Remove the cache directories in ``parent`` (default: the temporary directory) whose
    owner process is gone; return them. Directories of running processes stay."""
    root = Path(parent or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            owner = _OWNED.match(entry.name)
            if owner is None or _alive(int(owner.group(1))) or not entry.is_dir():
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to clean
        return True
    except OverflowError:
        return False
    return True
