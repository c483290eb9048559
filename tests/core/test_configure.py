"""configure(): logging and tracing in one call, with and without the OpenTelemetry SDK.

Tracing installs OpenTelemetry's global provider, which a process can set only once: those
checks run in a child process so the rest of the suite keeps OpenTelemetry unconfigured.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from moose_trace.configuration import configure
from moose_trace.logging.config import shutdown_logging
from moose_trace.tracing.context import trace_context


@pytest.fixture(autouse=True)
def _shutdown() -> Iterator[None]:
    yield
    shutdown_logging()
    structlog.contextvars.clear_contextvars()


def test_configure_without_tracing_sets_up_logging(tmp_path: Path) -> None:
    stream = io.StringIO()
    result = configure("ingest", tracing=False, stream=stream, json=True, log_dir=tmp_path)
    assert result.tracer_provider is None
    assert result.logging.service == "ingest"
    with trace_context(type="ingest", name="UserEvent") as ctx:
        structlog.get_logger().info("ingested", records=5)
        logging.getLogger("lib").info("bridged")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["trace_id"] for line in lines] == [ctx.trace_id, ctx.trace_id]
    log_file = result.logging.log_file()
    assert log_file is not None
    assert len(log_file.read_bytes().splitlines()) == 2


_WITH_SDK = """
import io, sys, orjson, structlog
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import moose_trace.configuration as setup
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import trace_id_from_int

stream, exporter = io.StringIO(), InMemorySpanExporter()
first = setup.configure("ingest", exporter=exporter, stream=stream, json=True, log_dir=sys.argv[1])
again = setup.configure("ingest", exporter=exporter, stream=stream, json=True, log_dir=sys.argv[1])
assert first.tracer_provider is again.tracer_provider is trace.get_tracer_provider()
with trace_context("0193F0C27B1E7C3A9D2F0123456789AB") as ctx:
    with trace.get_tracer("t").start_as_current_span("ingest") as span:
        structlog.get_logger().info("in a span")
again.tracer_provider.force_flush()
[line] = [orjson.loads(l) for l in stream.getvalue().splitlines()]
[finished] = exporter.get_finished_spans()
assert line["trace_id"] == ctx.trace_id == trace_id_from_int(finished.context.trace_id)
assert line["span_id"] == f"{finished.context.span_id:016x}"
print("ok")
"""

_WITHOUT_SDK = """
import importlib.abc, io, sys

class NoSdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("opentelemetry.sdk"):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NoSdk())
import orjson, structlog
from opentelemetry import trace
import moose_trace.configuration as setup
from moose_trace.tracing.context import trace_context

stream = io.StringIO()
result = setup.configure("ingest", stream=stream, json=True, log_dir=sys.argv[1])
assert result.tracer_provider is None
with trace_context() as ctx, trace.get_tracer("t").start_as_current_span("noop"):
    structlog.get_logger().info("no sdk")
[line] = [orjson.loads(l) for l in stream.getvalue().splitlines()]
assert (line["trace_id"], line["span_id"]) == (ctx.trace_id, ctx.span_id)
print("ok")
"""


@pytest.mark.parametrize("script", [_WITH_SDK, _WITHOUT_SDK], ids=["with-sdk", "without-sdk"])
def test_configure_with_tracing_in_a_fresh_process(script: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr
