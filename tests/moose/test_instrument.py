"""instrument()/uninstrument() on the real moose-lib and kafka-python (in the moose-lib env)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from moose_trace.testing.broker import EmbeddedBroker

SCRIPT = Path(__file__).parent / "scripts" / "hooks_check.py"


@pytest.fixture(scope="module")
def findings(moose_python: Path, kafka_broker: EmbeddedBroker) -> dict[str, Any]:
    kafka_broker.create_topics(["hooks-check", "hooks-check-out"], partitions=1)
    done = subprocess.run(
        [str(moose_python), str(SCRIPT), kafka_broker.bootstrap_servers],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


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
