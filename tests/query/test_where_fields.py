"""``moose-trace logs`` filters and groups by the where-and-for-whom fields: resource
attributes, caller location and allow-listed baggage, as the SDK writes them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from query_runner import run_logs

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.tracing.baggage import configure_baggage
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.propagation import bind_incoming, extract_incoming

RESOURCE = "service.version=1.4.2,deployment.environment=prod,cloud.region=eu-west-1"


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", RESOURCE)
    yield io.StringIO()
    shutdown_logging()
    configure_baggage()


def test_logs_filter_and_group_by_resource_caller_and_baggage_fields(
    stream: io.StringIO, tmp_path: Path
) -> None:
    configure_logging("checkout", stream=stream, log_dir=tmp_path, json=True, caller=True)
    log = structlog.get_logger("app")
    for tenant in ("acme", "acme", "globex"):
        incoming = extract_incoming({"baggage": f"tenant_id={tenant},user_id=u-{tenant}"})
        with trace_context():
            bind_incoming(incoming)
            log.info("order placed")
    shutdown_logging()

    def query(*args: str) -> list[dict[str, object]]:
        run = run_logs(tmp_path, "--format", "json", "--no-progress", *args)
        assert run.code == 0, run.err
        return [json.loads(line) for line in run.lines]

    acme = query("--filter", "tenant_id=acme,deployment_environment=prod")
    assert [line["user_id"] for line in acme] == ["u-acme", "u-acme"]
    assert query("--filter", "cloud_region=eu-west-1,service_version=1.4.2,function=test_*")
    assert len(query("--filter", f"file={__file__}")) == 3
    groups = run_logs(tmp_path, "--no-progress", "--group-by", "tenant_id,cloud_region")
    assert groups.code == 0, groups.err
    assert "acme" in groups.out
    assert "globex" in groups.out
    assert "eu-west-1" in groups.out
