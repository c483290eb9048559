"""Suite-wide test settings: nothing a test does may write to the user's real log directory."""

from __future__ import annotations

import os
import tempfile

import pytest

from moose_trace.paths import LOG_DIR_ENV


def pytest_configure(config: pytest.Config) -> None:
    """Point the default log directory at a throwaway folder for the whole run."""
    os.environ[LOG_DIR_ENV] = tempfile.mkdtemp(prefix="moose-trace-test-logs-")
