"""What the decorator tests read back: the real daily log file, the real SDK's finished spans."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.logging.config import LoggingSetup


class Logs:
    """What the decorated code logged, read back from the real daily file."""

    def __init__(self, setup: LoggingSetup) -> None:
        self.setup = setup

    def lines(self, logger: str | None = "moose_trace.decorators") -> list[dict[str, Any]]:
        """Every event in the file (only the decorators' own unless ``logger=None``)."""
        path = self.setup.log_file()
        assert path is not None
        if not path.exists():
            return []
        events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        return [e for e in events if logger is None or e.get("logger") == logger]

    def raw(self) -> str:
        """The file's text: for asserting that something never reached the sink."""
        path = self.setup.log_file()
        assert path is not None
        return path.read_text() if path.exists() else ""

    def one(self, **match: Any) -> dict[str, Any]:
        """The single decorator event whose fields include ``match``."""
        found = [e for e in self.lines() if all(e.get(k) == v for k, v in match.items())]
        assert len(found) == 1, (match, self.lines())
        return found[0]


class Spans:
    """The finished spans of the real SDK provider."""

    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    def finished(self) -> list[ReadableSpan]:
        """Spans ended so far, in end order."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``."""
        found = [span for span in self.finished() if span.name == name]
        assert len(found) == 1, [span.name for span in self.finished()]
        return found[0]
