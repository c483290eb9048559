"""The public API: every re-exported name resolves, is documented, and loads nothing heavy."""

from __future__ import annotations

import ast
import importlib
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


def type_checking_exports() -> dict[str, str]:
    """What the ``TYPE_CHECKING`` block of moose_trace/__init__.py tells type checkers."""
    tree = ast.parse(Path(moose_trace.__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                for alias in statement.names:
                    assert alias.asname == alias.name, f"{alias.name}: an explicit re-export"
                    found[alias.name] = statement.module or ""
    return found


def test_the_public_names_are_one_list_said_the_same_everywhere() -> None:
    exports = moose_trace._EXPORTS
    assert moose_trace.__all__ == ["__version__", *exports]
    assert type_checking_exports() == exports  # same names, same defining modules
    for name, module in exports.items():
        assert getattr(moose_trace, name) is getattr(importlib.import_module(module), name)
    assert set(exports) <= set(dir(moose_trace))


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
