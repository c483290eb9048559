"""What a test does when a real component (broker, server, browser, interpreter) is missing.

Locally the test is skipped with the reason, so a machine without, say, the broker binary can
still run the rest. In CI (``CI=true``, as GitHub Actions, GitLab CI and ``.ci/run`` set it) the
test fails instead: there a missing component is a broken build, and a suite that skipped every
Kafka test must not come out green.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

_TRUE = {"1", "true", "yes", "on"}


def in_ci() -> bool:
    """Return whether the tests run in CI (``CI`` set to true, 1, yes or on)."""
    return os.environ.get("CI", "").strip().lower() in _TRUE


def missing_component(what: str, reason: object) -> NoReturn:
    """Skip the test saying which component is missing and why; in CI, fail it instead."""
    message = f"{what} unavailable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing real component fails the run)", pytrace=False)
    pytest.skip(message)
