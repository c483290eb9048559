"""instrument() where moose-lib is not installed: a warning, nothing patched, nothing raised."""

from __future__ import annotations

import subprocess
import sys

import pytest

import moose_trace.moose
from moose_trace.moose import MooseInstrumentationWarning


def test_without_moose_lib_instrument_warns_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "moose_lib", None)  # as if not installed: import fails
    with pytest.warns(MooseInstrumentationWarning, match="moose-lib is not installed"):
        assert moose_trace.moose.instrument() is False
    assert moose_trace.moose.is_instrumented() is False
    moose_trace.moose.uninstrument()  # harmless when nothing was instrumented
    assert moose_trace.moose.is_instrumented() is False


def test_importing_the_integration_loads_neither_moose_nor_kafka_python() -> None:
    script = (
        "import sys, moose_trace.moose; "
        "print(sorted({'moose_lib', 'kafka', 'confluent_kafka'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
