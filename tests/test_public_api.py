"""The public API: every re-exported name resolves, is documented, and loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import moose_trace

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEAVY = ("confluent_kafka", "duckdb", "uvicorn", "starlette", "chdb", "clickhouse_connect")


@pytest.mark.parametrize("name", moose_trace.__all__)
def test_each_public_name_resolves_and_is_documented(name: str) -> None:
    value = getattr(moose_trace, name)
    assert value is not None
    documented = "\n".join(page.read_text() for page in DOCS.rglob("*.md"))
    assert f"`{name}" in documented, f"{name} is public but not in docs/"


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(moose_trace.__all__) == {"__version__", *moose_trace._EXPORTS}


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = moose_trace.no_such_name  # type: ignore[attr-defined]


def test_import_and_the_core_api_load_no_optional_dependency() -> None:
    code = (
        "import sys, moose_trace\n"
        "with moose_trace.trace_context(moose_trace.new_trace_id(), type='api'):\n"
        "    moose_trace.current_trace_id()\n"
        "moose_trace.asgi.TraceMiddleware, moose_trace.kafka.extract_trace_id\n"
        "moose_trace.traced_transform, moose_trace.clickhouse.ClickHouseSink\n"
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
