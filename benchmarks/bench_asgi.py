"""Benchmark of the ASGI TraceMiddleware against issue 3's two budgets, side by side in one run.

    python benchmarks/bench_asgi.py [--repeats 15] [--requests 4000] [--no-write]

In process: each app is called directly with a GET scope and minimal ``receive``/``send`` (no
HTTP client or server, which would add ~190 µs a request and hide the differences). Every
variant runs in the same rounds, interleaved, and the median over the rounds is reported (µs
per request), so load on the machine hits every variant alike. The table is printed and written
to docs/benchmarks/asgi.md.

1. ``TraceMiddleware`` (access line through ``configure_logging``'s chain to /dev/null):
   budget ≤ 2.0 × bare Starlette (issue 16); ``TraceMiddleware(access_log=False)`` no dearer
   than asgi-correlation-id.
2. ``TraceMiddleware(tracing=True)`` with one SDK span (BatchSpanProcessor, no-op exporter):
   budget ≤ 4 × bare Starlette; OpenTelemetry's own ASGI middleware on the same provider is
   the anchor.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import opentelemetry.sdk.version  # noqa: E402
import orjson  # noqa: E402
import starlette  # noqa: E402
import structlog  # noqa: E402
from asgi_correlation_id import CorrelationIdMiddleware  # noqa: E402
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from moose_trace.asgi import TraceMiddleware  # noqa: E402
from moose_trace.logging.config import configure_logging, shutdown_logging  # noqa: E402
from moose_trace.tracing.context import trace_context  # noqa: E402
from moose_trace.tracing.ids import new_trace_id  # noqa: E402
from moose_trace.tracing.otel import configure_tracing  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/bench_asgi.py"
PATH = "/consumption/leaderboard"

App = Callable[..., Any]
Row = tuple[str, float, str]  # label, µs, budget text


class NoOpExporter(SpanExporter):
    """Accepts every span and sends it nowhere: the cost of making spans, not of shipping them."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


async def leaderboard(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def tracer_provider() -> Any:
    """``configure_tracing``'s SDK provider, spans batched to an exporter that drops them.

    The queue is large enough that no span is dropped: with the default 2048, this tight loop
    outruns the export thread and the processor logs one "Queue full" warning per dropped span,
    which would then be what the span rows measure.
    """
    provider = configure_tracing("bench", set_global=False)
    assert provider is not None, "opentelemetry-sdk is needed for the span rows"
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter(), max_queue_size=1 << 18))
    return provider


def starlette_app(*middleware: Middleware) -> Starlette:
    """The app under test: one route, plus the given middleware."""
    return Starlette(routes=[Route(PATH, leaderboard)], middleware=list(middleware))


def scope_for(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), *headers],
        "client": ("127.0.0.1", 51000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


statuses: list[int] = []


async def send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        statuses.append(message["status"])


async def serve(app: App, scope: dict[str, Any], requests: int) -> float:
    """Return CPU µs per request for ``requests`` GETs (a fresh scope copy each, as a server makes).

    CPU time of the whole process (every thread: the span processor's worker too), so time the
    process spends waiting for a CPU on a busy machine is not counted against anyone.
    """
    started = time.process_time_ns()
    for _ in range(requests):
        await app({**scope, "headers": list(scope["headers"])}, receive, send)
    return (time.process_time_ns() - started) / requests / 1e3


def measure(
    variants: dict[str, tuple[App, dict[str, Any]]],
    requests: int,
    repeats: int,
    settle: Callable[[], Any] = gc.collect,
) -> dict[str, float]:
    """Return the median µs per request of each variant over ``repeats`` interleaved rounds.

    ``settle`` runs between rounds, untimed, so that no round pays for the one before it (spans
    still queued for export, garbage left to collect).
    """
    loop = asyncio.new_event_loop()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for app, scope in variants.values():
            loop.run_until_complete(serve(app, scope, max(1, requests // 5)))  # warm up
        for _ in range(repeats):
            for name, (app, scope) in variants.items():
                settle()
                samples[name].append(loop.run_until_complete(serve(app, scope, requests)))
    finally:
        loop.close()
    if statuses:
        raise SystemExit(f"a variant answered {sorted(set(statuses))}: the benchmark is broken")
    return {name: statistics.median(values) for name, values in samples.items()}


ACCESS_FIELDS = {
    "type": "api",
    "name": "leaderboard",
    "layer": "webserver",
    "http_method": "GET",
    "http_path": PATH,
    "client_ip": "127.0.0.1",
    "http_status": 200,
    "latency_ms": 0.012,
}


def context_and_line(app: App, log: Any) -> App:
    """Wrap ``app`` in only what any such middleware must do: a trace context and one line.

    The floor under TraceMiddleware's cost: the same context (trace id, type, name, layer) and
    an access-shaped event through the same logging chain, with nothing else.
    """

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        with trace_context(None, type="api", name="leaderboard", layer="webserver"):
            await app(scope, receive, send)
            log.info("request handled", **ACCESS_FIELDS)

    return wrapped


def span_only(app: App, provider: Any) -> App:
    """Wrap ``app`` in one SDK SERVER span with the same attributes, and nothing else."""
    tracer = provider.get_tracer("bench")

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        attributes = {"http.request.method": "GET", "url.path": PATH, "url.scheme": "http"}
        span = tracer.start_span("GET", None, SpanKind.SERVER, attributes)
        await app(scope, receive, send)
        span.set_attributes({"http.response.status_code": 200, "http.route": PATH})
        span.update_name(f"GET {PATH}")
        span.end()

    return wrapped


def lean_structlog_logger(stream: Any) -> Any:
    """A logger with structlog's own lean production chain, writing JSON to ``stream``."""
    return structlog.wrap_logger(
        structlog.BytesLogger(stream),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


def budget(ratio: float, limit: float) -> str:
    return f"≤ {limit}×: {'met' if ratio <= limit else '**missed**'}"


BARE = "bare Starlette GET"
OURS = "+ TraceMiddleware (access line through configure_logging, to /dev/null)"
CID = "+ asgi-correlation-id (no log line)"
SPAN = "+ TraceMiddleware, one SDK span"
OTEL = "+ OpenTelemetry's OpenTelemetryMiddleware (same provider; no log line)"
WITH_ID = "· + TraceMiddleware, the request sends X-Trace-Id"
QUIET = "· + TraceMiddleware(access_log=False)"
LEAN = "· + TraceMiddleware, access line through structlog's lean chain instead"
FLOOR = "· + only trace_context and one access-shaped line (no middleware logic)"
SPAN_FLOOR = "· + only one SDK span around the app (no middleware logic, no line)"
FILE = "· + TraceMiddleware, also appending to the daily file"
LIMITS = {OURS: 2.0, SPAN: 4.0}  # issue 16 (the access line), issue 3 (the span)


def run(requests: int, repeats: int) -> tuple[list[Row], dict[str, float]]:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    devnull_bytes = open(os.devnull, "wb")  # noqa: SIM115
    configure_logging("bench", stream=devnull, log_dir=False, json=True)
    provider = tracer_provider()
    plain = scope_for([])
    with_id = scope_for([(b"x-trace-id", new_trace_id().encode())])
    chain_logger = structlog.get_logger("bench.floor")
    variants: dict[str, tuple[App, dict[str, Any]]] = {
        BARE: (starlette_app(), plain),
        OURS: (starlette_app(Middleware(TraceMiddleware)), plain),
        CID: (starlette_app(Middleware(CorrelationIdMiddleware)), plain),
        SPAN: (starlette_app(Middleware(TraceMiddleware, tracer_provider=provider)), plain),
        OTEL: (starlette_app(Middleware(OpenTelemetryMiddleware, tracer_provider=provider)), plain),
        WITH_ID: (starlette_app(Middleware(TraceMiddleware)), with_id),
        QUIET: (starlette_app(Middleware(TraceMiddleware, access_log=False)), plain),
        LEAN: (
            starlette_app(Middleware(TraceMiddleware, logger=lean_structlog_logger(devnull_bytes))),
            plain,
        ),
        FLOOR: (context_and_line(starlette_app(), chain_logger), plain),
        SPAN_FLOOR: (span_only(starlette_app(), provider), plain),
    }

    def settle() -> None:
        provider.force_flush()
        gc.collect()

    results = measure(variants, requests, repeats, settle)
    with tempfile.TemporaryDirectory() as directory:
        configure_logging("bench", stream=devnull, log_dir=directory, json=True)
        with_file = measure(
            {FILE: (starlette_app(Middleware(TraceMiddleware)), plain), BARE: variants[BARE]},
            requests,
            repeats,
        )
    # Its own rounds, with its own bare run: scale it to the main run's bare GET.
    results[FILE] = with_file[FILE] / with_file[BARE] * results[BARE]
    shutdown_logging()
    provider.shutdown()
    devnull.close()
    devnull_bytes.close()
    bare = results[BARE]
    rows = [
        (label, micros, _verdict(label, micros, bare, results[CID]))
        for label, micros in results.items()
    ]
    return rows, results


def _verdict(label: str, micros: float, bare: float, correlation_id: float) -> str:
    if label in LIMITS:
        return budget(micros / bare, LIMITS[label])
    if label == QUIET:  # issue 16: without its line, no dearer than asgi-correlation-id
        met = micros <= correlation_id
        return f"≤ asgi-correlation-id: {'met' if met else '**missed**'}"
    return ""


def table(rows: list[Row], bare: float) -> str:
    lines = [
        "| variant | CPU µs per request | ratio to bare | budget |",
        "| --- | ---: | ---: | --- |",
    ]
    for label, micros, verdict in rows:
        lines.append(f"| {label} | {micros:.2f} | {micros / bare:.2f}× | {verdict} |")
    return "\n".join(lines)


def findings(results: dict[str, float]) -> str:
    bare = results[BARE]

    def added(label: str) -> str:
        return f"{results[label] - bare:.2f} µs ({results[label] / bare:.2f}× a bare GET in all)"

    ours, cid, quiet = results[OURS], results[CID], results[QUIET]
    floor = results[FLOOR]
    line = ours - quiet
    line_fits = floor - bare <= 1.0 * bare
    span_fits = results[SPAN_FLOOR] - bare <= 3 * bare
    room = (
        "Both floors fit their budgets: what is over is the middleware's own."
        if line_fits and span_fits
        else "Over its budget already in today's chain (not a proven minimum: the line costs far "
        "more in a new trace context than in a reused one, see docs/benchmarks.md): "
        + ", ".join(
            name
            for name, fits in (
                ("the 2.0× one (the line)", line_fits),
                ("the 4× one (the span)", span_fits),
            )
            if not fits
        )
        + "."
    )
    return "\n".join(
        [
            f"- TraceMiddleware adds {added(OURS)} to a {bare:.2f} µs GET; asgi-correlation-id, "
            f"which writes no log line, adds {added(CID)}.",
            f"- Without its access line (`access_log=False`) TraceMiddleware adds {added(QUIET)}: "
            f"{'less' if quiet < cid else '**more**'} than asgi-correlation-id.",
            f"- The access line is the rest, {line:.2f} µs ({line / bare:.2f}× a bare GET), and it "
            f"is the logging chain's cost: a bare trace context plus one event of the same shape "
            f"through the same chain, with no middleware logic, adds {added(FLOOR)}. Through "
            f"structlog's own lean chain (no redaction, error or trace-field processors) the "
            f"whole middleware adds {added(LEAN)}.",
            f"- With one SDK span TraceMiddleware is {results[SPAN] / bare:.2f}× a bare GET; one "
            f"SDK span alone around the app (same attributes, no line) adds {added(SPAN_FLOOR)}. "
            f"OpenTelemetry's own ASGI middleware on the same provider and exporter (three spans "
            f"a request, no log line) is {results[OTEL] / bare:.2f}×.",
            f"- A request that sends a valid `X-Trace-Id` costs {results[WITH_ID] - ours:+.2f} µs "
            f"compared with one that does not (validating the id instead of making one).",
            f"- Floor check: {floor - bare:.2f} µs of the {ours - bare:.2f} µs TraceMiddleware "
            f"adds are the trace context and the line themselves.",
            f"- What the budgets leave: ≤ 2.0× allows {1.0 * bare:.2f} µs on top of a bare GET "
            f"for the context, the headers and the access line, and the line alone takes "
            f"{floor - bare:.2f} µs with its context; ≤ 4× with a span allows {3 * bare:.2f} µs, "
            f"and one SDK span alone takes {results[SPAN_FLOOR] - bare:.2f} µs. {room}",
        ]
    )


def page(rendered: str, found: str, requests: int, repeats: int, load: str) -> str:
    versions = (
        f"Starlette {starlette.__version__}, structlog {structlog.__version__}, "
        f"opentelemetry-sdk {opentelemetry.sdk.version.__version__}"
    )
    return f"""# Benchmarks: ASGI TraceMiddleware

Command (one run, every variant side by side, median of {repeats} interleaved rounds of
{requests:,} requests each):

```bash
{COMMAND}
```

Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {versions}. Load average
{load} (other jobs were running: the numbers are CPU time of the benchmark process, all its
threads, so waiting for a CPU is not counted; ratios come from the same interleaved rounds).

In process: each app is awaited directly with a GET scope for `{PATH}`, a `receive` that
returns an empty body and a `send` that drops the messages; the endpoint returns a two-byte
`PlainTextResponse`. Logging goes through `configure_logging`'s full chain (context merge,
error fields, payload drop, redaction, trace fields, timestamp, orjson) and writes each line to
`/dev/null`, or also to the daily file where said. The span rows use `configure_tracing`'s SDK
provider with a `BatchSpanProcessor` (queue large enough that no span is dropped) and an
exporter that drops the spans.

{rendered}

Rows starting with "·" are not budgeted; they show where the time goes. The daily-file row is
measured in its own rounds (with a bare GET of its own) and scaled to this table's bare GET.

## Findings

{found}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds (the median is reported)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per round")
    parser.add_argument("--no-write", action="store_true", help="do not write the docs page")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows, results = run(args.requests, args.repeats)
    load = f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    rendered = table(rows, results[BARE])
    found = findings(results)
    print(rendered)
    print(f"\n{found}")
    if not args.no_write:
        target = ROOT / "docs" / "benchmarks" / "asgi.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            page(rendered, found, args.requests, args.repeats, load), encoding="utf-8"
        )
        print(f"\nwritten to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
