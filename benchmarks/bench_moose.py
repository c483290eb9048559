"""Moose's own streaming runner with and without ``moose_trace.moose.instrument()`` (issue 11).

    python benchmarks/bench_moose.py [--records 100000] [--rounds 3] [--no-write]

One embedded Tansu broker; one source topic filled once with N small JSON records, each with a
``trace_id`` header of its own (what a traced ingest writes). Each round runs Moose's runner
(``python -m moose_lib.streaming.streaming_function_runner``, as the Moose CLI starts it, in the
Python 3.12 moose-lib environment of ``tests/moose/moose_env.py``) once per variant over that
same topic into a fresh target topic, variants interleaved:

1. plain: the Moose project without moose-trace.
2. instrument(): the same undecorated function; ``moose_trace.configure()`` +
   ``moose_trace.moose.instrument()`` in ``app/main.py``.   Budget: ≥ 90% of plain's records/s.
3. instrument() + ``@traced_transform`` on the function (a span and a line per record).

Records/s are measured from the outputs' own timestamps (set by the runner's producer as it
sends them): N outputs between the first and the last, so the runner's start-up (importing
moose-lib takes seconds) is not in it. The runner's stderr (its
structured lines) and stdout go to files, as they would to the Moose CLI's pipes; the SDK's
lines go to stdout and the daily file, as ``configure()`` does by default. The same
harness as the tests: the runner's ``subscribe()`` becomes ``assign()`` (kafka-python cannot
join a group on Tansu) and its metrics go to a small listener.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "moose"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from moose_env import crc32c_dir, ensure_moose_env  # noqa: E402
from runner_harness import HARNESS, start_runner, stop_runner  # noqa: E402

from moose_trace.testing.broker import EmbeddedBroker  # noqa: E402
from moose_trace.tracing.ids import new_trace_id  # noqa: E402

COMMAND = "python benchmarks/bench_moose.py"
REPORT = ROOT / "docs" / "benchmarks" / "moose.md"
BUDGET = 0.90

MODELS = """
from pydantic import BaseModel
from moose_lib.dmv2 import Stream


class Raw(BaseModel):
    id: int
    user: str
    amount: float


class Out(BaseModel):
    id: int
    user: str
    cents: int


raw = Stream[Raw]("SOURCE")
out = Stream[Out]("TARGET")
"""

FUNCTION = """
def convert(record: Raw) -> Out:
    return Out(id=record.id, user=record.user, cents=int(record.amount * 100))
"""

# The floor: the same two header values' sizes on every send, and nothing else (no tracing):
# what kafka-python itself spends on carrying a trace_id + traceparent with each output.
FLOOR = """
import kafka

_send = kafka.KafkaProducer.send
_HEADERS = [("trace_id", b"0" * 36), ("traceparent", b"0" * 55)]


def _send_with_headers(self, topic, value=None, key=None, headers=None, *args, **kwargs):
    return _send(self, topic, value, key, list(_HEADERS), *args, **kwargs)


kafka.KafkaProducer.send = _send_with_headers
"""

VARIANTS: dict[str, str] = {
    "plain": MODELS + FUNCTION + "raw.add_transform(out, convert)\n",
    "plain + 2 headers (floor)": FLOOR + MODELS + FUNCTION + "raw.add_transform(out, convert)\n",
    "instrument()": (
        "import moose_trace, moose_trace.moose\n"
        'moose_trace.configure(service="bench-moose")\n'
        "moose_trace.moose.instrument()\n" + MODELS + FUNCTION + "raw.add_transform(out, convert)\n"
    ),
    "instrument() + @traced_transform": (
        "import moose_trace, moose_trace.moose\n"
        'moose_trace.configure(service="bench-moose")\n'
        "moose_trace.moose.instrument()\n"
        + MODELS
        + '\n@moose_trace.traced_transform(source="Raw", target="Out")'
        + FUNCTION
        + "raw.add_transform(out, convert)\n"
    ),
}


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
        value = json.dumps({"id": number, "user": f"u{number % 977}", "amount": number / 7})
        producer.produce(topic, value.encode(), headers=[("trace_id", new_trace_id().encode())])
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
    code = VARIANTS[variant].replace("SOURCE", source).replace("TARGET", target)
    (app_dir / "main.py").write_text(textwrap.dedent(code))
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
    "stock": "kafka-python-ng as moose-lib installs it: CRC-32C in pure Python",
    "crc32c": "the same, with the `crc32c` package importable (kafka-python's native CRC-32C)",
}
# In the crc32c environment only what the budget compares runs (the floor and the decorator
# are read in the stock one), to keep a 100k-record run within minutes.
IN_ENVIRONMENT = {
    "stock": list(VARIANTS),
    "crc32c": ["plain", "instrument()"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--environments", default="stock,crc32c", help="comma-separated: stock, crc32c"
    )
    parser.add_argument("--no-write", action="store_true", help="do not rewrite the report")
    args = parser.parse_args(argv)
    python = ensure_moose_env()
    environments = [name for name in args.environments.split(",") if name]
    paths = {"stock": None, "crc32c": f"{HARNESS}:{crc32c_dir()}"}
    runs = [(env, variant) for env in environments for variant in IN_ENVIRONMENT[env]]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    load_before = uptime()
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
    breakdown = {env: per_record(python, paths[env]) for env in environments}
    report = render(results, args, python, (load_before, uptime()), breakdown)
    print(report)
    if not args.no_write:
        REPORT.write_text(report)
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


def render(
    results: dict[tuple[str, str], list[float]],
    args: argparse.Namespace,
    python: Path,
    load: tuple[str, str],
    breakdown: dict[str, str],
) -> str:
    versions = subprocess.run(
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
    rows = []
    for (env, variant), rates in results.items():
        plain = statistics.median(results[(env, "plain")])
        median = statistics.median(rates)
        budget = ""
        if variant == "instrument()":
            verdict = "met" if median >= BUDGET * plain else "**missed**"
            budget = f"≥ {BUDGET:.0%}: {verdict}"
        rows.append(
            f"| {env} | {variant} | {median:,.0f} | {median / plain:.0%} | "
            f"{', '.join(f'{rate:,.0f}' for rate in rates)} | {budget} |"
        )
    flags = "" if args.records == 100_000 else f" --records {args.records}"
    flags += "" if args.rounds == 3 else f" --rounds {args.rounds}"
    if args.environments != "stock,crc32c":
        flags += f" --environments {args.environments}"
    return "\n".join(
        [
            "# Benchmarks: Moose's streaming runner with `instrument()`",
            "",
            f"Command (one run, every variant side by side, median of {args.rounds} interleaved "
            f"rounds over the same {args.records:,}-record topic):",
            "",
            "```bash",
            f"flock /work/bench.lock .venv/bin/python benchmarks/bench_moose.py{flags}",
            "```",
            "",
            f"Machine: {platform.machine()}, 2 cores shared with other work (load average "
            f"{load[0]} before the run, {load[1]} after: rely on the side-by-side ratios); the "
            f"runner's Python {versions[0]}, moose-lib {versions[1]}, kafka-python-ng "
            f"{versions[2]}; broker: embedded Tansu (memory storage) on loopback.",
            "",
            "Environments: "
            + "; ".join(f"**{name}**: {text}" for name, text in ENVIRONMENTS.items())
            + ".",
            "",
            "| environment | runner | records/s (median) | vs plain (same environment) "
            "| each round | budget |",
            "| --- | --- | ---: | ---: | --- | --- |",
            *rows,
            "",
            "Records/s come from the outputs' own timestamps (set by the runner's producer as "
            "it sends them), first output to last, so the runner's start-up is not in them. "
            "Each source record carries a `trace_id` header of its own. *plain + 2 headers "
            "(floor)*: the plain project whose `KafkaProducer.send` adds two headers of the "
            "sizes of `trace_id` and `traceparent` (constant values, no tracing) — what "
            "kafka-python alone spends on carrying them.",
            "",
            "Per record, in one process (`benchmarks/moose_per_record.py`: the runner's "
            "per-record steps on Moose's own objects, no broker; the minimum of 7 rounds):",
            "",
            *(f"- {env}: " + "; ".join(text.splitlines()) for env, text in breakdown.items()),
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
