"""The layers of docs/architecture.md hold: imports point down, and no private name crosses modules.

Every module of ``moose_trace/`` is read with ``ast`` (nothing is imported), so the check sees
imports inside functions too. It fails on

- an import from a layer that may not be imported (``store`` importing ``query``, ``query``
  importing an integration, anything importing a public face such as ``moose_trace`` itself),
- a cycle between packages (``query`` ↔ ``clickhouse`` was one),
- ``from x import _name`` or ``x._name`` where ``_name`` is another module's private name (a
  private *module* may be imported by name: its public names are the internal API).

Imports by string count too: ``importlib.import_module("moose_trace.…")`` (and ``__import__``,
``find_spec``) with a literal name, and the module names in a module-level table of a module
that imports by name (a ``__getattr__`` lazy loader's ``{"Name": "moose_trace.x"}``, the old
paths table of ``_moved``, the subcommand table of ``commands.main``).

The first tests run the checker on small made-up trees, so a checker that cannot fail fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "moose_trace"

# Where each module belongs, by longest matching prefix. ``face`` modules only name things.
GROUPS: Mapping[str, str] = {
    "moose_trace": "face",
    "moose_trace.clickhouse": "face",
    "moose_trace._fastpath": "core",
    "moose_trace._moved": "face",  # old module paths: part of the public face, names every layer
    "moose_trace._memo": "core",
    "moose_trace._record": "core",
    "moose_trace._text": "core",
    "moose_trace._version": "core",
    "moose_trace.errors": "core",
    "moose_trace.tracing": "core",
    "moose_trace.logging": "core",
    "moose_trace.metrics": "core",
    "moose_trace.configuration": "core",
    "moose_trace.asgi": "asgi",
    "moose_trace.http": "http",
    "moose_trace.kafka": "kafka",
    "moose_trace.decorators": "decorators",
    "moose_trace.moose": "moose",
    "moose_trace.store": "store",
    "moose_trace.query": "query",
    "moose_trace.console": "console",
    "moose_trace.commands": "commands",
    "moose_trace.demo": "demo",
    "moose_trace.demo.__main__": "commands",  # ``python -m moose_trace.demo`` is an entry point
    "moose_trace.testing": "testing",
}

# What each group may import besides itself (docs/architecture.md, "What each package owns").
MAY_IMPORT: Mapping[str, frozenset[str]] = {
    "face": frozenset(GROUPS.values()),
    "core": frozenset(),
    "asgi": frozenset({"core"}),
    "http": frozenset({"core"}),
    "kafka": frozenset({"core"}),
    "decorators": frozenset({"core", "kafka"}),
    "moose": frozenset({"core", "kafka"}),
    "testing": frozenset({"core"}),
    "store": frozenset({"core"}),
    "query": frozenset({"core", "store"}),
    "console": frozenset({"core", "store", "query"}),
    "demo": frozenset({"core", "asgi", "http", "kafka", "decorators", "store", "query", "testing"}),
    "commands": frozenset({"core", "store", "query", "console", "demo"}),
}

# The query tool reads logs, whoever wrote them: of the core it uses only pure functions.
QUERY_MAY_USE_FROM_CORE = frozenset(
    {
        "moose_trace._memo",
        "moose_trace._record",
        "moose_trace._text",
        "moose_trace.tracing.ids",
        "moose_trace.logging.levels",
        "moose_trace.logging.paths",
    }
)

# Packages whose import graph must have no cycle (core's parts count as packages of their own).
CYCLE_UNITS = (
    "moose_trace.tracing",
    "moose_trace.logging",
    "moose_trace.errors",
    "moose_trace.metrics",
    "moose_trace.configuration",
    *(name for name, group in GROUPS.items() if group not in {"face", "core"}),
)

# Known debts, each with the reason it is still here. A debt that is paid makes the test fail
# until it is taken off this list, so the list only shrinks.
KNOWN: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Import:
    """One ``import`` or ``from … import`` in a module, resolved to absolute names."""

    importer: str
    target: str
    names: tuple[str, ...]
    line: int
    by_string: bool = False
    """Named in a string (``import_module``, a lazy loader's table), not an import statement."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(
    source: str, name: str, package: bool, modules: Mapping[str, object] | None = None
) -> Iterator[Import]:
    """Every import of ``moose_trace`` in ``source`` (module ``name``), relative ones resolved.

    With ``modules`` (the tree's module names), ``from package import module`` is an import of
    that module.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "moose_trace":
                    yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "moose_trace":
                continue
            names = tuple(alias.name for alias in node.names)
            submodules = [
                f"{target}.{n}" for n in names if modules is not None and f"{target}.{n}" in modules
            ]
            if submodules and len(submodules) == len(names):
                # ``from package import module``: the import is of the modules, not the package
                for submodule in submodules:
                    yield Import(name, submodule, (), node.lineno)
            else:
                yield Import(name, target, names, node.lineno)


DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__", "find_spec"})


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _strings_in(node: ast.AST) -> Iterator[ast.Constant]:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            yield inner


def string_imports_of(source: str, name: str, modules: Mapping[str, object]) -> Iterator[Import]:
    """Modules of the tree that ``source`` imports by naming them in a string.

    A literal first argument of ``import_module``/``__import__``/``find_spec``; and, in a module
    that imports by name at all (such a call, or a module ``__getattr__``), every module name
    in a module-level table (dict, tuple, list or set literal). Only names of the tree's modules
    count, so an old path that no longer exists, a logger name or a message is not an import.
    """
    tree = ast.parse(source)
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) in DYNAMIC_IMPORTERS:
            dynamic = True
            if node.args and isinstance(node.args[0], ast.Constant):
                target = node.args[0].value
                if isinstance(target, str) and target in modules:
                    yield Import(name, target, (), node.lineno, by_string=True)
    dynamic = dynamic or any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body
    )
    if not dynamic:
        return
    tables = (ast.Dict, ast.Tuple, ast.List, ast.Set)
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and isinstance(
            statement.value, tables
        ):
            for constant in _strings_in(statement.value):
                if constant.value in modules:
                    yield Import(name, constant.value, (), constant.lineno, by_string=True)


def private_attribute_uses(source: str, name: str, package: bool) -> Iterator[tuple[str, int]]:
    """``alias._name`` where ``alias`` is a moose_trace module imported into this one."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("moose_trace.") and alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for found in imports_of(ast.unparse(node), name, package):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{found.target}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_private(node.attr)
        ):
            yield f"{aliases[node.value.id]}.{node.attr}", node.lineno


# Libraries whose private state the fast paths read: only ``moose_trace._fastpath`` may.
WATCHED_LIBRARIES = ("structlog", "opentelemetry")
FASTPATH = "moose_trace._fastpath"


def third_party_private_uses(source: str) -> Iterator[tuple[str, int]]:
    """Private names of the watched libraries used in ``source``: imported, read, or looked up
    with ``getattr`` by name."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in WATCHED_LIBRARIES:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            if module.split(".")[0] not in WATCHED_LIBRARIES:
                continue
            for alias in node.names:
                if _is_private(alias.name) or any(_is_private(p) for p in module.split(".")):
                    yield f"{module}.{alias.name}", node.lineno
                aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_private(node.attr)
        ):
            yield f"{aliases[node.value.id]}.{node.attr}", node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in aliases
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield f"{aliases[node.args[0].id]}.{node.args[1].value}", node.lineno


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def group_of(module: str) -> str | None:
    best = None
    for prefix in GROUPS:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    return None if best is None else GROUPS[best]


def unit_of(module: str) -> str | None:
    """The package ``module`` counts as for cycles (the longest unit that contains it)."""
    found = [unit for unit in CYCLE_UNITS if module == unit or module.startswith(unit + ".")]
    return max(found, key=len, default=None)


def check_tree(modules: Mapping[str, tuple[str, bool]]) -> list[str]:
    """Every rule broken by ``modules`` (name -> (source, is package)), as readable lines."""
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for name, (source, package) in sorted(modules.items()):
        group = group_of(name)
        found_imports = [
            *imports_of(source, name, package, modules),
            *string_imports_of(source, name, modules),
        ]
        for found in found_imports:
            target_group = group_of(found.target)
            where = f"{name}:{found.line}"
            if found.by_string:
                where += " (by name)"
            if group is not None and target_group is not None and group != "face":
                if target_group == "face":
                    problems.append(f"{where} imports the public face {found.target}")
                elif target_group != group and target_group not in MAY_IMPORT[group]:
                    problems.append(
                        f"{where} imports {found.target}: {group} may not import {target_group}"
                    )
                elif (
                    group == "query"
                    and target_group == "core"
                    and found.target not in QUERY_MAY_USE_FROM_CORE
                ):
                    problems.append(f"{where} imports {found.target}: query uses no SDK state")
            for imported in found.names:
                submodule = f"{found.target}.{imported}"
                if _is_private(imported) and submodule not in modules:
                    problems.append(f"{where} imports private {imported} from {found.target}")
            source_unit, target_unit = unit_of(name), unit_of(found.target)
            if source_unit and target_unit and source_unit != target_unit:
                edges.setdefault(source_unit, set()).add(target_unit)
        if name != FASTPATH:
            problems.extend(
                f"{name}:{line} reads {private}: only {FASTPATH} reads another library's internals"
                for private, line in third_party_private_uses(source)
            )
        for private, line in private_attribute_uses(source, name, package):
            owner = private.rsplit(".", 1)[0]
            if owner != name and private not in modules:
                problems.append(f"{name}:{line} uses private {private}")
    problems.extend(f"package cycle: {' -> '.join(cycle)}" for cycle in _cycles(edges))
    return problems


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif len(path) < len(edges) + 1:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return cycles


def package_modules(root: Path = PACKAGE) -> dict[str, tuple[str, bool]]:
    return {
        module_name(path, root): (path.read_text(encoding="utf-8"), is_package(path))
        for path in sorted(root.rglob("*.py"))
    }


def without_known(problems: list[str]) -> list[str]:
    return [problem for problem in problems if _key(problem) not in KNOWN]


def _key(problem: str) -> str:
    """The problem without its line number, so an edit above it does not move the debt."""
    head, _, rest = problem.partition(" ")  # ``(by name)`` stays in ``rest``
    return f"{head.rsplit(':', 1)[0]} {rest}" if ":" in head else problem


# --- the checker can fail --------------------------------------------------------------------


def test_an_upward_import_between_layers_is_found() -> None:
    tree = {
        "moose_trace.store.sink": ("from moose_trace.query.errors import EngineError\n", False),
        "moose_trace.query.errors": ("class EngineError(Exception): ...\n", False),
    }
    assert check_tree(tree) == [
        "moose_trace.store.sink:1 imports moose_trace.query.errors: store may not import query"
    ]


def test_importing_a_private_name_from_another_module_is_found() -> None:
    tree = {
        "moose_trace.kafka.consumer": ("from moose_trace.tracing.context import _var\n", False),
        "moose_trace.tracing.context": ("_var = None\n", False),
    }
    assert check_tree(tree) == [
        "moose_trace.kafka.consumer:1 imports private _var from moose_trace.tracing.context"
    ]


def test_reading_a_private_attribute_of_an_imported_module_is_found() -> None:
    source = "from moose_trace.tracing import otel\n\ndef f():\n    return otel._SPAN_KEY\n"
    tree = {
        "moose_trace.logging.processors": (source, False),
        "moose_trace.tracing.otel": ("_SPAN_KEY = 1\n", False),
        "moose_trace.tracing": ("", True),
    }
    assert check_tree(tree) == [
        "moose_trace.logging.processors:4 uses private moose_trace.tracing.otel._SPAN_KEY"
    ]


def test_a_third_party_private_read_outside_the_fast_path_home_is_found() -> None:
    source = (
        "import structlog.contextvars as cv\n"
        "from opentelemetry import trace\n"
        "from structlog import _config\n"
        "VARS = cv._CONTEXT_VARS\n"
        "PROVIDER = getattr(trace, '_TRACER_PROVIDER', None)\n"
    )
    tree = {"moose_trace.logging.processors": (source, False), FASTPATH: (source, False)}
    assert check_tree(tree) == [
        f"moose_trace.logging.processors:{line} reads {name}: only {FASTPATH} reads another "
        "library's internals"
        for line, name in [
            (3, "structlog._config"),
            (4, "structlog.contextvars._CONTEXT_VARS"),
            (5, "opentelemetry.trace._TRACER_PROVIDER"),
        ]
    ]


def test_a_private_module_imported_by_name_is_allowed_and_the_face_is_not() -> None:
    tree = {
        "moose_trace.logging.config": ("from moose_trace.logging import _fast_line\n", False),
        "moose_trace.logging._fast_line": ("", False),
        "moose_trace.logging": ("", True),
        "moose_trace.metrics": ("from moose_trace import __version__\n", False),
    }
    assert check_tree(tree) == ["moose_trace.metrics:1 imports the public face moose_trace"]


def test_a_cycle_between_packages_is_found_even_inside_functions() -> None:
    tree = {
        "moose_trace.commands.demo": ("from moose_trace.demo import stories\n", False),
        "moose_trace.demo.stories": (
            "def run():\n    from moose_trace.commands.logs import main\n",
            False,
        ),
    }
    problems = check_tree(tree)
    assert (
        "moose_trace.demo.stories:2 imports moose_trace.commands.logs: demo may not import "
        + ("commands")
        in problems
    )
    assert "package cycle: moose_trace.commands -> moose_trace.demo -> moose_trace.commands" in (
        problems
    )


def test_a_string_named_upward_import_is_found() -> None:
    source = (
        "import importlib\n"
        "def engine():\n"
        "    return importlib.import_module('moose_trace.query.engine')\n"
    )
    tree = {
        "moose_trace.store.sink": (source, False),
        "moose_trace.query.engine": ("", False),
    }
    assert check_tree(tree) == [
        "moose_trace.store.sink:3 (by name) imports moose_trace.query.engine: "
        "store may not import query"
    ]


def test_a_lazy_loader_table_pointing_up_is_found() -> None:
    source = (
        "import importlib\n"
        "_LAZY = {\n"
        "    'traced_messages': 'moose_trace.kafka.consumer',\n"
        "    'new_trace_id': 'moose_trace.tracing.ids',\n"
        "}\n"
        "def __getattr__(name):\n"
        "    return getattr(importlib.import_module(_LAZY[name]), name)\n"
    )
    tree = {
        "moose_trace.tracing.otel": (source, False),
        "moose_trace.tracing.ids": ("", False),
        "moose_trace.kafka.consumer": ("", False),
    }
    assert check_tree(tree) == [
        "moose_trace.tracing.otel:3 (by name) imports moose_trace.kafka.consumer: "
        "core may not import kafka"
    ]


def test_a_moved_paths_table_outside_the_face_is_found() -> None:
    source = (
        "import importlib\n"
        "MOVED = {'moose_trace.old_cli': 'moose_trace.commands.main'}\n"
        "def load(old):\n"
        "    return importlib.import_module(MOVED[old])\n"
    )
    tree = {
        "moose_trace.logging.compat": (source, False),
        "moose_trace.commands.main": ("", False),
        "moose_trace._moved": (source, False),  # the face's own table may name every layer
    }
    assert check_tree(tree) == [
        "moose_trace.logging.compat:2 (by name) imports moose_trace.commands.main: "
        "core may not import commands"
    ]


def test_a_module_name_in_a_message_or_logger_name_is_no_import() -> None:
    source = (
        "import structlog\n"
        "LOG = structlog.get_logger('moose_trace.query.engine')\n"
        "HINT = ('see', 'moose_trace.query.engine')\n"
        "def fail():\n"
        "    raise ValueError('moose_trace.query.engine')\n"
    )
    tree = {
        "moose_trace.store.sink": (source, False),
        "moose_trace.query.engine": ("", False),
    }
    assert check_tree(tree) == []


# --- the package keeps the rules ---------------------------------------------------------------


def test_every_module_belongs_to_a_layer() -> None:
    assert [name for name in package_modules() if group_of(name) is None] == []


def test_imports_point_down_and_no_private_name_crosses_modules() -> None:
    problems = without_known(check_tree(package_modules()))
    assert problems == [], "\n".join(problems)


def test_every_known_debt_is_still_owed() -> None:
    owed = {_key(problem) for problem in check_tree(package_modules())}
    assert sorted(KNOWN - owed) == [], "paid: take these off KNOWN"
