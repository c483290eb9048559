"""Redaction cost on the log hot path, side by side in one run (median of interleaved rounds).

    python benchmarks/bench_redaction.py [--repeats 15] [--scale 1.0] [--no-write]

Rows (µs per operation, loop overhead included alike):

1. the redaction processor on a 15-field event without secrets, the same texts every time (what
   a service logs over and over): verdicts on keys and texts are remembered;
2. the same event with a new trace id, span id and request path each time (ids go by a fast
   path; the path is a new text and goes through the screen);
3. ``redact_text`` on a new 60-character text without secrets each time: the screen alone;
4. ``redact_text`` on a new text that passes the screen (a 32-hex id inside) and is scanned by
   every value pattern;
5. the screen ``Redactor.may_hold_secret`` on the text of row 3;
6. the anchor: copying the event dict (``dict(event)``), a floor any processor pays to look at
   every field.

The table is printed and written to docs/benchmarks/redaction.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from moose_trace.logging.redaction import Redactor

ROOT = Path(__file__).resolve().parent.parent


def _event(index: int, *, new_ids: bool) -> dict[str, object]:
    ids = uuid.UUID(int=index * 7919 + 1) if new_ids else uuid.UUID(int=1)
    return {
        "event": "processed",
        "level": "info",
        "service": "orders",
        "trace_id": str(ids),
        "span_id": ids.hex[:16],
        "type": "transform",
        "name": "foo_to_bar",
        "layer": "streaming",
        "kafka_topic": "Foo",
        "kafka_partition": 3,
        "kafka_offset": 1234 + index,
        "records": 5,
        "latency_ms": 12.5,
        "http_path": f"/api/v1/orders/{index}" if new_ids else "/api/v1/orders/42",
        "status": "success",
    }


def _measure(
    variants: dict[str, Callable[[int], object]], number: int, repeats: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeats):
        for name, run in variants.items():
            base = round_ * number
            start = time.perf_counter()
            for index in range(base, base + number):
                run(index)
            samples[name].append((time.perf_counter() - start) / number * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    number = max(1, int(args.scale * 20_000))
    total = number * args.repeats
    redactor = Redactor()
    same = _event(0, new_ids=False)
    fresh = [_event(index, new_ids=True) for index in range(total)]
    plain_texts = [
        f"order {index} shipped to warehouse north-{index % 7} by carrier ups"
        for index in range(total)
    ]
    id_texts = [
        f"batch {uuid.UUID(int=index + 3).hex} written to moose_logs ok" for index in range(total)
    ]
    variants: dict[str, Callable[[int], object]] = {
        "dict(event), the anchor": lambda i: dict(same),
        "processor, 15 fields, repeated texts": lambda i: redactor(None, "info", dict(same)),
        "processor, 15 fields, new ids and path each event": lambda i: redactor(
            None, "info", dict(fresh[i])
        ),
        "redact_text, new text, screened out": lambda i: redactor.redact_text(plain_texts[i]),
        "redact_text, new text with a 32-hex id (full scan)": lambda i: redactor.redact_text(
            id_texts[i]
        ),
        "may_hold_secret, new text": lambda i: redactor.may_hold_secret(plain_texts[i]),
    }
    load = os.getloadavg()[0]
    results = _measure(variants, number, args.repeats)
    anchor = results["dict(event), the anchor"]
    lines = ["| measurement | µs per op | minus the anchor |", "| --- | ---: | ---: |"]
    for name, micros in results.items():
        extra = f"{micros - anchor:.3f}" if name.startswith("processor") else ""
        lines.append(f"| {name} | {micros:.3f} | {extra} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        page = ROOT / "docs" / "benchmarks" / "redaction.md"
        page.write_text(_page(table, args.repeats, number, load), encoding="utf-8")
        print(f"\nwritten to {page.relative_to(ROOT)}")


def _page(table: str, repeats: int, number: int, load: float) -> str:
    return f"""# Benchmarks: redaction

Command (median of {repeats} interleaved rounds of {number:,} calls each):

```bash
.venv/bin/python benchmarks/bench_redaction.py
```

Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load:.2f} when the
run started (a shared machine: compare rows of one run, not runs).

{table}

How to read it: the processor rows include copying the event (`dict(event)`, the anchor row), so
"minus the anchor" is what redaction adds to a log event. Texts seen before (up to 256
characters, 4,096 of them) cost a dictionary look-up; trace and span ids go by a fast path of
their own; a new text pays the screen (`may_hold_secret`: a few substring tests and two
`bytes.translate` passes, no regular expression), and only a text that passes it (a run of 16
letters/digits, 13 digits, `://`, a PEM header …) pays the full scan of every value pattern.
"""


if __name__ == "__main__":
    main()
