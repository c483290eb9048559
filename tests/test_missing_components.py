"""A missing real component skips its tests locally and fails them in CI (``CI=true``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from components import in_ci, missing_component

_NO_BROKER_TEST = """
from moose_trace.testing.broker import BrokerUnavailable, EmbeddedBroker


def refuse(self):
    raise BrokerUnavailable("no tansu binary (simulated)")


EmbeddedBroker.start = refuse  # this child process only: as if the binary were missing


def test_needs_kafka(kafka_topic):
    pass
"""


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_ci_is_recognised(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="broker unavailable: gone"):
        missing_component("broker", "gone")


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_a_missing_component_is_skipped_with_its_reason(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="broker unavailable: gone"):
        missing_component("broker", "gone")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("false", "1 skipped")])
def test_the_kafka_fixture_without_a_broker(
    ci: str, outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = Path(__file__).parent
    (tmp_path / "test_no_broker.py").write_text(_NO_BROKER_TEST)
    monkeypatch.setenv("CI", ci)
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--confcutdir",
            str(tests),
            "-c",
            "/dev/null",
            "--override-ini",
            f"pythonpath={tests}",
            str(tmp_path / "test_no_broker.py"),
            "-p",
            "conftest",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tests,
    )
    assert outcome in finished.stdout, finished.stdout + finished.stderr
    assert ("1 error" in finished.stdout) == (finished.returncode != 0)
