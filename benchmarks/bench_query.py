"""Benchmarks of ``moose-trace logs``, side by side in one run (medians of repeats).

    python benchmarks/bench_query.py [--lines 1000000] [--repeats 7] [--corpus DIR]
                                     [--big-gb 2.0] [--skip-big]

On a generated corpus (``benchmarks/make_log_corpus.py``: 1,000,000 lines, ~380 MB):

1. ``--trace ID`` wall time against ``rg -F ID`` and ``grep -rF ID`` on the same files, plus a
   plain DuckDB scan for reference; with an index (budget ≤ 0.5× rg) and the first lookup, with
   no index yet (budget ≤ 2× rg). ``--search TEXT`` against ``rg -i -F`` (budget ≤ 1.5×).
2. ``--group-by error_category`` against the same GROUP BY written by hand in DuckDB (each form a
   hand-written query could take; the budget is against the fastest). Budget: ≤ 1.2×.
   Both as whole processes and, engine only, in one process.
3. ``--follow``: time from a matching line being appended to it being printed. Budget: ≤ 0.5 s.
4. Peak memory (max RSS of the process) on a ~2 GB corpus (copies of the 1 M-line one) for a
   group-by, an event listing written out in full, and a trace lookup. Budget: ≤ 500 MB.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moose_trace.query.ast import GroupBy, Query  # noqa: E402
from moose_trace.query.duckdb_engine import DuckDBEngine  # noqa: E402

PYTHON = sys.executable
_SCRIPT = Path(PYTHON).parent / "moose-trace"
# The command as users run it: the installed console script, else the same entry point.
LOGS = (
    [str(_SCRIPT), "logs"]
    if _SCRIPT.is_file()
    else [PYTHON, "-m", "moose_trace.commands.main", "logs"]
)
COMMAND = {"python": PYTHON}
"""The interpreter the measured commands start (``--installed``: a venv's own)."""


def use_installed(venv: Path) -> None:
    """Measure the commands of a regular (not editable) install in ``venv``, refreshed first.

    An editable install (``pip install -e``) puts an import hook in every interpreter start
    (``__editable___…_finder``: pathlib, re, importlib.util — 20–60 ms here); a user's
    ``pip install moose-trace`` has none. So start-up figures come from a regular install of
    this tree, updated before each run.
    """
    if not (venv / "bin" / "python").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{ROOT}[query]"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    COMMAND["python"] = str(venv / "bin" / "python")
    LOGS[:] = [str(venv / "bin" / "moose-trace"), "logs"]
    subprocess.run(
        [COMMAND["python"], "-m", "compileall", "-q", str(venv / "lib")],
        check=False,
        stdout=subprocess.DEVNULL,
    )


def compile_bytecode() -> None:
    """Compile the package's bytecode, as ``pip install`` does for an installed package.

    Without it, a machine with ``PYTHONDONTWRITEBYTECODE=1`` (this one) recompiles every module
    from source on every start: 50 ms more per ``moose-trace`` process, a cost no installed copy
    pays. Python reads existing bytecode whatever that variable says.
    """
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(ROOT / "moose_trace")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _run(command: Sequence[str]) -> None:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _interleaved(commands: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Run each command once per round, rounds repeated: load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    CPU.clear()
    for _ in range(repeats):
        for name, action in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            CPU.setdefault(name, []).append(used)
    return {name: statistics.median(values) for name, values in times.items()}


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + sys, the process and every child it waited for) of the last
``_interleaved`` run's commands: a process's forked scan worker counts here."""


def _cpu(name: str) -> str:
    values = CPU.get(name)
    return f"CPU {statistics.median(values):.3f} s" if values else ""


def _table(title: str, rows: list[tuple[str, float, str]], unit: str = "s") -> None:
    print(f"\n### {title}\n")
    print(f"| what | median ({unit}) | note |")
    print("| --- | ---: | --- |")
    for name, value, note in rows:
        print(f"| {name} | {value:.3f} | {note} |")


def ensure_corpus(directory: Path, lines: int) -> Path:
    """Return the corpus to measure, made in ``directory`` unless it holds one already.

    A read-only corpus (``/work/corpus-1m``) is copied once to the temp directory: the trace
    index is written beside the files. A corpus without ``needle.json`` gets one naming the
    trace id of a line in the middle of its middle file.
    """
    if not any(directory.glob("*.jsonl")):
        subprocess.run(
            [
                PYTHON,
                str(ROOT / "benchmarks" / "make_log_corpus.py"),
                str(directory),
                "--lines",
                str(lines),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not directory.stat().st_mode & 0o200:  # read-only (as its mode says: root writes anyway)
        directory = _writable_copy(directory)
    if not (directory / "needle.json").is_file():
        needle = {"trace_id": _middle_trace(sorted(directory.glob("*.jsonl")))}
        (directory / "needle.json").write_bytes(orjson.dumps(needle))
    return directory


def _writable_copy(source: Path) -> Path:
    """Copy ``source``'s log files to the temp directory (once: kept while sizes match)."""
    target = Path(tempfile.gettempdir()) / f"moose-trace-bench-{source.name}"
    target.mkdir(exist_ok=True)
    for path in sorted(source.glob("*.jsonl*")):
        copy = target / path.name
        if not copy.is_file() or copy.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, copy)
            shutil.rmtree(target / ".moose-trace-index", ignore_errors=True)
    if (source / "needle.json").is_file():
        shutil.copyfile(source / "needle.json", target / "needle.json")
    return target


def _middle_trace(files: Sequence[Path]) -> str:
    """Return the trace id of the first line with one past the middle of the middle file."""
    middle = files[len(files) // 2]
    with open(middle, "rb") as file:
        file.seek(middle.stat().st_size // 2)
        file.readline()
        for line in file:
            trace = orjson.loads(line).get("trace_id")
            if isinstance(trace, str) and len(trace) == 36:
                return trace
    raise RuntimeError(f"no trace id in the second half of {middle}")


def bench_trace(corpus: Path, repeats: int) -> list[tuple[str, float, str]]:
    """``--trace ID`` against rg and grep (whole processes, page cache warm)."""
    trace = orjson.loads((corpus / "needle.json").read_bytes())["trace_id"]
    index = corpus / ".moose-trace-index"
    shutil.rmtree(index, ignore_errors=True)
    files = sorted(str(path) for path in corpus.glob("*.jsonl"))
    for path in files:
        Path(path).read_bytes()  # warm the page cache for every contender
    first_times: list[float] = []
    first_cpu: list[float] = []
    rg_beside: list[float] = []
    index_times: list[float] = []
    for _ in range(max(3, repeats // 2)):  # the first lookup, no index yet, beside rg
        shutil.rmtree(index, ignore_errors=True)
        rg_beside.append(_timed(["rg", "-F", trace, str(corpus)])[0])
        wall, cpu = _timed([*LOGS, str(corpus), "--trace", trace])
        first_times.append(wall)
        first_cpu.append(cpu)
        started = time.perf_counter()
        _wait_for_index(index)
        index_times.append(time.perf_counter() - started)
    bare_rg = statistics.median(rg_beside)
    first = statistics.median(first_times)
    duck = (
        'import duckdb,sys; duckdb.sql("SELECT json FROM read_ndjson_objects('
        f"{files!r}, ignore_errors=true) WHERE json->>'trace_id' = '{trace}'\").fetchall()"
    )
    commands: dict[str, Callable[[], object]] = {
        "rg -F ID": lambda: _run(["rg", "-F", trace, str(corpus)]),
        "grep -rF ID": lambda: _run(["grep", "-rF", trace, str(corpus)]),
        "moose-trace logs --trace ID": lambda: _run([*LOGS, str(corpus), "--trace", trace]),
        "DuckDB scan (python -c)": lambda: _run([PYTHON, "-c", duck]),
        "python -c 'import moose_trace'": lambda: _run(
            [COMMAND["python"], "-c", "import moose_trace"]
        ),
        "python -c pass": lambda: _run([COMMAND["python"], "-c", "pass"]),
    }
    if shutil.which("rg") is None:
        del commands["rg -F ID"]
    times = _interleaved(commands, repeats)
    anchor = times.get("rg -F ID", times["grep -rF ID"])
    budgets = {"moose-trace logs --trace ID": " (budget ≤ 0.5×)"}
    rows = [
        (name, value, f"{value / anchor:.2f}× rg{budgets.get(name, '')}, {_cpu(name)}")
        for name, value in times.items()
    ]
    rows.append(
        (
            "first --trace (no index yet: searched on both cores, indexed in the background)",
            first,
            f"{first / bare_rg:.2f}× rg (budget ≤ 2×; rg run beside it: {bare_rg:.3f} s), "
            f"CPU {statistics.median(first_cpu):.3f} s; the background index was ready "
            f"{statistics.median(index_times):.1f} s after the answer",
        )
    )
    return rows


def _timed(command: Sequence[str]) -> tuple[float, float]:
    """Run ``command``; return its wall seconds and CPU seconds (with the children it waited
    for, so a forked scan worker counts)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    _run(command)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _wait_for_index(index: Path, timeout: float = 120.0) -> None:
    """Wait until the background indexing a lookup started has finished."""
    deadline = time.monotonic() + timeout
    while (index / "building").exists() or not any(index.glob("*.idx")):
        if time.monotonic() > deadline:
            raise RuntimeError("the background trace index never finished")
        time.sleep(0.05)


SEARCH_TEXTS = ("JWT EXPIRED", "timeout", "ÄRGER")
"""A phrase of 4,109 error events, in another case than written (its rarest letter, ``j``,
is an anchor for ``memchr``); a word of common letters in 1 event in 250 (``--search`` then
lowercases every chunk); text no event holds, not ASCII."""


def bench_search(corpus: Path, repeats: int) -> list[tuple[str, float, str]]:
    """``--search TEXT`` against ``rg -i -F TEXT`` (whole processes, page cache warm)."""
    rows: list[tuple[str, float, str]] = []
    for text in SEARCH_TEXTS:
        rg = f"rg -i -F {text!r}"
        commands: dict[str, Callable[[], object]] = {
            rg: lambda text=text: _run(["rg", "-i", "-F", text, str(corpus)]),
            f"grep -riF {text!r}": lambda text=text: _run(["grep", "-riF", text, str(corpus)]),
            f"moose-trace logs --search {text!r}": lambda text=text: _run(
                [*LOGS, str(corpus), "--search", text]
            ),
            f"moose-trace logs --search {text!r} --format json": lambda text=text: _run(
                [*LOGS, str(corpus), "--search", text, "--format", "json"]
            ),
            f"moose-trace logs --search {text!r} --limit 20": lambda text=text: _run(
                [*LOGS, str(corpus), "--search", text, "--limit", "20"]
            ),
        }
        if shutil.which("rg") is None:
            del commands[rg]
        times = _interleaved(commands, repeats)
        anchor = times.get(rg, times[f"grep -riF {text!r}"])
        found = subprocess.run(
            ["rg", "-i", "-F", "-c", "--no-filename", text, str(corpus)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        rows.append((f"**{text!r}**: lines holding it (rg -c)", sum(map(int, found)), ""))
        rows += [
            (
                name,
                value,
                f"{value / anchor:.2f}× rg -i -F"
                f"{' (budget ≤ 1.5×)' if name.startswith('moose-trace') else ''}, {_cpu(name)}",
            )
            for name, value in times.items()
        ]
    return rows


def bench_group_by(corpus: Path, repeats: int) -> list[tuple[str, float, str]]:
    """``--group-by error_category`` against hand-written DuckDB GROUP BYs."""
    files = sorted(str(path) for path in corpus.glob("*.jsonl"))
    hands = {
        "hand: read_json(columns=2 typed)": "SELECT error_category, count(*) FROM read_json("
        f"{files!r}, format='newline_delimited', ignore_errors=true, "
        "columns={'error_category': 'VARCHAR', 'level': 'VARCHAR'}) GROUP BY 1",
        "hand: read_ndjson_objects ->>": "SELECT json->>'error_category', count(*) FROM "
        f"read_ndjson_objects({files!r}, ignore_errors=true) GROUP BY 1",
        "hand: read_json auto-detect": "SELECT error_category, count(*) FROM read_json("
        f"{files!r}, ignore_errors=true) GROUP BY 1",
    }
    commands: dict[str, Callable[[], object]] = {
        "moose-trace logs --group-by error_category": lambda: _run(
            [*LOGS, str(corpus), "--group-by", "error_category"]
        ),
    }
    for name, sql in hands.items():
        script = f"import duckdb; duckdb.sql({sql!r}).fetchall()"
        commands[f"{name} (python -c)"] = lambda script=script: _run([PYTHON, "-c", script])
    process = _interleaved(commands, repeats)
    import duckdb  # noqa: PLC0415 (the benchmark's own in-process comparison)

    engine = DuckDBEngine([Path(name) for name in files])
    query = Query(mode=GroupBy(("error_category",)))
    inprocess: dict[str, Callable[[], object]] = {
        "engine: DuckDBEngine.run": lambda: engine.run(query)
    }
    for name, sql in hands.items():
        inprocess[name] = lambda sql=sql: duckdb.connect().sql(sql).fetchall()
    inside = _interleaved(inprocess, repeats)
    fastest_process = min(value for name, value in process.items() if name.startswith("hand"))
    fastest_inside = min(value for name, value in inside.items() if name.startswith("hand"))
    rows = [
        (f"process: {name}", value, f"{value / fastest_process:.2f}× fastest hand")
        for name, value in process.items()
    ]
    rows += [
        (f"in-process: {name}", value, f"{value / fastest_inside:.2f}× fastest hand")
        for name, value in inside.items()
    ]
    return rows


def bench_follow(corpus: Path, samples: int) -> list[tuple[str, float, str]]:
    """Seconds from appending a matching line to ``--follow`` printing it."""
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        live = logs / "live-2026-01-09.jsonl"
        live.write_bytes(b"")
        for path in list(corpus.glob("*.jsonl"))[:5]:
            os.symlink(path, logs / path.name)
        process = subprocess.Popen(
            [*LOGS, str(logs), "--filter", "phase=execution", "--follow", "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stderr is not None
        assert process.stdout is not None
        process.stderr.readline()  # "following (Ctrl-C to stop)"
        seen: dict[int, float] = {}
        arrived = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                seen[int(orjson.loads(line)["n"])] = time.perf_counter()
                arrived.set()

        threading.Thread(target=read, daemon=True).start()
        latencies = []
        for number in range(samples):
            arrived.clear()
            written = time.perf_counter()
            with open(live, "ab") as file:
                file.write(
                    orjson.dumps(
                        {
                            "timestamp": "2026-01-09T10:00:00Z",
                            "level": "info",
                            "phase": "execution",
                            "n": number,
                        }
                    )
                    + b"\n"
                )
            arrived.wait(5)
            latencies.append(seen.get(number, written + 5) - written)
            time.sleep(0.05 + (number % 7) * 0.013)
        process.terminate()
        process.wait()
    return [
        ("median latency", statistics.median(latencies), "budget 0.5 s"),
        ("worst latency", max(latencies), f"of {samples} lines"),
    ]


_MEASURE = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _peak_rss_mb(command: Sequence[str]) -> float:
    """Return the max RSS of ``command`` (its own process), measured by a fresh parent."""
    done = subprocess.run(
        [PYTHON, "-c", _MEASURE, *command], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip()) / 1024


def bench_memory(corpus: Path, gigabytes: float) -> list[tuple[str, float, str]]:
    """Peak RSS on a corpus of about ``gigabytes`` (copies of the 1 M-line files)."""
    with tempfile.TemporaryDirectory(dir=corpus.parent) as folder:
        big = Path(folder)
        size = 0
        copy = 0
        while size < gigabytes * 1e9:
            for path in sorted(corpus.glob("*.jsonl")):
                target = big / f"copy{copy}-{path.name}"
                os.link(path, target)
                size += path.stat().st_size
            copy += 1
        trace = orjson.loads((corpus / "needle.json").read_bytes())["trace_id"]
        rows = [("corpus size (GB)", size / 1e9, f"{copy} copies")]
        for name, args in (
            ("every event written out (json, 5 M lines)", ["--format", "json"]),
            ("every error event written out (json)", ["--level", "error", "--format", "json"]),
            ("--group-by error_category", ["--group-by", "error_category"]),
            ("--trace ID (index built on the way)", ["--trace", trace]),
        ):
            try:
                rows.append(
                    (name, _peak_rss_mb([*LOGS, str(big), *args]), "max RSS MB, budget 500")
                )
            except RuntimeError as why:
                rows.append((name, float("nan"), str(why)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--corpus", type=Path, default=Path(tempfile.gettempdir()) / "moose-trace-bench"
    )
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument(
        "--installed",
        type=Path,
        metavar="VENV",
        help="measure a regular install of this tree in VENV (made or refreshed first)",
    )
    parser.add_argument(
        "--only",
        choices=("memory", "trace", "search", "group-by", "follow"),
        help="run one benchmark",
    )
    args = parser.parse_args(argv)
    corpus = ensure_corpus(args.corpus, args.lines)  # a read-only one is copied first
    compile_bytecode()
    if args.installed is not None:
        use_installed(args.installed)
    megabytes = sum(path.stat().st_size for path in corpus.glob("*.jsonl")) / 1e6
    print(f"corpus: {corpus} ({args.lines:,} lines, {megabytes:,.0f} MB), {os.cpu_count()} cores")
    print(f"load average at the start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    wanted = {args.only} if args.only else {"memory", "trace", "search", "group-by", "follow"}
    if "memory" in wanted and not args.skip_big:
        _table(f"peak memory (~{args.big_gb:g} GB corpus)", bench_memory(corpus, args.big_gb), "MB")
    if "trace" in wanted:
        _table("--trace ID", bench_trace(corpus, args.repeats))
    if "search" in wanted:
        _table("--search TEXT", bench_search(corpus, args.repeats))
    if "group-by" in wanted:
        _table("--group-by error_category", bench_group_by(corpus, args.repeats))
    if "follow" in wanted:
        _table("--follow", bench_follow(corpus, 20))
    print(f"\nload average at the end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
