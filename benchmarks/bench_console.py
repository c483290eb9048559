"""Benchmarks of ``moose-trace serve``, side by side with ``moose-trace logs`` on the same corpus.

    python benchmarks/bench_console.py [--corpus DIR] [--lines 1000000] [--rounds 21]
                                       [--cli-rounds 3] [--skip-browser] [--only-paint]

On the corpus of ``benchmarks/make_log_corpus.py`` (1,000,000 lines, ~380 MB), the console runs
as users run it (``moose-trace serve DIR`` in its own process) and is asked over HTTP:

1. The first ``/api/events`` page, ``/api/traces/{id}``, ``/api/errors`` and ``/api/stats``:
   what the first of each costs (asked right after start-up, while the console loads its table
   in the background: answered by a scan of the files; the trace index is built), and when the
   table is loaded. Then, once loaded, the median and p95 over ``--rounds`` rounds, twice:
   the same question again over unchanged files (the console keeps answers while the table is
   unchanged), and "fresh": a line appended to a log file before each round, so every answer
   is computed again over the grown table. Budget: p95 < 100 ms each after the first.
   Beside them, the same questions as whole ``moose-trace logs`` processes.
2. The live tail: a line appended to a log file, until it arrives on ``WS /api/stream``.
   Budget: p95 ≤ 1 s.
3. The page's first contentful paint in Debian's chromium (loopback). Budget: < 1 s.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "console"))

PYTHON = sys.executable
_SCRIPT = Path(PYTHON).parent / "moose-trace"
COMMAND = [str(_SCRIPT)] if _SCRIPT.is_file() else [PYTHON, "-m", "moose_trace.commands.main"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def copy_corpus(source: Path, directory: Path) -> Path:
    """Copy a (read-only) corpus's ``*.jsonl`` files into ``directory`` — the console writes
    its trace index beside the files — and name a trace from the middle in ``needle.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.jsonl"))
    for path in files:
        shutil.copyfile(path, directory / path.name)
    if (source / "needle.json").is_file():
        shutil.copyfile(source / "needle.json", directory / "needle.json")
        return directory
    middle = max(files, key=lambda path: path.stat().st_size)
    with middle.open("rb") as file:
        file.seek(middle.stat().st_size // 2)
        file.readline()
        for line in file:
            trace = orjson.loads(line).get("trace_id")
            if trace:
                (directory / "needle.json").write_bytes(orjson.dumps({"trace_id": trace}))
                return directory
    raise RuntimeError(f"no trace id in the second half of {middle}")


def ensure_corpus(directory: Path, lines: int) -> Path:
    """Generate the corpus unless ``directory`` already holds one."""
    if not (directory / "needle.json").is_file():
        subprocess.run(
            [PYTHON, str(ROOT / "benchmarks" / "make_log_corpus.py"), str(directory),
             "--lines", str(lines)],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return directory


class Console:
    """``moose-trace serve DIR`` in its own process."""

    def __init__(self, corpus: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*COMMAND, "serve", str(corpus), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/api/source", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the console did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_api(console: Console, corpus: Path, rounds: int, cli_rounds: int) -> None:
    trace = orjson.loads((corpus / "needle.json").read_bytes())["trace_id"]
    client = httpx.Client(base_url=console.url, timeout=600)

    def ask(path: str, **params: str) -> Callable[[], object]:
        def call() -> object:
            response = client.get(path, params=params)
            response.raise_for_status()
            return response.content

        return call

    asks = {
        "/api/events (first page, 200)": ask("/api/events", limit="200"),
        "/api/traces/{id}": ask(f"/api/traces/{trace}"),
        "/api/errors": ask("/api/errors"),
        "/api/stats?by=type,name": ask("/api/stats", by="type,name"),
    }
    first: dict[str, float] = {}
    first_partial: dict[str, str] = {}
    for name, action in asks.items():
        start = time.perf_counter()
        body = orjson.loads(action())  # type: ignore[arg-type]
        first[name] = time.perf_counter() - start
        if body.get("partial"):
            share = body["loaded_bytes"] / max(1, body["total_bytes"])
            first_partial[name] = f"partial, {share:.0%} loaded"
        else:
            first_partial[name] = "complete"
    loaded = _until_loaded(client) - console.started
    repeat: dict[str, list[float]] = {name: [] for name in asks}
    fresh: dict[str, list[float]] = {name: [] for name in asks}
    grown = corpus / "fresh-bench.jsonl"
    try:
        for index in range(rounds):
            for name, action in asks.items():
                action()  # the answer is now kept: the next ask is a repeat
                repeat[name].append(_timed(action))
            for name, action in asks.items():
                with grown.open("ab") as out:  # the table changes: no answer is kept
                    out.write(orjson.dumps({"timestamp": datetime.now(timezone.utc).isoformat(),
                                            "level": "info", "event": f"fresh {name} {index}"})
                              + b"\n")  # fmt: skip
                fresh[name].append(_timed(action))
    finally:
        grown.unlink(missing_ok=True)
    clis = {
        "/api/events (first page, 200)": ["logs", str(corpus), "--limit", "200", "--format",
                                          "json", "--no-progress"],
        "/api/traces/{id}": ["logs", str(corpus), "--trace", trace, "--format", "json"],
        "/api/errors": ["logs", str(corpus), "--errors", "--format", "json", "--no-progress"],
        "/api/stats?by=type,name": ["logs", str(corpus), "--group-by", "type,name",
                                    "--format", "json", "--no-progress"],
    }  # fmt: skip
    cli_times: dict[str, list[float]] = {name: [] for name in clis}
    for _ in range(cli_rounds):
        for name, arguments in clis.items():
            cli_times[name].append(
                _timed(
                    lambda arguments=arguments: subprocess.run(
                        [*COMMAND, *arguments], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, check=False,
                    )
                )
            )  # fmt: skip
    print("\n### API over HTTP (ms)\n")
    print(f"The console's table was loaded {loaded:.1f} s after `moose-trace serve` started.\n")
    print("| request | first (during load) | first was | fresh median | fresh p95 "
          "| repeat median | repeat p95 | `moose-trace logs` process (median) | CLI |")  # fmt: skip
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in asks:
        cli = " ".join(clis[name][2:])
        print(
            f"| {name} | {first[name] * 1000:.0f} | {first_partial[name]} "
            f"| {statistics.median(fresh[name]) * 1000:.1f} "
            f"| {_p95(fresh[name]) * 1000:.1f} | {statistics.median(repeat[name]) * 1000:.1f} "
            f"| {_p95(repeat[name]) * 1000:.1f} "
            f"| {statistics.median(cli_times[name]) * 1000:.0f} | `logs {cli}` |"
        )


def _until_loaded(client: httpx.Client) -> float:
    """Wait until the console's table is loaded; return the ``perf_counter`` then."""
    deadline = time.perf_counter() + 900
    while not client.get("/api/source").json().get("ready"):
        if time.perf_counter() > deadline:
            raise RuntimeError("the console's table did not load in 15 minutes")
        time.sleep(0.2)
    return time.perf_counter()


def bench_tail(console: Console, corpus: Path, samples: int) -> None:
    from websockets.sync.client import connect  # noqa: PLC0415

    path = corpus / "tail-bench.jsonl"
    path.write_bytes(b"")
    delays: list[float] = []
    try:
        ws_url = console.url.replace("http://", "ws://") + "/api/stream?search=tail-bench"
        with connect(ws_url, open_timeout=30) as socket_:
            socket_.ping().wait(30)
            time.sleep(1)  # the follower takes the files' ends once the socket is open
            for index in range(samples):
                stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                line = {"timestamp": stamp, "level": "info", "event": f"tail-bench {index}"}
                with path.open("ab") as out:
                    start = time.perf_counter()
                    out.write(orjson.dumps(line) + b"\n")
                while True:
                    message = orjson.loads(socket_.recv(timeout=30))
                    if message.get("event") == f"tail-bench {index}":
                        break
                delays.append(time.perf_counter() - start)
                time.sleep(0.05)
    finally:
        path.unlink(missing_ok=True)
    print("\n### Live tail: write → WebSocket message (ms)\n")
    print("| samples | median | p95 | worst |")
    print("| ---: | ---: | ---: | ---: |")
    print(
        f"| {samples} | {statistics.median(delays) * 1000:.0f} | {_p95(delays) * 1000:.0f} "
        f"| {max(delays) * 1000:.0f} |"
    )


def bench_paint(console: Console, rounds: int) -> None:
    """First contentful paint of a fresh page (a new browser context: nothing cached)."""
    from browser import chromium  # noqa: PLC0415 (the browser tests' launcher)

    paints: list[float] = []
    with chromium() as browser:
        for _ in range(rounds):
            page = browser.new_page()
            page.goto(console.url + "/#/errors")
            page.wait_for_function(
                "() => performance.getEntriesByName('first-contentful-paint').length > 0"
            )
            paints.append(
                page.evaluate(
                    "() => performance.getEntriesByName('first-contentful-paint')[0].startTime"
                )
            )
            page.close()
    print("\n### Page first contentful paint, loopback (ms)\n")
    print("| rounds | median | p95 |")
    print("| ---: | ---: | ---: |")
    print(f"| {rounds} | {statistics.median(paints):.0f} | {_p95(paints):.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/qc1m"))
    parser.add_argument(
        "--copy-from",
        type=Path,
        help="a read-only corpus (e.g. /work/corpus-1m) copied into --corpus first, and "
        "removed after",
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--cli-rounds", type=int, default=3)
    parser.add_argument("--tail-samples", type=int, default=40)
    parser.add_argument("--paint-rounds", type=int, default=21)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--only-paint", action="store_true", help="just the page's first paint")
    args = parser.parse_args()
    if args.copy_from is not None:
        corpus = copy_corpus(args.copy_from, args.corpus)
    else:
        corpus = ensure_corpus(args.corpus, args.lines)
    try:
        return _run(args, corpus)
    finally:
        if args.copy_from is not None:
            shutil.rmtree(corpus, ignore_errors=True)


def _run(args: argparse.Namespace, corpus: Path) -> int:
    shutil.rmtree(corpus / ".moose-trace-index", ignore_errors=True)
    print(f"corpus: {corpus} ({sum(p.stat().st_size for p in corpus.glob('*.jsonl')) >> 20} MB), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    console = Console(corpus)
    try:
        if not args.only_paint:
            bench_api(console, corpus, args.rounds, args.cli_rounds)
            bench_tail(console, corpus, args.tail_samples)
        if not args.skip_browser:
            bench_paint(console, args.paint_rounds)
    finally:
        console.stop()
        print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
