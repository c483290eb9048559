"""``WS /api/stream``: new matching events arrive one JSON message each, in written order."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson
import pytest
from console_corpus import ConsoleCorpus, iso
from console_server import ConsoleServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def _event(text: str, level: str = "info") -> dict[str, str]:
    return {"timestamp": iso(datetime.now(timezone.utc)), "level": level, "event": text}


def test_appended_lines_stream_in_order_and_filtered(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    with connect(console.ws_url + "/api/stream?level=warning%2B", open_timeout=10) as socket:
        socket.ping().wait(5)  # connected: the follower has its starting point
        time.sleep(0.3)  # the follower thread takes the files' ends after accepting
        written = time.monotonic()
        corpus.append(_event("ignored: below warning", "info"))
        for index in range(3):
            corpus.append(_event(f"disk almost full {index}", "warning"))
        received = [orjson.loads(socket.recv(timeout=5)) for _ in range(3)]
        took = time.monotonic() - written
    assert [event["event"] for event in received] == [f"disk almost full {i}" for i in range(3)]
    assert all(event["level"] == "warning" for event in received)
    assert took < 5


def test_a_new_file_in_the_directory_is_followed(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    with connect(console.ws_url + "/api/stream", open_timeout=10) as socket:
        socket.ping().wait(5)
        time.sleep(0.3)
        (corpus.directory / "worker-2026-12-08.jsonl").write_bytes(
            orjson.dumps(_event("from a new file")) + b"\n"
        )
        assert orjson.loads(socket.recv(timeout=5))["event"] == "from a new file"


def test_bad_stream_filter_closes_with_the_reason(console: ConsoleServer) -> None:
    url = console.ws_url + "/api/stream?level=loud"
    with (
        connect(url, open_timeout=10) as socket,
        pytest.raises(ConnectionClosed, match="bad level"),
    ):
        socket.recv(timeout=5)
