"""What the W3C/OpenTelemetry standards work costs on the hot path (issue 14), side by side.

    python benchmarks/bench_standards.py [--repeats 15] [--no-write]

Every variant runs in the same rounds, interleaved; the median over the rounds is reported (µs per
operation, loop overhead included for all alike), with ratios against the bare variant measured
in the same run. Writes docs/benchmarks/standards.md.

1. One JSON log line (8 fields, in a trace context) through ``configure_logging``'s chain to
   /dev/null: plain, with 3 resource fields, with caller location (``caller=True``).
2. Reading a Kafka record's trace (``incoming_trace``) as this library's producer writes it
   (``trace_id`` + ``traceparent`` + 2 user headers), next to a loop that only looks at each
   header; and with ``tracestate`` and ``baggage`` present (parsed only then).
3. Writing a record's headers (``inject_headers``) inside a trace, without and with incoming
   ``tracestate`` and baggage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moose_trace.kafka import incoming_trace, inject_headers  # noqa: E402
from moose_trace.logging.config import configure_logging, shutdown_logging  # noqa: E402
from moose_trace.tracing.context import trace_context  # noqa: E402
from moose_trace.tracing.propagation import bind_incoming, extract_incoming  # noqa: E402

TID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
HEX = TID.replace("-", "")
TRACEPARENT = f"00-{HEX}-00f067aa0ba902b7-01".encode()
PLAIN = [
    ("trace_id", TID.encode()),
    ("traceparent", TRACEPARENT),
    ("content-type", b"application/json"),
    ("source", b"ingest"),
]
RICH = [
    *PLAIN[:2],
    ("tracestate", b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ("baggage", b"tenant_id=acme,user_id=42"),
    *PLAIN[2:],
]
RESOURCE = "service.version=1.4.2,deployment.environment=prod,cloud.region=eu-west-1"


def measure(
    variants: dict[str, Callable[[], object]], repeats: int, number: int
) -> dict[str, float]:
    """Median µs per call of each variant, rounds interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            samples[name].append(timeit.timeit(fn, number=number) / number * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def log_lines(repeats: int) -> dict[str, float]:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole measurement
    log = structlog.get_logger("bench")
    fields = {"records": 5, "kafka_topic": "UserEvent", "status": "success", "latency_ms": 1.5}

    def run() -> None:
        log.info("processed", **fields)

    results: dict[str, list[float]] = {"plain": [], "resource": [], "caller": []}
    configs = {"plain": (False, False), "resource": (True, False), "caller": (False, True)}
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = RESOURCE
    with trace_context(TID, type="transform", name="enrich"):
        for _ in range(repeats):
            for name, (resource, caller) in configs.items():
                configure_logging(
                    "bench",
                    stream=devnull,
                    log_dir=False,
                    json=True,
                    resource=resource,
                    caller=caller,
                )
                number = 20_000
                results[name].append(timeit.timeit(run, number=number) / number * 1e6)
    shutdown_logging()
    devnull.close()
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    lines = log_lines(args.repeats)

    def look_at_each_header() -> object:
        found = None
        for name, value in PLAIN:
            if name == "trace_id":
                found = value
        return found

    reads = measure(
        {
            "bare": look_at_each_header,
            "plain": lambda: incoming_trace(PLAIN),
            "rich": lambda: incoming_trace(RICH),
        },
        args.repeats,
        50_000,
    )
    incoming = extract_incoming(RICH, id_headers=("trace_id",))
    with trace_context(TID):
        plain_inject = measure({"plain": inject_headers}, args.repeats, 50_000)
    with trace_context(TID):
        bind_incoming(incoming)
        rich_inject = measure({"rich": inject_headers}, args.repeats, 50_000)

    rows = [
        ("log line, 8 fields, trace context", lines["plain"], 1.0),
        ("+ 3 resource fields", lines["resource"], lines["resource"] / lines["plain"]),
        ("+ caller location (`caller=True`)", lines["caller"], lines["caller"] / lines["plain"]),
        ("loop looking at each of 4 headers (bare)", reads["bare"], 1.0),
        ("`incoming_trace`, producer's headers", reads["plain"], reads["plain"] / reads["bare"]),
        (
            "`incoming_trace`, + tracestate and baggage",
            reads["rich"],
            reads["rich"] / reads["bare"],
        ),
        ("`inject_headers` in a trace", plain_inject["plain"], 1.0),
        (
            "`inject_headers`, + incoming tracestate and baggage",
            rich_inject["rich"],
            rich_inject["rich"] / plain_inject["plain"],
        ),
    ]
    table = ["| operation | µs | ratio to its group's first row |", "| --- | --- | --- |"]
    table += [f"| {label} | {us:.2f} | {ratio:.2f}× |" for label, us, ratio in rows]
    text = "\n".join(table)
    print(text)
    if not args.no_write:
        page = ROOT / "docs" / "benchmarks" / "standards.md"
        page.write_text(
            "# Standards benchmarks (issue 14)\n\n"
            "Command: `.venv/bin/python benchmarks/bench_standards.py` "
            f"(median of {args.repeats} interleaved rounds; ratios against the first row of each "
            "group, measured in the same run). Measured on the shared 2-CPU machine while other "
            "engineers' test suites ran: trust the ratios more than the µs.\n\n" + text + "\n"
        )


if __name__ == "__main__":
    main()
