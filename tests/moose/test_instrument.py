"""instrument()/uninstrument() on the real moose-lib and kafka-python (in the moose-lib env)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from moose_env import crc32c_dir

from moose_trace.moose import PURE_PYTHON_CRC_EVENT
from moose_trace.testing.broker import EmbeddedBroker

SCRIPT = Path(__file__).parent / "scripts" / "hooks_check.py"


def run_check(moose_python: Path, broker: EmbeddedBroker, topic: str, **env: str) -> dict[str, Any]:
    broker.create_topics([topic, f"{topic}-out"], partitions=1)
    done = subprocess.run(
        [str(moose_python), str(SCRIPT), broker.bootstrap_servers, topic],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def findings(moose_python: Path, kafka_broker: EmbeddedBroker) -> dict[str, Any]:
    """The script's findings with kafka-python as moose-lib installs it (no crc32c)."""
    return run_check(moose_python, kafka_broker, "hooks-check")


def test_instrument_is_idempotent_and_uninstrument_restores_everything(
    findings: dict[str, Any],
) -> None:
    assert findings["first"] is True
    assert findings["second"] is True
    assert findings["patched"] is True
    assert findings["patched_once"] is True
    assert findings["json_patched"] is True
    assert findings["restored"] is True
    assert findings["off"] is True


def test_an_untested_moose_lib_version_warns_and_still_hooks(findings: dict[str, Any]) -> None:
    assert findings["untested_version_hooked"] is True
    [warning] = findings["untested_version_warning"]
    assert "moose-lib 0.7.1 was not tested" in warning


def test_a_failing_hook_is_logged_once_and_the_records_still_flow(
    findings: dict[str, Any],
) -> None:
    assert findings["seen"] == [0, 1, 2]
    [line] = findings["failure_lines"]
    assert line["level"] == "error"
    assert "boom inside a hook" in json.dumps(line)
    assert findings["on_after_failure"] is False
    assert findings["headers_after_failure"] == []  # untraced from then on, as it said


def test_moose_error_lines_get_a_category_outside_any_record_too(
    findings: dict[str, Any],
) -> None:
    error, info = findings["moose_lines"]
    assert (error["level"], error["error_category"]) == ("error", "unknown_error")
    assert "trace_id" not in error  # no record was being handled
    assert "error_category" not in info


def test_a_pure_python_checksum_is_warned_about_once(
    findings: dict[str, Any], moose_python: Path, kafka_broker: EmbeddedBroker
) -> None:
    # Stock kafka-python-ng: one warning for the four instrument() calls, naming the fix.
    [warning] = findings["crc_warnings"]
    assert warning["level"] == "warning"
    assert warning["event"] == PURE_PYTHON_CRC_EVENT
    assert "pip install 'moose-trace[moose]'" in warning["event"]
    # With crc32c importable (what the moose extra installs) kafka-python uses it: no warning.
    with_crc = run_check(
        moose_python, kafka_broker, "hooks-check-crc", PYTHONPATH=str(crc32c_dir())
    )
    assert with_crc["crc_warnings"] == []
    assert with_crc["seen"] == [0, 1, 2]
