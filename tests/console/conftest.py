"""Fixtures of the console tests: the corpus and a real uvicorn server running the console."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from console_corpus import ConsoleCorpus, build_console_corpus
from console_server import ConsoleServer

from moose_trace.console.source import ConsoleSource, open_source


@pytest.fixture
def corpus(tmp_path: Path) -> ConsoleCorpus:
    return build_console_corpus(tmp_path / "logs")


@pytest.fixture
def start_console() -> Iterator[Callable[..., ConsoleServer]]:
    """Start a console over a source (stopped after the test)."""
    servers: list[ConsoleServer] = []

    def start(source: ConsoleSource, **options: Any) -> ConsoleServer:
        server = ConsoleServer(source, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def console(corpus: ConsoleCorpus, start_console: Callable[..., ConsoleServer]) -> ConsoleServer:
    """A console over the corpus directory, as ``moose-trace serve DIR`` runs it."""
    return start_console(open_source([str(corpus.directory)]))
