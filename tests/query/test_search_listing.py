"""A ``--search`` listing written on both cores is the Python engine's answer, as ``render``
writes it, byte for byte: same events, same order, same text, same count of lines skipped."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import orjson
import pytest
from query_runner import run_logs

from moose_trace.query.ast import AllOf, ListEvents, Query, Search
from moose_trace.query.language import parse_filter
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.render import RenderOptions, event_text, render
from moose_trace.query.search import search_lines, search_needle
from moose_trace.query.search_listing import search_listing
from moose_trace.query.text import TextOptions

WORDS = ["Timeout", "TIMEOUT waiting", "ärger", "ÄRGER", "ok", "jwt expired", "Ĳssel", "\u202e"]


def _corpus(folder: Path, rng: random.Random) -> list[Path]:
    paths = []
    for number in range(3):
        lines = []
        for index in range(300):
            kind = rng.randrange(12)
            if kind == 0:
                lines.append(f"not json but timeout ärger {index}".encode())
                continue
            if kind == 1:
                lines.append(b"")
                continue
            if kind == 6:  # escapes: a lone surrogate, a letter the search folds
                lines.append(b'{"level":"error","event":"timeout \\ud800 \\u00c4RGER jwt expired"}')
                continue
            second = rng.randrange(60)
            event: dict[str, object] = {
                "timestamp": f"2026-01-0{1 + index % 3}T10:{index % 60:02d}:{second:02d}Z",
                "level": rng.choice(["info", "error", "warning"]),
                "event": f"{rng.choice(WORDS)} {index}",
                "service": rng.choice(["ingest", "sync"]),
                "n": number * 1000 + index,
            }
            if kind == 2:
                event["error_type"], event["error_message"] = "TimeoutError", "timed out"
            if kind == 3:
                event["span"] = {"name": "x", "detail": rng.choice(WORDS)}
            if kind == 4:
                del event["timestamp"]
            if kind == 5:
                event["latency_ms"] = rng.random() * 1000
            lines.append(orjson.dumps(event))
        if number == 1:
            lines.append(lines[5])  # the same line twice: equal keys
        body = b"\n".join(lines) + b"\n"
        if number == 2:  # a rotated file: decompressed and scanned the same way
            path = folder / f"part-{number}.jsonl.gz"
            path.write_bytes(gzip.compress(body))
        else:
            path = folder / f"part-{number}.jsonl"
            path.write_bytes(body)
        paths.append(path)
    return paths


def _expected(paths: list[Path], query: Query, needles: list[str], options: RenderOptions):  # type: ignore[no-untyped-def]
    result = PythonEngine(lambda: search_lines(paths, needles)).run(query)
    out = io.StringIO()
    count = render(result, out, options)
    return out.getvalue(), count, result.skipped()  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["timeout", "ärger", "jwt expired", "nowhere"])
@pytest.mark.parametrize("format_", ["text", "json"])
def test_the_listing_is_the_engine_s_answer_written_by_render(
    tmp_path: Path, split_scans: list[int], text: str, format_: str
) -> None:
    paths = _corpus(tmp_path, random.Random(text + format_))
    needles = [search_needle(text)]
    options = RenderOptions(format_, TextOptions(include_metrics=True))  # type: ignore[arg-type]
    searched = Search(needles[0])
    for where in (AllOf((searched,)), AllOf((searched, parse_filter("level=error")))):
        # --limit N: only the latest N are written (the whole listing's end, in its order)
        for mode in (ListEvents(), ListEvents(limit=7), ListEvents(limit=1)):
            query = Query(where, mode)
            expected, count, skipped = _expected(paths, query, needles, options)
            for parallel in (False, True):
                listing = search_listing(
                    paths,
                    needles,
                    query,
                    lambda event: event_text(event, options),
                    parallel=parallel,
                )
                assert "".join(listing.texts) == expected
                assert len(listing.texts) == count
                assert listing.skipped == skipped
            if mode.limit is not None and text != "nowhere":
                assert count == mode.limit
    assert len(split_scans) == 6  # the parallel runs were split across processes
    assert (text == "nowhere") == (count == 0)


def test_the_command_writes_the_same_listing_with_and_without_a_limit(tmp_path: Path) -> None:
    """A ``--limit`` larger than the listing changes nothing: the same lines, the same notes."""
    paths = _corpus(tmp_path, random.Random(5))
    whole = run_logs(tmp_path, "--search", "TIMEOUT")
    limited = run_logs(tmp_path, "--search", "TIMEOUT", "--limit", "1000000")
    assert whole.code == limited.code == 0
    assert whole.out == limited.out
    assert whole.out.count("\n") > 100
    assert whole.err == limited.err
    assert "lines that are not JSON log events" in whole.err
    assert len(paths) == 3
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip at all")
    told = run_logs(tmp_path, "--search", "TIMEOUT", "--format", "json")
    assert told.code == 0
    assert "skipped" in told.err
    assert "broken.jsonl.gz" in told.err
    engine = run_logs(tmp_path, "--search", "TIMEOUT", "--format", "json", "--limit", "1000000")
    assert told.out == engine.out
    assert told.out.count("\n") > 100
