"""Moose's own streaming runner with and without ``moose_trace.moose.instrument()`` (issue 11).

    python benchmarks/bench_moose.py [--records 100000] [--rounds 5]
                                     [--environments crc32c,stock] [--decorator]

One embedded Tansu broker; one source topic filled once with N small JSON records
(``moose_project.py``), each with a ``trace_id`` header of its own (what a traced ingest
writes). Each round runs Moose's runner (``python -m
moose_lib.streaming.streaming_function_runner``, as the Moose CLI starts it, in the Python
3.12 moose-lib environment of ``tests/moose/moose_env.py``) once per variant over that same
topic into a fresh target topic, variants interleaved in every round:

1. plain: the Moose project without moose-trace.
2. instrument(): the same undecorated function; ``moose_trace.configure()`` +
   ``moose_trace.moose.instrument()`` in ``app/main.py``. Budget: >= 90% of plain's records/s.
3. with ``--decorator``: instrument() + ``@traced_transform`` on the function.
4. in the ``stock`` environment also the floor: plain, whose ``KafkaProducer.send`` adds two
   constant headers of the sizes of ``trace_id`` and ``traceparent`` (no tracing).

Environments: ``crc32c`` (the default: kafka-python with the ``crc32c`` package importable, as
``pip install 'moose-trace[moose]'`` installs it) and ``stock`` (kafka-python-ng as moose-lib
installs it: CRC-32C in pure Python).

Records/s are measured from the outputs' own timestamps (set by the runner's producer as it
sends them): N outputs between the first and the last, so the runner's start-up (importing
moose-lib takes seconds) is not in it. Each variant's figure is the median of its rounds; the
ratio is also shown round by round (each round's variant against that round's plain). The
runner's stderr (its structured lines) and stdout go to files, as they would to the Moose
CLI's pipes; the SDK's lines go to stdout and the daily file, as ``configure()`` does by
default. The same harness as the tests: the runner's ``subscribe()`` becomes ``assign()``
(kafka-python cannot join a group on Tansu) and its metrics go to a small listener. Prints a
Markdown report (for docs/benchmarks/moose.md) with the verdict against the budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "moose"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from moose_env import crc32c_dir, ensure_moose_env  # noqa: E402
from moose_project import app_source, record_value  # noqa: E402
from runner_harness import HARNESS, start_runner, stop_runner  # noqa: E402

from moose_trace.testing.broker import EmbeddedBroker  # noqa: E402
from moose_trace.tracing.ids import new_trace_id  # noqa: E402

BUDGET = 0.90
PLAIN = "plain"
INSTRUMENTED = "instrument()"
DECORATED = "instrument() + @traced_transform"
FLOOR = "plain + 2 headers (floor)"


class _Quiet(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def fill(broker: EmbeddedBroker, topic: str, count: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "linger.ms": 20,
            "queue.buffering.max.messages": 2_000_000,
        }
    )
    for number in range(count):
        producer.produce(
            topic, record_value(number), headers=[("trace_id", new_trace_id().encode())]
        )
        if number % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def one_run(
    python: Path,
    broker: EmbeddedBroker,
    *,
    work: Path,
    variant: str,
    source: str,
    count: int,
    port: int,
    pythonpath: str | None,
) -> float:
    """Run the runner once over the whole source topic; return records/s (first to last)."""
    target = f"Out-{new_trace_id()[-12:]}"
    broker.create_topics([target], partitions=1)
    app_dir = work / target
    app_dir.mkdir()
    (app_dir / "main.py").write_text(app_source(variant, source, target))
    runner = start_runner(
        python,
        app_dir,
        broker.bootstrap_servers,
        source,
        target=target,
        management_port=port,
        out_dir=app_dir,
        env={
            "MOOSE_TRACE_LOG_DIR": str(app_dir / "logs"),
            "LOG_LEVEL": "info",
            **({"PYTHONPATH": pythonpath} if pythonpath else {}),
        },
    )
    watcher = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "bench"})
    watcher.assign([TopicPartition(target, 0, 0)])
    try:
        deadline = time.monotonic() + 1800
        seen, first_ms, last_ms = 0, None, 0
        while seen < count:
            for message in watcher.consume(10_000, 0.5):
                if message.error() is not None:
                    continue
                _, stamp = message.timestamp()  # set by the runner's producer when it sent
                first_ms = stamp if first_ms is None else min(first_ms, stamp)
                last_ms = max(last_ms, stamp)
                seen += 1
            if runner.poll() is not None:
                raise RuntimeError(f"{variant}: the runner exited; see {app_dir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant}: only {seen} of {count} outputs")
        assert first_ms is not None
        return (seen - 1) / max((last_ms - first_ms) / 1000, 1e-3)
    finally:
        watcher.close()
        stop_runner(runner)


ENVIRONMENTS = {
    "crc32c": "kafka-python-ng with the `crc32c` package importable (its native CRC-32C), as"
    " `pip install 'moose-trace[moose]'` installs it",
    "stock": "kafka-python-ng as moose-lib installs it: CRC-32C in pure Python",
}


def variants_of(environment: str, decorator: bool) -> list[str]:
    """The variants run in ``environment``: the budget's two, the floor in ``stock``, the
    decorator when asked."""
    chosen = [PLAIN, INSTRUMENTED]
    if environment == "stock":
        chosen.insert(1, FLOOR)
    if decorator:
        chosen.append(DECORATED)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--environments", default="crc32c", help="comma-separated: crc32c (default), stock"
    )
    parser.add_argument(
        "--decorator", action="store_true", help="also instrument() + @traced_transform"
    )
    parser.add_argument(
        "--per-record", action="store_true", help="also moose_per_record.py in each environment"
    )
    args = parser.parse_args(argv)
    python = ensure_moose_env()
    environments = [name for name in args.environments.split(",") if name]
    unknown = set(environments) - set(ENVIRONMENTS)
    if unknown:
        parser.error(f"unknown environments: {', '.join(sorted(unknown))}")
    paths = {env: f"{HARNESS}:{crc32c_dir()}" if env == "crc32c" else None for env in environments}
    runs = [(env, variant) for env in environments for variant in variants_of(env, args.decorator)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    load_before = uptime()
    started = time.monotonic()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as scratch:
        source = f"Raw-{new_trace_id()[-12:]}"
        broker.create_topics([source], partitions=1)
        fill(broker, source, args.records)
        for round_number in range(args.rounds):
            for env, variant in runs:
                rate = one_run(
                    python,
                    broker,
                    work=Path(scratch),
                    variant=variant,
                    source=source,
                    count=args.records,
                    port=server.server_address[1],
                    pythonpath=paths[env],
                )
                results[(env, variant)].append(rate)
                print(
                    f"round {round_number + 1} [{env}] {variant}: {rate:,.0f} records/s", flush=True
                )
    server.shutdown()
    breakdown = (
        {env: per_record(python, paths[env]) for env in environments} if args.per_record else {}
    )
    elapsed = time.monotonic() - started
    print(
        render(
            results,
            args,
            python,
            load=(load_before, uptime()),
            breakdown=breakdown,
            elapsed=elapsed,
        )
    )
    return 0


def uptime() -> str:
    """The load averages (1, 5, 15 minutes), as ``uptime`` prints them."""
    with open("/proc/loadavg") as loadavg:
        return ", ".join(loadavg.read().split()[:3])


def per_record(python: Path, pythonpath: str | None) -> str:
    """``moose_per_record.py``'s in-process breakdown, in one environment."""
    env = {**os.environ, "PYTHONPATH": pythonpath or ""}
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "moose_per_record.py")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


def _versions(python: Path) -> list[str]:
    return subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, platform; print(platform.python_version(),"
            " m.version('moose-lib'), m.version('kafka-python-ng'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def render(
    results: dict[tuple[str, str], list[float]],
    args: argparse.Namespace,
    python: Path,
    *,
    load: tuple[str, str],
    breakdown: dict[str, str],
    elapsed: float,
) -> str:
    """The Markdown report: each variant's median, its ratio to plain, the budget's verdict."""
    versions = _versions(python)
    rows = []
    verdicts = []
    for (env, variant), rates in results.items():
        plain_rates = results[(env, PLAIN)]
        plain = statistics.median(plain_rates)
        median = statistics.median(rates)
        paired = [rate / base for rate, base in zip(rates, plain_rates, strict=True)]
        budget = ""
        if variant == INSTRUMENTED:
            met = median >= BUDGET * plain
            budget = f"≥ {BUDGET:.0%}: {'met' if met else '**missed**'}"
            verdicts.append(
                f"{env}: instrument() at {median / plain:.1%} of plain (budget ≥ {BUDGET:.0%}):"
                f" {'MET' if met else 'MISSED'}; round by round"
                f" {', '.join(f'{ratio:.0%}' for ratio in paired)}"
            )
        rows.append(
            f"| {env} | {variant} | {median:,.0f} | {median / plain:.1%} | "
            f"{', '.join(f'{rate:,.0f}' for rate in rates)} | "
            f"{', '.join(f'{ratio:.0%}' for ratio in paired)} | {budget} |"
        )
    flags = "" if args.records == 100_000 else f" --records {args.records}"
    flags += "" if args.rounds == 5 else f" --rounds {args.rounds}"
    if args.environments != "crc32c":
        flags += f" --environments {args.environments}"
    flags += " --decorator" if args.decorator else ""
    flags += " --per-record" if args.per_record else ""
    lines = [
        f"Command (median of {args.rounds} interleaved rounds over the same "
        f"{args.records:,}-record topic; {elapsed / 60:.1f} minutes):",
        "",
        "```bash",
        f"flock /work/bench.lock .venv/bin/python benchmarks/bench_moose.py{flags}",
        "```",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (load average {load[0]} before "
        f"the run, {load[1]} after); the runner's Python {versions[0]}, moose-lib "
        f"{versions[1]}, kafka-python-ng {versions[2]}; broker: embedded Tansu (memory storage) "
        "on loopback. Environments: "
        + "; ".join(f"**{name}**: {ENVIRONMENTS[name]}" for name in {e for e, _ in results})
        + ".",
        "",
        "| environment | runner | records/s (median) | vs plain | each round "
        "| vs plain, round by round | budget |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
        *rows,
    ]
    if breakdown:
        lines += [
            "",
            "Per record, in one process (`benchmarks/moose_per_record.py`, CPU time, the "
            "least of 7 rounds):",
            "",
            *(f"- {env}: " + "; ".join(text.splitlines()) for env, text in breakdown.items()),
        ]
    lines += ["", *verdicts]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
