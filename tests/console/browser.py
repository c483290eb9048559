"""Debian's chromium driven by Playwright (which cannot download its own browsers here).

``CHROMIUM`` (default ``/usr/bin/chromium``) names the binary. Without it the browser tests
skip saying why — except under ``CI=true``, where a missing browser fails them
(``components.missing_component``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from components import missing_component

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Return the chromium binary, or skip (fail under CI) when there is none."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        missing_component("browser", f"no chromium at {path}: apt-get install chromium")
    return path


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """Yield a Playwright browser context: Debian's chromium with an empty profile."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (test dependency)

    executable = chromium_path()
    with (
        tempfile.TemporaryDirectory(prefix="moose-trace-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
