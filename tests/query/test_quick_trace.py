"""``logs --trace ID`` answered from the indexes without argparse gives the full command's output.

``commands.quick_trace`` answers the commonest lookup in a fraction of the full command's
start-up. It must never answer differently: each shape it takes is run both ways on the same
files and compared byte for byte (stdout, stderr, exit status); each shape it must not take
(another option, an error to explain, a file without a usable index) is handed to the full
command untouched.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import orjson
import pytest
from query_runner import Run
from story_corpus import StoryCorpus

from moose_trace.commands import quick_trace as quick_module
from moose_trace.commands.main import main
from moose_trace.commands.parser import run_parsed
from moose_trace.query.trace_index import INDEX_DIR_NAME, build_indexes

ROOT = Path(__file__).resolve().parents[2]


def _captured(action: object, *args: object) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = action(*args)  # type: ignore[operator]
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def _quick(*args: str) -> Run | None:
    code, out, err = _captured(quick_module.quick_trace, list(args))
    if code is None:
        assert (out, err) == ("", ""), "the quick path wrote before handing over"
        return None
    return Run(code, out, err)


def _full(*args: str) -> Run:
    code, out, err = _captured(run_parsed, ["logs", *args])
    assert code is not None
    return Run(code, out, err)


def _entry(*args: str) -> Run:
    code, out, err = _captured(main, ["logs", *args])
    assert code is not None
    return Run(code, out, err)


@pytest.fixture
def indexed(stories: StoryCorpus) -> StoryCorpus:
    """The story corpus with every file indexed (as the background indexer leaves it)."""
    build_indexes(sorted(stories.directory.glob("*.jsonl*")))
    return stories


def _shapes(corpus: StoryCorpus) -> list[list[str]]:
    directory = str(corpus.directory)
    failed = corpus.failed_ingest_trace
    files = [str(path) for path in sorted(corpus.directory.glob("*.jsonl"))]
    return [
        [directory, "--trace", failed],
        ["--trace", failed, directory],
        [f"--trace={failed.upper()}", directory, "--no-progress"],
        [directory, "--trace", f"  {failed.replace('-', '')}  "],
        [directory, "--trace", failed, "--format", "json"],
        [directory, "--trace", failed, "--format=text", "--verbose"],
        [directory, "--trace", failed, "--color", "always", "--no-pager"],
        [directory, "--trace", failed, "--color=never", "--verbose", "--format", "json"],
        [directory, "--trace", corpus.ok_ingest_trace],
        [directory, "--trace", corpus.foo_record_trace],
        [*files, "--trace", failed],
        [directory, directory, "--trace", failed],
    ]


def test_every_shape_it_takes_answers_as_the_full_command(indexed: StoryCorpus) -> None:
    for args in _shapes(indexed):
        quick = _quick(*args)
        assert quick is not None, f"not answered quickly: {args}"
        assert quick == _full(*args), args
        assert quick.code == 0
        assert "trace " in quick.out or quick.out.startswith("{")


def test_a_trace_with_no_event_gets_the_full_commands_note(
    indexed: StoryCorpus, tmp_path: Path
) -> None:
    """Said here, not by the full command: a first lookup would search everything twice."""
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = "0193f0c2-7b1e-7c3a-9d2f-00000000beef"
    for args in (
        [str(indexed.directory), "--trace", missing],
        [str(indexed.directory), "--trace", missing, "--format", "json"],
        [str(empty), "--trace", missing],
    ):
        quick = _quick(*args)
        assert quick is not None
        assert quick == _full(*args)
        assert quick.out == ""
        assert "no matching events in" in quick.err
        assert quick.code == 0


def test_the_default_log_directory_is_read_too(
    indexed: StoryCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOOSE_TRACE_LOG_DIR", str(indexed.directory))
    quick = _quick("--trace", indexed.failed_ingest_trace)
    assert quick is not None
    assert quick == _full("--trace", indexed.failed_ingest_trace)


def _trace_lines(trace: str, start: int, count: int) -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "timestamp": f"2026-01-09T10:00:{second:02d}.000000Z",
                "level": "info",
                "event": f"late step {second}",
                "service": "late",
                "trace_id": trace.upper() if second % 2 else trace,
                "span_id": f"{second:016x}",
            }
        )
        + b"\n"
        for second in range(start, start + count)
    )


def test_a_file_grown_since_indexing_is_answered_with_its_new_lines(
    indexed: StoryCorpus,
) -> None:
    trace = indexed.failed_ingest_trace
    live = max(indexed.directory.glob("*.jsonl"), key=lambda path: path.stat().st_size)
    with open(live, "ab") as file:
        file.write(_trace_lines(trace, 1, 3))
        file.write(b'{"level": "info", "event": "no trace here"}\n')
        file.write(_trace_lines(trace, 4, 1)[:-1])  # the last line, its newline not yet written
    args = [str(indexed.directory), "--trace", trace]
    quick = _quick(*args)
    assert quick is not None
    assert quick == _full(*args)
    assert "late step 4" in _quick(*args, "--verbose", "--format", "json").out  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "5"],
        ["--flat"],
        ["--format", "csv"],
        ["--follow"],
        ["--level", "error"],
        ["--trac"],  # an abbreviation: argparse's to accept or refuse
        ["--"],
        ["-h"],
    ],
)
def test_other_options_go_to_the_full_command(indexed: StoryCorpus, args: list[str]) -> None:
    full_args = [str(indexed.directory), "--trace", indexed.failed_ingest_trace, *args]
    assert _quick(*full_args) is None
    if "--follow" not in args and "-h" not in args:
        assert _entry(*full_args) == _full(*full_args)


def test_what_needs_explaining_goes_to_the_full_command(
    indexed: StoryCorpus, tmp_path: Path
) -> None:
    directory = str(indexed.directory)
    trace = indexed.failed_ingest_trace
    cases = [
        [directory, "--trace", "not-a-trace-id"],
        [directory, "--trace", "00000000-0000-0000-0000-000000000000"],
        [directory, "--trace", trace, "--trace", trace],
        [directory, "--trace", trace, directory],  # two runs of sources: argparse's error
        [str(tmp_path / "missing"), "--trace", trace],
        [f"{directory}/*.jsonl", "--trace", trace],  # a glob
        ["timeout", "--trace", trace],  # a bare word: a search
        [directory, "--trace"],
        [directory, "--trace", "--verbose"],
        [directory, "--format", "yaml", "--trace", trace],
    ]
    for args in cases:
        assert _quick(*args) is None, args
        assert _entry(*args) == _full(*args), args


def _from_indexes(directory: Path, trace: str) -> list[bytes] | None:
    """The lines the lean index reader gives (``None``: an index does not hold, so the quick
    path searches as the full command does)."""
    files = sorted(str(path) for path in directory.glob("*.jsonl*"))
    return quick_module._candidate_lines(files, [trace.replace("-", "")])


def _same_both_ways(args: list[str], expected: str) -> None:
    quick = _quick(*args, "--verbose")
    assert quick is not None
    assert quick == _full(*args, "--verbose")
    assert expected in quick.out


def test_an_index_that_no_longer_holds_is_never_read(tmp_path: Path) -> None:
    """No index, a file rewritten, replaced, grown a lot: the index reader declines, the answer
    comes from a search (and the index is rebuilt), the same as the full command's."""
    trace = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    logs = tmp_path / "logs"
    logs.mkdir()
    plain = logs / "a.jsonl"
    plain.write_bytes(_trace_lines(trace, 1, 5))
    args = [str(logs), "--trace", trace]
    assert _from_indexes(logs, trace) is None  # no index yet
    _same_both_ways(args, "late step 1")
    assert _from_indexes(logs, trace)  # a small file is indexed on the way

    # rewritten in place, same size, its times put back: the CRC tells
    stat = plain.stat()
    plain.write_bytes(plain.read_bytes().replace(b"late step 1", b"late step 9"))
    os.utime(plain, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _from_indexes(logs, trace) is None
    _same_both_ways(args, "late step 9")

    # replaced by another file (rotation): another inode
    build_indexes([plain])
    replacement = logs / "a.new"
    replacement.write_bytes(_trace_lines(trace, 20, 5))
    os.replace(replacement, plain)
    assert _from_indexes(logs, trace) is None
    _same_both_ways(args, "late step 20")

    # grown by more than the index reader searches itself
    build_indexes([plain])
    with open(plain, "ab") as file:
        file.write(_trace_lines(trace, 30, 2) + b" " * 64 + b"\n")
    original = quick_module.TAIL_BYTES
    quick_module.TAIL_BYTES = 16
    try:
        assert _from_indexes(logs, trace) is None
        _same_both_ways(args, "late step 31")
    finally:
        quick_module.TAIL_BYTES = original
    assert _from_indexes(logs, trace)

    # an odd line among the candidates: the full command counts and says it
    build_indexes([plain])
    with open(plain, "ab") as file:
        file.write(f'{{"trace_id": "{trace}", broken\n'.encode())
    assert _quick(*args) is None
    assert "skipped 1 line that is not a JSON log event" in _entry(*args).err

    # a compressed file: read from the index when it holds none of the trace, else through gzip
    packed = logs / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(_trace_lines("0193f0c2-7b1e-7c3a-9d2f-00000000beef", 1, 2)))
    plain.write_bytes(_trace_lines(trace, 1, 5))
    build_indexes([plain, packed])
    assert _from_indexes(logs, trace)
    assert _quick(*args) == _full(*args)
    packed.write_bytes(gzip.compress(_trace_lines(trace, 40, 2)))
    build_indexes([packed])
    assert _from_indexes(logs, trace) is None
    _same_both_ways(args, "late step 40")


def test_a_first_lookup_searches_and_answers_as_the_full_command(tmp_path: Path) -> None:
    """Files too large to index on the way: searched on both cores, indexed in the background."""
    trace = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    logs = tmp_path / "logs"
    logs.mkdir()
    filler = b"".join(
        orjson.dumps({"level": "info", "event": "other", "n": n, "pad": "x" * 200}) + b"\n"
        for n in range(2000)
    )
    for name in ("a.jsonl", "b.jsonl"):
        (logs / name).write_bytes(filler + _trace_lines(trace, 1 if name == "a.jsonl" else 5, 4))
    args = [str(logs), "--trace", trace]
    quick = _quick(*args, "--verbose")
    assert quick is not None
    assert "late step 8" in quick.out
    assert quick == _full(*args, "--verbose")
    marker = logs / INDEX_DIR_NAME / "building"
    deadline = time.monotonic() + 60
    while marker.exists() or _from_indexes(logs, trace) is None:
        assert time.monotonic() < deadline, "the background index never appeared"
        time.sleep(0.05)
    assert quick == _quick(*args, "--verbose")  # now from the indexes


def test_an_unlistable_or_odd_index_is_never_trusted(tmp_path: Path) -> None:
    trace = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "a.jsonl"
    path.write_bytes(_trace_lines(trace, 1, 3))
    build_indexes([path])
    index = logs / INDEX_DIR_NAME / "a.jsonl.idx"
    data = index.read_bytes()
    args = [str(logs), "--trace", trace]
    for broken in (b"", data[:20], b"MTIX1\n" + data[6:], data[: len(data) - 8]):
        index.write_bytes(broken)
        assert _from_indexes(logs, trace) is None
        _same_both_ways(args, "late step 3")


def test_the_quick_path_loads_no_heavy_module(indexed: StoryCorpus) -> None:
    """What makes it quick: none of the modules the full command's start-up is made of.

    Run without ``site`` (a development install's import hook loads some of them itself); the
    console script imports ``re`` before anything of ours, so it does here too.
    """
    code = (
        "import re, sys\n"
        "from moose_trace.commands.main import main\n"
        f"code = main(['logs', {str(indexed.directory)!r}, '--trace', "
        f"{indexed.failed_ingest_trace!r}])\n"
        "heavy = {'argparse', 'typing', 'pathlib', 'datetime', 'json', 'dataclasses',"
        " 'contextlib', 'struct', 'mmap', 'gzip', 'subprocess', 'orjson', 'structlog'}\n"
        "print(code, sorted(heavy & set(sys.modules)), file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.stdout.startswith("trace ")
    assert run.stderr.strip().splitlines()[-1] == "0 []"
