"""Real logging and a real OpenTelemetry SDK for the decorator tests.

``logs`` runs ``configure_logging`` (the production chain) into a temporary log directory and
reads back the daily JSON Lines file. ``spans`` installs an SDK ``TracerProvider`` as the global
one with ``configure_tracing`` (as an app does) exporting to memory, and puts the previous global
state back afterwards, so tests elsewhere still see "no tracer provider".
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from decorator_helpers import Logs, Spans
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.tracing.otel import configure_tracing


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Logs]]:
    """Configure the production logging chain with options; yields a maker of ``Logs``."""
    for name in [name for name in os.environ if name.startswith("LOG_LEVEL")]:
        monkeypatch.delenv(name)

    def run(**options: Any) -> Logs:
        options.setdefault("log_dir", tmp_path / "logs")
        setup = configure_logging("decorators-test", stream=io.StringIO(), json=True, **options)
        return Logs(setup)

    yield run
    shutdown_logging()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def logs(configure: Callable[..., Logs]) -> Logs:
    """The production logging chain with default options."""
    return configure()


@pytest.fixture
def spans() -> Iterator[Spans]:
    """A global SDK tracer provider with moose-trace ids, exporting each span to memory."""
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done)
    exporter = InMemorySpanExporter()
    provider = configure_tracing("decorators-test", exporter=exporter, batch=False)
    assert provider is not None
    yield Spans(provider, exporter)
    provider.shutdown()
    otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done = saved
