"""Old module paths that still import, each as the module that now lives elsewhere.

The package was regrouped by concept (``tracing``, ``logging``, ``errors``, ``store``,
``commands``, ``testing``; see docs/architecture.md). Code written against the old paths
(``import moose_trace.context``, ``from moose_trace.cli import main``, ``python -m
moose_trace.query.cli``) keeps working: importing an old path gives the very module object of
the new one (so ``monkeypatch`` and ``isinstance`` see one module) and warns once with a
``DeprecationWarning`` naming the new path. The finder is consulted last, only for names no real
module has.
"""

from __future__ import annotations

import sys

# Only ``sys`` at import: ``import moose_trace`` runs this module on the way to every command,
# and no old path is imported there. What loading one needs is imported when one is.
TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import importlib.machinery
    from collections.abc import Sequence
    from types import CodeType, ModuleType

__all__ = ["MOVED_MODULES", "install"]

MOVED_MODULES: dict[str, str] = {
    "moose_trace.ids": "moose_trace.tracing.ids",
    "moose_trace.context": "moose_trace.tracing.context",
    "moose_trace.propagation": "moose_trace.tracing.propagation",
    "moose_trace.tracestate": "moose_trace.tracing.tracestate",
    "moose_trace.baggage": "moose_trace.tracing.baggage",
    "moose_trace.otel": "moose_trace.tracing.otel",
    "moose_trace.threads": "moose_trace.tracing.threads",
    "moose_trace.log_config": "moose_trace.logging.config",
    "moose_trace.processors": "moose_trace.logging.processors",
    "moose_trace.redaction": "moose_trace.logging.redaction",
    "moose_trace.caller": "moose_trace.logging.caller",
    "moose_trace.resource": "moose_trace.logging.resource",
    "moose_trace.paths": "moose_trace.logging.paths",
    "moose_trace.signature": "moose_trace.errors.signature",
    "moose_trace.dlq": "moose_trace.decorators.dead_letters",
    "moose_trace.setup": "moose_trace.configuration",
    "moose_trace.broker": "moose_trace.testing.broker",
    "moose_trace.retention": "moose_trace.store.retention",
    "moose_trace.clickhouse.sink": "moose_trace.store.clickhouse.sink",
    "moose_trace.clickhouse.schema": "moose_trace.store.clickhouse.schema",
    "moose_trace.clickhouse.transport": "moose_trace.store.clickhouse.transport",
    "moose_trace.clickhouse.spool": "moose_trace.store.clickhouse.spool",
    "moose_trace.clickhouse.wal": "moose_trace.store.clickhouse.wal",
    "moose_trace.clickhouse.url": "moose_trace.store.clickhouse.url",
    "moose_trace.clickhouse.engine": "moose_trace.query.clickhouse_engine",
    "moose_trace.clickhouse.ingest": "moose_trace.query.ingest",
    "moose_trace.clickhouse.cli": "moose_trace.commands.ingest",
    "moose_trace.cli": "moose_trace.commands.main",
    "moose_trace.query.cli": "moose_trace.commands.logs",
    "moose_trace.prune": "moose_trace.commands.prune",
    "moose_trace.console.cli": "moose_trace.commands.serve",
    "moose_trace.demo.cli": "moose_trace.commands.demo",
    "moose_trace.query.errors": "moose_trace.query.exceptions",
    "moose_trace.demo.errors": "moose_trace.demo.exceptions",
    "moose_trace.query.follow": "moose_trace.query.follow_files",
    "moose_trace.query.poll_follow": "moose_trace.query.follow_store",
    # private modules: no promise, but code written against them keeps running while it moves
    "moose_trace._otel_sdk": "moose_trace.tracing._otel_sdk",
    "moose_trace._otlp": "moose_trace.tracing._otlp",
    "moose_trace._bound_logger": "moose_trace.logging._bound_logger",
    "moose_trace._fast_line": "moose_trace.logging._fast_line",
    "moose_trace._levels": "moose_trace.logging.levels",
    "moose_trace.logging._levels": "moose_trace.logging.levels",
    "moose_trace._log_outputs": "moose_trace.logging._outputs",
    "moose_trace._secret_keys": "moose_trace.logging._secret_keys",
    "moose_trace._secret_values": "moose_trace.logging._secret_values",
    "moose_trace._error_rules": "moose_trace.errors._rules",
    "moose_trace.decorators._records": "moose_trace.decorators._inputs",
}
"""Old module path -> the module it now is."""


class _MovedModuleLoader:
    """Loads an old path as the new module itself (no copy), warning once.

    A loader and a finder by their methods, not by ``importlib.abc`` (which imports
    ``importlib.resources`` and ``tempfile``: start-up every ``moose-trace`` command paid).
    """

    def __init__(self, old: str, new: str) -> None:
        self.old = old
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        import importlib  # noqa: PLC0415 (see the imports at the top)
        import warnings  # noqa: PLC0415

        warnings.warn(
            f"{self.old} moved to {self.new}; import it from there",
            DeprecationWarning,
            stacklevel=2,  # the importing line: warnings skips the import system's frames
        )
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the old spec on the module; give it back its own.
        module.__spec__ = self._spec

    def load_module(self, fullname: str) -> ModuleType:
        """The legacy loader call (the import system uses ``create_module``): the new module."""
        import importlib  # noqa: PLC0415

        return importlib.import_module(self.new)

    def get_code(self, fullname: str) -> CodeType | None:
        """The new module's code: what ``python -m <old path>`` runs."""
        import importlib.util  # noqa: PLC0415

        spec = importlib.util.find_spec(self.new)
        loader = spec.loader if spec is not None else None
        get_code = getattr(loader, "get_code", None)
        return None if get_code is None else get_code(self.new)


class _MovedModuleFinder:
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        import importlib.util  # noqa: PLC0415

        return importlib.util.spec_from_loader(fullname, _MovedModuleLoader(fullname, new))


def install() -> None:
    """Make the old module paths importable (idempotent; ``import moose_trace`` calls it)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
