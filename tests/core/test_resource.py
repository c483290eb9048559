"""Every line says where it comes from: OpenTelemetry resource fields and caller location."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.logging.resource import parse_resource_attributes, resource_fields

RESOURCE = (
    "service.name=from-resource,service.version=1.4.2,deployment.environment=prod,"
    "cloud.region=eu-west-1,host.name=web-7,unrelated.key=x"
)


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[io.StringIO]:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", RESOURCE)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    out = io.StringIO()
    yield out
    shutdown_logging()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_resource_attributes_are_on_every_line(stream: io.StringIO, tmp_path: Path) -> None:
    setup = configure_logging(stream=stream, log_dir=tmp_path, json=True)
    structlog.get_logger("app").info("hello")
    logging.getLogger("library").warning("from the stdlib")
    assert setup.service == "from-resource"  # service.name, when OTEL_SERVICE_NAME is unset
    for line in lines(stream):
        assert line["service_version"] == "1.4.2"
        assert line["deployment_environment"] == "prod"
        assert line["cloud_region"] == "eu-west-1"
        assert line["host_name"] == "web-7"
        assert "unrelated_key" not in line


def test_fields_the_event_has_win_and_resource_can_be_turned_off(
    stream: io.StringIO, tmp_path: Path
) -> None:
    configure_logging(stream=stream, log_dir=False, json=True, resource=False)
    structlog.get_logger().info("plain")
    configure_logging(stream=stream, log_dir=False, json=True)
    structlog.get_logger().info("own", cloud_region="us-east-2")
    plain, own = lines(stream)
    assert "service_version" not in plain
    assert own["cloud_region"] == "us-east-2"


def test_resource_attribute_parsing_follows_opentelemetry() -> None:
    assert parse_resource_attributes("a=1, b = x%20y ,junk,=v,c=") == {
        "a": "1",
        "b": "x y",
        "c": "",
    }
    assert resource_fields(
        {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=old,deployment.environment.name=new"}
    ) == {"deployment_environment": "new"}
    assert resource_fields({}) == {}


def test_caller_location_is_opt_in_and_names_the_logging_code(
    stream: io.StringIO, tmp_path: Path
) -> None:
    configure_logging(stream=stream, log_dir=False, json=True)
    structlog.get_logger().info("without")
    configure_logging(stream=stream, log_dir=False, json=True, caller=True)
    structlog.get_logger().info("with")
    line_of_structlog_call = sys._getframe().f_lineno - 1
    logging.getLogger("library").error("stdlib")
    line_of_stdlib_call = sys._getframe().f_lineno - 1
    without, with_, stdlib = lines(stream)
    assert "file" not in without
    this = "test_caller_location_is_opt_in_and_names_the_logging_code"
    assert (with_["file"], with_["line"], with_["function"]) == (
        __file__,
        line_of_structlog_call,
        this,
    )
    assert (stdlib["file"], stdlib["line"], stdlib["function"]) == (
        __file__,
        line_of_stdlib_call,
        this,
    )
