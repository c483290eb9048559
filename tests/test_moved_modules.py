"""Old module paths keep working after the regrouping: same module, one DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import moose_trace
from moose_trace._moved import MOVED_MODULES


def _forget(name: str) -> None:
    sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules and sys.modules[parent].__dict__.get(child) is not None:
        delattr(sys.modules[parent], child)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_MODULES.items()))
def test_an_old_path_imports_the_new_module_itself_with_a_warning(old: str, new: str) -> None:
    _forget(old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}") as caught:
        __import__(old)  # as an import statement does: no importlib frame in between
    module = sys.modules[old]
    assert module is importlib.import_module(new)
    assert module.__spec__ is not None
    assert module.__spec__.name == new  # its own spec, kept
    assert caught[0].filename == __file__  # the warning points at the importing line


def test_from_import_of_an_old_path_gives_the_same_objects() -> None:
    _forget("moose_trace.context")
    with pytest.warns(DeprecationWarning, match="moose_trace.tracing.context"):
        from moose_trace.context import trace_context  # noqa: PLC0415
    assert trace_context is moose_trace.trace_context


def test_an_old_path_is_an_attribute_of_the_package_too() -> None:
    _forget("moose_trace.broker")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        broker = moose_trace.broker  # type: ignore[attr-defined]
    assert (
        broker.EmbeddedBroker
        is importlib.import_module("moose_trace.testing.broker").EmbeddedBroker
    )


def test_python_dash_m_on_an_old_command_path_still_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "moose_trace.query.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: moose-trace logs")


def test_a_name_that_never_existed_still_fails_to_import() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("moose_trace.no_such_module")


def test_an_old_clickhouse_submodule_is_an_attribute_of_the_face() -> None:
    import moose_trace.clickhouse as face  # noqa: PLC0415

    _forget("moose_trace.clickhouse.sink")
    with pytest.warns(DeprecationWarning, match="moose_trace.store.clickhouse.sink"):
        sink = face.sink  # type: ignore[attr-defined]
    assert sink.ClickHouseSink is face.ClickHouseSink
