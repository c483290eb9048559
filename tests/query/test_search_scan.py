"""The byte scan of ``--search`` keeps exactly the lines the search rule keeps, whichever way it
pre-screens, on one core or split across processes."""

from __future__ import annotations

import gzip
import itertools
import platform
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moose_trace.query import caseless_scan, search
from moose_trace.query.parallel_scan import split_parts
from moose_trace.query.predicate import line_has
from moose_trace.query.search import PLAIN_CHARACTERS, search_lines, search_needle
from moose_trace.query.sources import UnreadableFile


def test_plain_characters_are_the_ascii_only_themselves_lowercase_to() -> None:
    """The pre-screen is sound only if no other character lowercases to a plain one."""
    strays = {
        char
        for char in map(chr, range(0x80, 0x110000))
        if any(lowered in PLAIN_CHARACTERS for lowered in char.lower())
    }
    assert strays == set()
    assert {"i", "k"} & PLAIN_CHARACTERS == set()
    assert "İ".lower()[0] == "i"  # why i and k are left out
    assert "\u212a".lower() == "k"


ALPHABET = 'aAiIkKjJxX ._"\\é ÉäÄİ\u212aßΩω0-'
texts = st.text(alphabet=ALPHABET, max_size=12)


def _line(text: str) -> bytes:
    return b'{"event": "' + text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"}'


WAYS = ["hyperscan", "anchor", "folded", "text"]
"""Every pre-screen: Hyperscan (``native``), the anchor byte, the lowercased chunks, or decoded
chunks (needles with no plain character)."""


def _plans(monkeypatch: pytest.MonkeyPatch, way: str) -> bool:
    """Force one pre-screen; return the ``native`` argument that goes with it."""
    if way == "anchor":
        monkeypatch.setattr(caseless_scan, "_BYTES_PER_HIT", 0)
    elif way == "folded":
        monkeypatch.setattr(caseless_scan, "_BYTES_PER_HIT", 10**12)
    elif way == "text":
        monkeypatch.setattr(search, "PLAIN_CHARACTERS", frozenset())
    monkeypatch.setattr(caseless_scan, "_CHUNK", 64)
    monkeypatch.setattr(search, "_TEXT_CHUNK", 64)
    return way == "hyperscan"


def test_hyperscan_is_installed_with_the_query_extra() -> None:
    """Where its wheel exists (pyproject's marker: Linux x86-64, macOS, Windows), the fast
    scanner is what users of the ``query`` extra get."""
    wheel = (sys.platform == "linux" and platform.machine() == "x86_64") or sys.platform in (
        "darwin",
        "win32",
    )
    assert caseless_scan.native_available() == wheel


@pytest.mark.skipif(not caseless_scan.native_available(), reason="no Hyperscan wheel here")
def test_the_scanner_loads_hyperscan_without_its_package_face() -> None:
    """The wheel's ``hyperscan/__init__.py`` imports ``typing``; a search loads only the compiled
    module (a fresh interpreter, as a user's command starts), and finds the same lines."""
    code = (
        "import sys\n"
        "from moose_trace.query.caseless_scan import caseless_finder\n"
        "find = caseless_finder([b'rger'], native=True)\n"
        "print(list(find(b'ok\\nMERGER\\nno\\n', 0, 13)))\n"
        "print('hyperscan' in sys.modules, 'hyperscan._hs_ext' in sys.modules)\n"
    )
    import subprocess  # noqa: PLC0415 (this test only)

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["[3]", "False True"]


@pytest.mark.parametrize("way", WAYS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(texts, max_size=12),
    wanted=st.lists(texts.filter(bool), min_size=1, max_size=2),
)
def test_every_pre_screen_keeps_exactly_the_rule_s_lines(
    monkeypatch: pytest.MonkeyPatch, way: str, lines: list[str], wanted: list[str]
) -> None:
    with monkeypatch.context() as patched:
        native = _plans(patched, way)
        needles = [search_needle(text) for text in wanted]
        written = [_line(text) for text in lines]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "a.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in written))
            zipped = Path(folder) / "b.jsonl.gz"
            zipped.write_bytes(gzip.compress(b"\n".join(written)))  # no final newline
            for source in (path, zipped):
                found = list(search_lines([source], needles, native=native))
                expected = [
                    line
                    for line in written
                    if all(line_has(line.decode(), needle) for needle in needles)
                ]
                assert found == expected, (way, source.name)


def _corpus(folder: Path, files: int = 3, lines: int = 400) -> list[Path]:
    paths = []
    for number in range(files):
        path = folder / f"part-{number}.jsonl"
        body = [
            _line(f"line {number}-{index} {'Ärger' if index % 7 == 0 else 'ok'} jX")
            for index in range(lines)
        ]
        path.write_bytes(b"\n".join(body) + b"\n")
        paths.append(path)
    return paths


def test_split_parts_cover_every_byte_once_cut_at_line_starts(tmp_path: Path) -> None:
    paths = _corpus(tmp_path)
    ranges = [(path, 0, path.stat().st_size) for path in paths]
    for pieces, stripe in itertools.product((1, 2, 3, 5), (0, 1, 100, 10**9)):
        groups = split_parts(ranges, pieces, stripe=stripe)
        assert 1 <= len(groups) <= pieces
        covered: dict[Path, list[tuple[int, int]]] = {}
        for group in groups:
            for path, start, end in group:
                size = path.stat().st_size
                covered.setdefault(path, []).append((start, size if end < 0 else end))
                assert start == 0 or path.read_bytes()[start - 1 : start] == b"\n"
        for path in paths:
            spans = sorted(covered[path])
            assert spans[0][0] == 0
            assert spans[-1][1] == path.stat().st_size
            assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_split_parts_take_turns_so_a_file_of_matches_is_shared(tmp_path: Path) -> None:
    """One file holding every match (one service's errors) is not left to one process: the
    groups take turns through the files, in stripes, with about equal bytes."""
    big = [(tmp_path / f"big-{number}.jsonl", 90_000) for number in range(3)]
    small = [(tmp_path / f"small-{number}.jsonl", 3_000) for number in range(8)]
    for path, size in big + small:
        path.write_bytes((b"x" * 99 + b"\n") * (size // 100))
    ranges = [(path, 0, path.stat().st_size) for path, _size in big + small]
    groups = split_parts(ranges, 2, stripe=10_000)
    assert len(groups) == 2
    for group in groups:
        assert sum(1 for path, _start, _end in group if path.name.startswith("small")) == 4
        held = sum((path.stat().st_size if end < 0 else end) - start for path, start, end in group)
        assert abs(held - 147_000) <= 10_000


@pytest.mark.parametrize("text", ["ärger", "JX", "line 1-14 ", "nowhere"])
def test_a_scan_split_across_processes_finds_the_same_lines(
    tmp_path: Path, split_scans: list[int], text: str
) -> None:
    paths = _corpus(tmp_path)
    needles = [search_needle(text)]
    alone = sorted(search_lines(paths, needles))
    assert split_scans == []
    shared = sorted(search_lines(paths, needles, parallel=True))
    assert shared == alone
    assert len(split_scans) == 1
    assert (text == "nowhere") == (not alone)


def test_an_unreadable_file_is_told_not_lost(tmp_path: Path, split_scans: list[int]) -> None:
    paths = _corpus(tmp_path)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    for parallel in (False, True):
        told: list[UnreadableFile] = []
        found = list(
            search_lines(
                [broken, *paths],
                [search_needle("ärger")],
                parallel=parallel,
                on_unreadable=told.append,
            )
        )
        assert len(found) == 3 * 58
        assert [item.path for item in told] == [broken]
    assert len(split_scans) == 1
